"""What a lab writes for people: the HTML report (`html`), its figures (`plots`) and the README's verdict table
(`readme`).
"""
