"""The generalization, model-selection and ensemble studies: their notes quote the notebook, their
helpers compute what their docstrings say, and they run."""

import re
from pathlib import Path

import pytest

from dlbasic.lab.study import VERDICTS
from dlbasic.studies import LabContext, Profile, get_study, run_study

IDS = ("generalization", "cross-validation", "bias-variance", "bagging", "boosting", "batch-size")
SEED_NOTES = Path(__file__).resolve().parents[2] / ".." / "shared" / "seed" / "0208-dl-basic-notes.md"


def _squash(text: str) -> str:
    return re.sub(r"[\s*>]+", "", text)


@pytest.mark.parametrize("study_id", IDS)
def test_note_quotes_the_notebook(study_id):
    if not SEED_NOTES.is_file():
        pytest.skip("the course notes are not present on this machine")
    notes = _squash(SEED_NOTES.read_text(encoding="utf-8"))
    study = get_study(study_id)
    for fragment in re.split(r"(?<=[.)])\s+", study.note):
        fragment = fragment.removeprefix("Bagging (Bootstrapping aggregating): ").removeprefix("Boosting: ")
        assert _squash(fragment).replace(":", "") in notes.replace(":", ""), fragment
    assert study.rule and study.method


@pytest.mark.parametrize("study_id", IDS)
def test_module_docstring_cites_the_canonical_experiment(study_id):
    import importlib

    module = importlib.import_module(f"dlbasic.studies.{study_id.replace('-', '_')}")
    doc = module.__doc__ or ""
    assert len(doc) > 400 and re.search(r"(19|20)\d\d", doc), "the docstring cites the paper's experiment"
    assert "Scaled down" in doc, "and says what the scaling changes"
    study = get_study(study_id)
    assert "decide" in study.rule or "paired" in study.rule.lower()


def test_batch_size_literature_states_keskar():
    lit = get_study("batch-size").literature
    assert "1609.04836" in lit and "sharp minima" in lit and "flat minima generalize worse" in lit


@pytest.mark.slow
@pytest.mark.parametrize("study_id", IDS)
def test_study_runs_on_a_tiny_profile(study_id):
    ctx = LabContext(Profile("tiny", (0, 1), 0.2, "digits", "cpu"))
    result = run_study(study_id, ctx=ctx)
    assert result["verdict"] in VERDICTS and result["key_number"]
    assert result["figures"] and all(png.startswith(b"\x89PNG") for _, png in result["figures"])
