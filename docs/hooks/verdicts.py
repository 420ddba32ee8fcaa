"""The lab's latest verdicts, read from the README's generated table (`dlbasic lab --readme README.md`).

The table lies between the markers `dlbasic.report.readme` writes; each row is
`| `claim-id` | verdict | key number | test |`. The site shows these rows beside the claims they judge.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

START, END = "<!-- lab-verdicts: start -->", "<!-- lab-verdicts: end -->"


@dataclass
class Row:
    claim: str
    verdict: str
    key_number: str
    test: str


def _cells(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [c.strip().replace("\\|", "|") for c in cells]


def read_table(readme: Path) -> tuple[str, dict[str, Row]]:
    """The line that says how the lab ran, and the rows by claim id (empty when the README has no table)."""
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    if START not in text or END not in text:
        return "", {}
    table = text.split(START, 1)[1].split(END, 1)[0].strip()
    head, rows = "", {}
    for line in table.splitlines():
        if not line.startswith("|"):
            head = head or line.strip()
            continue
        cells = _cells(line)
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue  # the header and its rule
        claim = cells[0].strip("`")
        rows[claim] = Row(claim, cells[1], cells[2], cells[3])
    return head, rows


# the guides, in the notes' order, by their page in the site (dlbasic.claims.GUIDES maps claims to them)
CHAPTERS = {
    "guides/generalization.md": "Generalization and model selection",
    "guides/optimization.md": "Optimization",
    "guides/regularization.md": "Regularization",
    "guides/convolution.md": "Convolution",
    "guides/modern-cnns.md": "Modern CNNs",
    "guides/segmentation.md": "Segmentation",
    "guides/detection.md": "Detection",
}
LAB_PAGE = "lab.md"
ADMONITION = {
    "supported": "success",
    "contradicted": "failure",
    "inconclusive": "warning",
    "checked": "info",
    "failed": "bug",
}
ONE = re.compile(r"^(?P<indent>[ \t]*)<!--\s*verdict:\s*(?P<claim>[\w-]+)\s*-->[ \t]*$", re.M)
ALL = re.compile(r"^<!--\s*verdicts\s*-->[ \t]*$", re.M)


def guide_of(claim: str) -> str | None:
    """The guide page (docs-relative .md path) that teaches `claim`."""
    from dlbasic.claims import GUIDES

    page = GUIDES.get(claim)
    return page.removesuffix(".html") + ".md" if page else None


def _rel(target: str, page: str) -> str:
    return posixpath.relpath(target, posixpath.dirname(page) or ".")


def _claim_text(claim: str) -> tuple[str, str]:
    from dlbasic.studies import get_study

    study = get_study(claim)
    return study.claim, study.note


def one(claim: str, rows: dict[str, Row], page: str, indent: str = "") -> str:
    """An admonition with the lab's verdict on `claim`, its key number, and a link to its lab entry."""
    link = f"{_rel(LAB_PAGE, page)}#{claim}"
    row = rows.get(claim)
    if row is None:
        lines = [f'!!! note "The lab: `{claim}` has no verdict yet"', f"    Run `make lab`; [the claim]({link})."]
    else:
        kind = ADMONITION.get(row.verdict, "note")
        lines = [
            f'!!! {kind} "The lab\'s verdict on `{claim}`: {row.verdict}"',
            f"    {row.key_number}",
            "",
            f"    [The claim, the test and its numbers]({link}) ({_claim_text(claim)[0]})",
        ]
    return "\n".join(indent + line if line else line for line in lines)


def table(head: str, rows: dict[str, Row], page: str) -> str:
    """Every claim by chapter: the notebook's sentence, the claim, the verdict, the key number and the test."""
    from dlbasic.claims import GUIDES  # the claims in the notes' order

    out = [f"Latest lab: {head}" if head else "No lab has run yet: `make lab` writes the verdicts.", ""]
    for chapter, title in CHAPTERS.items():
        claims = [c for c in GUIDES if guide_of(c) == chapter]
        out += [f"## {title}", "", f"[The guide]({_rel(chapter, page)})", ""]
        for claim in claims:
            text, note = _claim_text(claim)
            row = rows.get(claim)
            out += [f"### `{claim}` {{#{claim}}}", "", f"**Claim.** {text}", "", f"**The notes.** {note}", ""]
            if row is None:
                out += ["**Verdict.** none yet: `make lab` measures it.", ""]
            else:
                out += [f"**Verdict: {row.verdict}.** {row.key_number}", ""]
                if row.test:
                    out += [f"**Test.** {row.test}", ""]
            out += [f"[The guide to `{claim}`]({_rel(chapter, page)}#{claim})", ""]
    return "\n".join(out)


def expand(markdown: str, page: str, readme: Path) -> str:
    """`<!-- verdict: CLAIM -->` and `<!-- verdicts -->` replaced by the lab's verdicts from `readme`."""
    if "<!--" not in markdown:
        return markdown
    head, rows = read_table(readme)
    markdown = ONE.sub(lambda m: one(m["claim"], rows, page, m["indent"]), markdown)
    return ALL.sub(lambda m: table(head, rows, page), markdown)
