"""Label smoothing against F.cross_entropy(label_smoothing=eps)."""

from __future__ import annotations

import doctest

import pytest
import torch
import torch.nn.functional as F

from dlbasic.regularization import smoothing
from dlbasic.regularization.smoothing import (
    LabelSmoothingCrossEntropy,
    smooth_one_hot,
    soft_target_cross_entropy,
    to_soft_targets,
)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.25, 0.9])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_label_smoothing_equals_torch(eps, reduction):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(13, 7, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 7, (13,), generator=g)
    ours = LabelSmoothingCrossEntropy(eps, reduction)(logits, y)
    ref = F.cross_entropy(logits, y, label_smoothing=eps, reduction=reduction)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    (g1,) = torch.autograd.grad(ours.sum(), logits)
    (g2,) = torch.autograd.grad(ref.sum(), logits)
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-12)


def test_soft_target_cross_entropy_on_smoothed_one_hot_equals_torch():
    logits = torch.randn(5, 4, dtype=torch.float64)
    y = torch.tensor([0, 3, 1, 1, 2])
    target = smooth_one_hot(y, 4, 0.2, torch.float64)
    torch.testing.assert_close(
        soft_target_cross_entropy(logits, target),
        F.cross_entropy(logits, y, label_smoothing=0.2),
        rtol=1e-12,
        atol=1e-12,
    )
    # torch also accepts class probabilities as the target
    torch.testing.assert_close(
        soft_target_cross_entropy(logits, target), F.cross_entropy(logits, target), rtol=1e-12, atol=1e-12
    )


def test_smoothed_targets_sum_to_one_and_keep_argmax():
    y = torch.tensor([2, 0, 9])
    t = smooth_one_hot(y, 10, 0.3, torch.float64)
    torch.testing.assert_close(t.sum(1), torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-15)
    assert torch.equal(t.argmax(1), y)
    assert t.min().item() == pytest.approx(0.03)


def test_soft_targets_pass_through_the_module_unsmoothed():
    logits = torch.randn(3, 4)
    soft = torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])
    assert torch.equal(LabelSmoothingCrossEntropy(0.3)(logits, soft), soft_target_cross_entropy(logits, soft))
    torch.testing.assert_close(to_soft_targets(soft, 4, 0.2), soft * 0.8 + 0.05)


def test_bad_smoothing_and_reduction():
    with pytest.raises(ValueError, match="label smoothing"):
        LabelSmoothingCrossEntropy(1.0)
    with pytest.raises(ValueError, match="reduction"):
        soft_target_cross_entropy(torch.zeros(2, 3), torch.full((2, 3), 1 / 3), reduction="avg")


def test_doctests():
    assert doctest.testmod(smoothing).failed == 0
