"""Expected calibration error against a hand computation and a literal per-sample loop."""

from __future__ import annotations

import pytest
import torch

from dlbasic.evaluation.calibration import expected_calibration_error, reliability_bins


def loop_ece(probs: torch.Tensor, labels: torch.Tensor, n_bins: int) -> float:
    """Guo et al. (2017), eq. (3), written with plain Python loops over bins and samples."""
    n = len(labels)
    total = 0.0
    for m in range(n_bins):
        lo, hi = m / n_bins, (m + 1) / n_bins
        members = []
        for i in range(n):
            conf = float(probs[i].max())
            if (lo < conf <= hi) or (m == 0 and conf == 0.0):
                members.append((conf, int(probs[i].argmax()) == int(labels[i])))
        if members:
            acc = sum(c for _, c in members) / len(members)
            mean_conf = sum(p for p, _ in members) / len(members)
            total += len(members) / n * abs(acc - mean_conf)
    return total


def test_hand_computed_example():
    # confidences 0.95 (right), 0.85 (wrong), 0.55 (right), 0.45 (right); 2 bins: (0, .5], (.5, 1]
    probs = torch.tensor(
        [[0.95, 0.05, 0.0], [0.15, 0.85, 0.0], [0.55, 0.25, 0.2], [0.3, 0.25, 0.45]], dtype=torch.float64
    )
    labels = torch.tensor([0, 0, 0, 2])
    # bin (.5, 1]: 3 samples, accuracy 2/3, confidence (0.95 + 0.85 + 0.55) / 3; bin (0, .5]: 1 sample, 1 vs 0.45
    expected = 3 / 4 * abs(2 / 3 - 2.35 / 3) + 1 / 4 * abs(1 - 0.45)
    assert expected_calibration_error(probs, labels, n_bins=2) == pytest.approx(expected, abs=1e-12)
    bins = reliability_bins(probs, labels, n_bins=2)
    assert bins["count"].tolist() == [1, 3]
    assert bins["accuracy"].tolist() == pytest.approx([1.0, 2 / 3])


@pytest.mark.parametrize(("n_bins", "seed"), [(1, 0), (10, 1), (15, 2), (20, 3)])
def test_matches_literal_loop(n_bins, seed):
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(3 * torch.randn(300, 10, generator=g, dtype=torch.float64), dim=1)
    labels = torch.randint(0, 10, (300,), generator=g)
    assert expected_calibration_error(probs, labels, n_bins) == pytest.approx(
        loop_ece(probs, labels, n_bins), abs=1e-12
    )


def test_perfectly_calibrated_and_confidently_wrong():
    # every prediction at confidence 1 and right: ECE 0; at confidence 1 and wrong: ECE 1
    one_hot = torch.eye(4, dtype=torch.float64)
    assert expected_calibration_error(one_hot, torch.arange(4)) == 0.0
    assert expected_calibration_error(one_hot, torch.tensor([1, 2, 3, 0])) == 1.0


def test_one_bin_is_the_gap_between_mean_confidence_and_accuracy():
    g = torch.Generator().manual_seed(5)
    probs = torch.softmax(torch.randn(200, 5, generator=g, dtype=torch.float64), dim=1)
    labels = torch.randint(0, 5, (200,), generator=g)
    acc = (probs.argmax(1) == labels).double().mean()
    assert expected_calibration_error(probs, labels, 1) == pytest.approx(float(abs(acc - probs.max(1).values.mean())))


def test_bad_shapes_are_user_errors():
    from dlbasic.errors import UserError

    with pytest.raises(UserError):
        expected_calibration_error(torch.ones(3, 2), torch.zeros(4, dtype=torch.long))
