"""Penalty terms against torch's weight_decay, and the parameter groups that exclude norms and biases."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dlbasic.errors import UserError
from dlbasic.nn.norm import BatchNorm2d
from dlbasic.regularization.penalties import Penalty, decayed_parameters, l1_penalty, param_groups


def _model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 2))
    return model.double()


def test_excluded_parameters_are_biases_and_norm():
    m = _model()
    kept = {id(p) for p in decayed_parameters(m)}
    assert kept == {id(m[0].weight), id(m[4].weight)}
    assert len(decayed_parameters(m, exclude_norm_and_bias=False)) == 6


def test_l2_penalty_gradient_equals_sgd_weight_decay():
    lam, lr = 0.3, 0.1
    a, b = _model(), _model()
    x = torch.randn(4, 2, 4, 4, dtype=torch.float64)
    opt_a = torch.optim.SGD(a.parameters(), lr=lr, weight_decay=lam)  # coupled decay on everything
    opt_b = torch.optim.SGD(b.parameters(), lr=lr)
    a(x).sum().backward()
    (b(x).sum() + Penalty("l2", lam, exclude_norm_and_bias=False)(b)).backward()
    opt_a.step()
    opt_b.step()
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-12, atol=1e-12)


def test_l1_penalty_value_and_gradient():
    w = torch.tensor([[1.5, -2.0], [0.0, 0.25]], requires_grad=True)
    value = l1_penalty([w])
    assert value.item() == 3.75
    value.backward()
    assert torch.equal(w.grad, torch.tensor([[1.0, -1.0], [0.0, 1.0]]))
    m = _model()
    expected = 0.01 * (m[0].weight.abs().sum() + m[4].weight.abs().sum())
    torch.testing.assert_close(Penalty("l1", 0.01)(m), expected)


@pytest.mark.parametrize("opt_cls", [torch.optim.SGD, torch.optim.AdamW])
def test_param_groups_leave_norm_and_bias_undecayed(opt_cls):
    m = _model()
    before = [p.detach().clone() for p in m.parameters()]
    opt = opt_cls(param_groups(m, weight_decay=0.5), lr=0.1)
    for p in m.parameters():
        p.grad = torch.zeros_like(p)  # only the decay moves parameters
    opt.step()
    decayed = {id(m[0].weight), id(m[4].weight)}
    for p, p0 in zip(m.parameters(), before, strict=True):
        if id(p) in decayed:
            torch.testing.assert_close(p.detach(), p0 * (1 - 0.1 * 0.5), rtol=1e-12, atol=1e-12)
        else:
            assert torch.equal(p.detach(), p0)


def test_param_groups_without_exclusion_is_one_group():
    groups = param_groups(_model(), 1e-4, exclude_norm_and_bias=False)
    assert len(groups) == 1 and len(groups[0]["params"]) == 6


def test_bad_penalty():
    with pytest.raises(UserError, match="unknown penalty 'l3'"):
        Penalty("l3")
