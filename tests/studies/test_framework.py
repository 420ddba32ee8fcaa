import json
import re

import pytest

from dlbasic.cli import main
from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED, list_studies
from dlbasic.studies.base import compare
from dlbasic.studies.runner import CLAIM_IDS


def test_claim_ids_match_the_claims_table(shared_data):
    table = (shared_data.parent / "docs" / "CLAIMS.md").read_text()
    ids = tuple(i for i in re.findall(r"^\| ([a-z0-9-]+) \|", table, flags=re.M) if i != "id")
    assert ids == CLAIM_IDS


def test_every_registered_study_is_a_claim():
    assert set(list_studies()) <= set(CLAIM_IDS)


def test_compare_rule():
    assert compare([0.9, 0.92], [0.8, 0.81]) == SUPPORTED
    assert compare([0.8, 0.81], [0.9, 0.92]) == CONTRADICTED
    assert compare([0.9, 0.8], [0.86, 0.84]) == INCONCLUSIVE
    assert compare([1.0, 1.1], [2.0, 2.1], higher_is_better=False) == SUPPORTED
    assert compare([0.9, 0.92], [0.8, 0.81], claim_a_better=False) == CONTRADICTED


def test_lab_cli_runs_a_subset_and_writes_a_self_contained_report(tmp_path, capsys):
    out = tmp_path / "lab"
    assert main(["lab", "--only", "conv-shapes", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert [r["id"] for r in report["results"]] == ["conv-shapes"]
    assert report["results"][0]["verdict"] == SUPPORTED
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and "원하는 output" in page and 'src="figures' not in page
    # resume keeps the finished study
    assert main(["lab", "--only", "conv-shapes", "--out", str(out), "--resume"]) == 0
    assert "done before" in capsys.readouterr().out
    assert main(["lab", "--only", "conv-shape", "--out", str(tmp_path / "x")]) == 2
    assert main(["lab", "--only", "conv-shapes", "--out", str(out)]) == 2  # exists, no --resume


@pytest.mark.parametrize("study_id", list_studies())
def test_study_declares_its_claim(study_id):
    from dlbasic.studies import get_study

    s = get_study(study_id)
    for attr in ("section", "claim", "note", "method", "rule"):
        assert getattr(s, attr).strip(), attr
