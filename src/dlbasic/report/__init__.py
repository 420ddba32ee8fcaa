"""What a lab writes for people: the HTML report (`html`), its figures (`plots`), the forest plots of its
comparisons by family of claims (`forest`) and the README's verdict table (`readme`).
"""
