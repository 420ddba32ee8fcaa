"""The README's verdict table is generated from report.json, between its markers, and nothing else changes."""

import json

import pytest

from dlbasic.errors import UserError
from dlbasic.report.readme import END, START, update_readme, verdict_table

REPORT = {
    "profile": {"name": "quick", "seeds": [0, 1, 2], "data": None},
    "environment": {"torch": "2.13.0", "cpu_threads": 1},
    "seconds": 301.4,
    "created": "2026-12-02 04:00:00",
    "results": [
        {"id": "nesterov", "verdict": "supported", "key_number": "a | b", "test": "paired t, n=12"},
        {"id": "dropout", "verdict": "inconclusive", "key_number": "x", "test": ""},
        {"id": "conv-shapes", "verdict": "checked", "key_number": "k", "checks": [{"check": "sizes", "holds": True}]},
        {"id": "one-by-one", "verdict": "failed", "key_number": "k", "checks": [{"check": "count", "holds": False}]},
    ],
}


def test_table_rows_come_from_the_report():
    table = verdict_table(REPORT)
    assert "| `nesterov` | supported | a \\| b | paired t, n=12 |" in table
    assert "| `dropout` | inconclusive | x |  |" in table
    assert "5 min 1 s" in table and "1 supported, 0 contradicted, 1 inconclusive, 1 checked, 1 failed" in table
    assert "| `conv-shapes` | checked | k | exact checks: ✓ sizes |" in table
    assert "| `one-by-one` | failed | k | exact checks: ✗ count |" in table


def test_update_replaces_only_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# t\nintro\n{START}\nold table\n{END}\nafter\n")
    (tmp_path / "report.json").write_text(json.dumps(REPORT))
    update_readme(readme, tmp_path / "report.json")
    text = readme.read_text()
    assert text.startswith("# t\nintro\n" + START) and text.endswith(END + "\nafter\n")
    assert "old table" not in text and "`nesterov`" in text
    update_readme(readme, tmp_path / "report.json")
    assert readme.read_text() == text  # idempotent


def test_missing_markers_or_bad_report_are_one_error(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    (tmp_path / "report.json").write_text(json.dumps(REPORT))
    with pytest.raises(UserError, match="no verdict table markers"):
        update_readme(readme, tmp_path / "report.json")
    readme.write_text(f"{START}\n{END}\n")
    (tmp_path / "report.json").write_text("{not json")
    with pytest.raises(UserError, match="cannot read"):
        update_readme(readme, tmp_path / "report.json")
