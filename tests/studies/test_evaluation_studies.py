"""The generalization, model-selection, ensemble and detection-speed studies: their notes quote the notebook, their
helpers compute what their docstrings say, and they run."""

import math
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from dlbasic.lab.study import VERDICTS
from dlbasic.studies import LabContext, Profile, get_study, run_study
from dlbasic.studies.detection_speed import average_recall, count_macs, given_boxes

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


@pytest.mark.parametrize("study_id", [*IDS, "detection-speed"])
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


# ---- detection-speed -------------------------------------------------------------------------------


class _PerRegion(nn.Module):
    """A toy per-region detector: the same conv runs on every region crop; `proposals` gives the crops' count."""

    def __init__(self):
        super().__init__()
        self.cnn = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(2 * 3 * 3, 4)
        self.proposals = lambda images: [torch.zeros(3, 4) for _ in images]

    def forward(self, images):
        n = sum(len(p) for p in self.proposals(images))
        crops = images[:, :, :5, :5].repeat(n, 1, 1, 1)  # one 5x5 crop per region
        return self.fc(self.cnn(crops).flatten(1))


def test_count_macs_counts_every_region_a_layer_sees():
    model = _PerRegion()
    image = torch.zeros(1, 1, 8, 8)
    one = count_macs(model, image)
    assert one == {"conv": 3 * (2 * 3 * 3) * 1 * 9, "fc": 3 * 4 * 18, "cnn_runs": 3}
    with given_boxes(model, 7):
        seven = count_macs(model, image)
    assert seven == {"conv": 7 * 2 * 3 * 3 * 9, "fc": 7 * 4 * 18, "cnn_runs": 7}
    assert count_macs(model, image) == one  # the proposer is restored


def test_rcnn_work_grows_with_regions_and_fast_rcnn_runs_its_cnn_once():
    from dlbasic.detection.train import build_detector

    image = torch.rand(1, 1, 64, 64)
    counts = {}
    for name in ("rcnn", "fast_rcnn"):
        model = build_detector(name, 10, 1, None, 0)
        if hasattr(model, "fitted"):
            model.fitted.fill_(True)  # R-CNN's SVM stage (zero weights: the work is the same)
        for regions in (5, 10):
            with given_boxes(model, regions):
                counts[name, regions] = count_macs(model, image)
    assert counts["rcnn", 10]["conv"] == 2 * counts["rcnn", 5]["conv"]  # the CNN once per region
    assert counts["rcnn", 10]["cnn_runs"] == 10
    assert counts["fast_rcnn", 10]["conv"] == counts["fast_rcnn", 5]["conv"]  # once per image
    assert counts["fast_rcnn", 10]["cnn_runs"] == 1
    assert counts["fast_rcnn", 10]["fc"] == 2 * counts["fast_rcnn", 5]["fc"]  # the head runs per region


def test_average_recall_over_iou_thresholds():
    target = [{"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])}]
    exact = [torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])]
    assert average_recall(exact, target, top=10) == [1.0]
    assert average_recall(exact, target, top=1) == [0.5]  # only the first proposal counts
    shifted = [torch.tensor([[0.0, 0.0, 10.0, 12.3]])]  # IoU 0.81 with the first box: 0.5..0.8 hit
    assert average_recall(shifted, target, top=10) == [pytest.approx(7 / 10 / 2)]
    assert math.isnan(average_recall(exact, [{"boxes": torch.zeros(0, 4)}], top=10)[0])


@pytest.mark.slow
@pytest.mark.parametrize("study_id", IDS)
def test_study_runs_on_a_tiny_profile(study_id):
    ctx = LabContext(Profile("tiny", (0, 1), 0.2, "digits", "cpu"))
    result = run_study(study_id, ctx=ctx)
    assert result["verdict"] in VERDICTS and result["key_number"]
    assert result["figures"] and all(png.startswith(b"\x89PNG") for _, png in result["figures"])
