"""A Griffe extension for the API pages: the reStructuredText maths some docstrings hold, as the site renders it.

`.. math::` blocks become `$$ ... $$` (inside `aligned` when they align on `&`), `:math:` roles become
`\\( ... \\)`, which pymdownx.arithmatex hands to MathJax; `:func:`, `:class:` and the like become code.
The docstrings themselves stay as they are (torch writes its own optimizers' maths the same way).
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

BLOCK = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*\n(?P<body>(?:(?P=indent)[ \t]+\S.*\n|[ \t]*\n)+)", re.M)
ROLE = re.compile(r":math:`([^`]+)`")
REFERENCE = re.compile(r":(?:func|class|meth|mod|attr|obj):`~?([^`]+)`")


def convert(text: str) -> str:
    """The docstring `text` with its reStructuredText maths and cross-reference roles in Markdown."""

    def block(m: re.Match) -> str:
        body = textwrap.dedent(m["body"]).strip("\n")
        if "&" in body or "\\\\" in body:
            body = "\\begin{aligned}\n" + body + "\n\\end{aligned}"
        return textwrap.indent(f"$$\n{body}\n$$", m["indent"]) + "\n\n"

    text = BLOCK.sub(block, text if text.endswith("\n") else text + "\n")
    text = ROLE.sub(lambda m: f"\\({m[1]}\\)", text)
    return REFERENCE.sub(lambda m: f"`{m[1]}`", text).rstrip("\n")


class RestMath(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ("math::" in obj.docstring.value or ":`" in obj.docstring.value):
            obj.docstring.value = convert(obj.docstring.value)
