"""The README's verdict table, generated from a lab's `report.json` (never written by hand).

The table lives between two marker lines in the README; `update_readme` replaces what lies between
them and leaves the rest of the file as it was:

    <!-- lab-verdicts: start -->
    ...
    <!-- lab-verdicts: end -->

`python -m dlbasic.report.readme runs/lab/report.json README.md` updates it; `dlbasic lab --readme
README.md` does the same at the end of a lab (`make lab`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from dlbasic.claims import EMPIRICAL, VERDICTS
from dlbasic.errors import UserError, check

START, END = "<!-- lab-verdicts: start -->", "<!-- lab-verdicts: end -->"


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def verdict_table(report: dict[str, Any]) -> str:
    """Markdown: how the lab was run, the verdict counts, then one row per claim (verdict, key number, test)."""
    results = report["results"]
    counts = {v: sum(r["verdict"] == v for r in results) for v in VERDICTS}
    counts = {v: n for v, n in counts.items() if n or v in EMPIRICAL}
    profile = report.get("profile", {})
    env = report.get("environment", {})
    minutes, seconds = divmod(round(report.get("seconds", 0)), 60)
    head = (
        f"Profile `{profile.get('name', '?')}`, seeds {profile.get('seeds', '?')}, data "
        f"`{profile.get('data') or 'each study default'}`; torch {env.get('torch', '?')}, "
        f"{env.get('cpu_threads', '?')} thread(s); {minutes} min {seconds} s; "
        + ", ".join(f"{n} {v}" for v, n in counts.items())
        + f" (report of {report.get('created', '?')})."
    )
    rows = [
        f"| `{r['id']}` | {r['verdict']} | {_cell(r.get('key_number', ''))} | {_cell(decided_by(r))} |" for r in results
    ]
    return "\n".join([head, "", "| claim | verdict | key number | test |", "|---|---|---|---|", *rows])


def decided_by(result: dict[str, Any]) -> str:
    """What decided a claim: its comparisons (outcome, interval, margin, seeds and look) and its exact checks."""
    checks = "; ".join(f"{'✓' if c.get('holds') else '✗'} {c.get('check', '')}" for c in result.get("checks", []))
    test = result.get("test", "")
    return "; ".join(part for part in (test, f"exact checks: {checks}" if checks else "") if part)


def update_readme(readme: Path, report_path: Path) -> None:
    """Replace the table between the markers of `readme` with the one of `report_path`."""
    text = readme.read_text(encoding="utf-8")
    check(
        START in text and END in text and text.index(START) < text.index(END),
        f"{readme} has no verdict table markers",
        f"add the lines {START} and {END} where the table goes",
    )
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {report_path}: {' '.join(str(e).split())}") from None
    check(
        isinstance(report, dict) and isinstance(report.get("results"), list),
        f"{report_path} is not a lab report",
        "pass the report.json of `dlbasic lab`",
    )
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    readme.write_text(f"{before}{START}\n{verdict_table(report)}\n{END}{after}", encoding="utf-8")


if __name__ == "__main__":  # python -m dlbasic.report.readme REPORT_JSON README
    if len(sys.argv) != 3:
        sys.exit("usage: python -m dlbasic.report.readme runs/lab/report.json README.md")
    try:
        update_readme(Path(sys.argv[2]), Path(sys.argv[1]))
    except UserError as e:
        sys.exit(f"error: {e.message}" + (f" ({e.hint})" if e.hint else ""))
