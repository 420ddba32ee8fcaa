"""The generalization, model-selection, ensemble and detection-speed studies: their notes quote the notebook, their
helpers compute what their docstrings say, and they run."""

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dlbasic.lab.study import VERDICTS
from dlbasic.studies import LabContext, Profile, get_study, run_study
from dlbasic.studies.bias_variance import log_slope, variance_split
from dlbasic.studies.boosting import ensemble_accuracy
from dlbasic.studies.cross_validation import choice_and_regret
from dlbasic.studies.detection_speed import average_recall, count_macs, given_boxes
from dlbasic.studies.generalization import corrupt_labels

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


# ---- generalization -------------------------------------------------------------------------------


def test_corrupt_labels_replaces_a_fraction_with_uniform_classes():
    labels = torch.arange(10).repeat(1000)  # 10,000 labels
    assert torch.equal(corrupt_labels(labels, 0.0, 10, seed=0), labels)
    noisy = corrupt_labels(labels, 0.2, 10, seed=0)
    changed = (noisy != labels).float().mean().item()
    assert abs(changed - 0.2 * 9 / 10) < 0.015  # a random class equals the true one 1 time in 10
    assert torch.equal(noisy, corrupt_labels(labels, 0.2, 10, seed=0))
    assert not torch.equal(noisy, corrupt_labels(labels, 0.2, 10, seed=1))
    counts = torch.bincount(corrupt_labels(labels, 1.0, 10, seed=0), minlength=10).float()
    assert (counts / counts.sum() - 0.1).abs().max() < 0.02


# ---- cross-validation -----------------------------------------------------------------------------


def test_choice_and_regret_ties_go_to_the_first_candidate():
    assert choice_and_regret(np.array([0.9, 0.95, 0.95]), np.array([0.97, 0.96, 0.98])) == (1, pytest.approx(0.02))
    assert choice_and_regret(np.array([0.5, 0.4]), np.array([0.97, 0.96])) == (0, 0.0)


# ---- bias-variance ---------------------------------------------------------------------------------


def test_variance_split_adds_up_to_the_loss_and_recovers_known_parts():
    rng = np.random.default_rng(0)
    s, i, m, k = 200, 50, 40, 3
    target = np.eye(k)[rng.integers(0, k, m)]  # [M, K]
    mean = rng.normal(size=(m, k))
    sampling = rng.normal(scale=0.3, size=(s, 1, m, k))  # Var = 0.09 per output
    init = rng.normal(scale=0.2, size=(s, i, m, k))  # Var = 0.04 per output
    parts = variance_split(mean + sampling + init, target)
    assert parts["loss"] == pytest.approx(parts["bias2"] + parts["variance_init"] + parts["variance_sampling"])
    assert parts["variance"] == pytest.approx(parts["variance_init"] + parts["variance_sampling"])
    assert parts["variance_init"] == pytest.approx(k * 0.04, rel=0.05)
    assert parts["variance_sampling"] == pytest.approx(k * 0.09, rel=0.15)
    assert parts["bias2"] == pytest.approx(((mean - target) ** 2).sum(1).mean(), rel=0.05)


def test_variance_split_of_identical_predictions_is_all_bias():
    probs = np.tile(np.array([0.7, 0.2, 0.1]), (2, 3, 4, 1))  # [S=2, I=3, M=4, K=3]
    target = np.eye(3)[[0, 1, 2, 0]]
    parts = variance_split(probs, target)
    assert parts["variance_init"] == pytest.approx(0, abs=1e-12)
    assert parts["variance_sampling"] == pytest.approx(0, abs=1e-12)
    assert parts["bias2"] == pytest.approx(parts["loss"])
    with pytest.raises(ValueError):
        variance_split(probs[:1], target)


def test_log_slope_is_the_exponent_per_doubling():
    widths = [16, 64, 256, 1024]
    assert log_slope(widths, [3 * w**-0.5 for w in widths]) == pytest.approx(-0.5 * math.log(2))
    assert log_slope(widths, [2.0] * 4) == pytest.approx(0.0)


# ---- boosting --------------------------------------------------------------------------------------


def test_ensemble_accuracy_is_the_weighted_vote_after_each_round():
    y = np.array([0, 1, 2])
    preds = [np.array([0, 0, 0]), np.array([1, 1, 2]), np.array([2, 2, 2])]
    # round 1: [0,0,0] -> 1/3; round 2 (alpha 2 > 1): [1,1,2] -> 2/3; round 3: scores favour class 1 or 2 ...
    assert ensemble_accuracy([1.0, 2.0, 0.5], preds, y, 3) == pytest.approx([1 / 3, 2 / 3, 2 / 3])
    assert ensemble_accuracy([1.0], preds, y, 3) == pytest.approx([1 / 3])  # a discarded learner is not voted
    assert ensemble_accuracy([], preds, y, 3) == []


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
