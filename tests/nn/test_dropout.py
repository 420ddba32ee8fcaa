"""Dropout: the inverted-scaling formula on a fixed mask, and the expected value kept (statistical)."""

from __future__ import annotations

import math

import pytest
import torch

from dlbasic.nn.dropout import Dropout, apply_dropout_mask, dropout, dropout_mask


def test_formula_on_hand_written_mask():
    x = torch.tensor([1.0, -2.0, 3.0, 4.0], dtype=torch.float64)
    mask = torch.tensor([True, False, True, False])
    y = apply_dropout_mask(x, mask, p=0.75)
    assert torch.equal(y, torch.tensor([4.0, 0.0, 12.0, 0.0], dtype=torch.float64))


def test_dropout_equals_formula_on_the_generator_mask():
    x = torch.randn(6, 5, dtype=torch.float64)
    p = 0.4
    y = dropout(x, p, generator=torch.Generator().manual_seed(7))
    mask = dropout_mask(x.shape, p, torch.Generator().manual_seed(7))
    assert 0 < mask.sum() < mask.numel()  # a real mix of kept and dropped units
    assert torch.equal(y, torch.where(mask, x / (1 - p), torch.zeros_like(x)))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_expected_value_is_kept(p):
    # y_i = x * m_i / q with m_i ~ Bernoulli(q): E[y_i] = x, Var[y_i] = x^2 (1 - q) / q.
    # The mean of n draws is within 5 standard errors of x except with probability < 1e-6.
    n, x = 400_000, 1.5
    y = dropout(torch.full((n,), x, dtype=torch.float64), p, generator=torch.Generator().manual_seed(0))
    q = 1 - p
    bound = 5 * math.sqrt(x * x * (1 - q) / q / n)
    assert abs(y.mean().item() - x) < bound
    kept = (y != 0).double().mean().item()
    assert abs(kept - q) < 5 * math.sqrt(q * (1 - q) / n)


def test_gradient_is_mask_over_keep_probability():
    x = torch.randn(50, dtype=torch.float64, requires_grad=True)
    p = 0.3
    dropout(x, p, generator=torch.Generator().manual_seed(3)).sum().backward()
    mask = dropout_mask(x.shape, p, torch.Generator().manual_seed(3))
    assert torch.equal(x.grad, mask.double() / (1 - p))


def test_edge_probabilities_and_eval_mode():
    x = torch.randn(3, 4)
    assert torch.equal(dropout(x, 0.0), x)
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    layer = Dropout(0.5).eval()
    assert torch.equal(layer(x), x)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        Dropout(1.5)


def test_channelwise_drops_whole_feature_maps():
    x = torch.ones(8, 16, 3, 3)
    y = dropout(x, 0.5, channelwise=True, generator=torch.Generator().manual_seed(1))
    per_map = y.flatten(2)
    assert torch.equal(per_map.amin(2), per_map.amax(2))  # each map constant: all kept (2.0) or all 0
    assert set(per_map.unique().tolist()) == {0.0, 2.0}


def test_module_in_training_is_reproducible_with_its_generator():
    x = torch.randn(4, 10)
    a = Dropout(0.5, generator=torch.Generator().manual_seed(5))(x)
    b = Dropout(0.5, generator=torch.Generator().manual_seed(5))(x)
    assert torch.equal(a, b)
