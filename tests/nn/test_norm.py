"""Our normalization layers against torch.nn in float64: outputs, input and parameter gradients,
running statistics, in training and evaluation mode."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dlbasic.errors import UserError
from dlbasic.nn.norm import BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm, make_norm

TOL = {"rtol": 1e-10, "atol": 1e-10}

# (ours, reference, input shape)
CASES = [
    ("batch", lambda: BatchNorm2d(3), lambda: nn.BatchNorm2d(3), (4, 3, 5, 6)),
    (
        "batch_momentum_none",
        lambda: BatchNorm2d(3, momentum=None),
        lambda: nn.BatchNorm2d(3, momentum=None),
        (4, 3, 5, 6),
    ),
    (
        "batch_no_affine",
        lambda: BatchNorm2d(2, affine=False, eps=1e-3),
        lambda: nn.BatchNorm2d(2, affine=False, eps=1e-3),
        (3, 2, 4, 4),
    ),
    (
        "batch_no_tracking",
        lambda: BatchNorm2d(3, track_running_stats=False),
        lambda: nn.BatchNorm2d(3, track_running_stats=False),
        (4, 3, 5, 6),
    ),
    ("group", lambda: GroupNorm(2, 6), lambda: nn.GroupNorm(2, 6), (3, 6, 4, 5)),
    ("group_2d_input", lambda: GroupNorm(3, 6), lambda: nn.GroupNorm(3, 6), (5, 6)),
    ("layer_chw", lambda: LayerNorm((3, 4, 5)), lambda: nn.LayerNorm((3, 4, 5)), (2, 3, 4, 5)),
    ("layer_last", lambda: LayerNorm(7, eps=1e-6), lambda: nn.LayerNorm(7, eps=1e-6), (4, 3, 7)),
    ("layer_no_bias", lambda: LayerNorm(7, bias=False), lambda: nn.LayerNorm(7, bias=False), (4, 7)),
    ("instance", lambda: InstanceNorm2d(3), lambda: nn.InstanceNorm2d(3), (4, 3, 5, 6)),
    (
        "instance_affine_tracking",
        lambda: InstanceNorm2d(3, affine=True, track_running_stats=True),
        lambda: nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
        (4, 3, 5, 6),
    ),
]


def _pair(make_ours, make_ref):
    torch.manual_seed(0)
    ref = make_ref().double()
    ours = make_ours().double()
    # random affine parameters so gamma/beta gradients are not trivially checked at 1 and 0
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn_like(p))
    ours.load_state_dict(ref.state_dict())  # same names and shapes as torch.nn
    return ours, ref


def _step(module: nn.Module, x: torch.Tensor, grad_out: torch.Tensor):
    x = x.clone().requires_grad_(True)
    y = module(x)
    y.backward(grad_out)
    grads = [p.grad.clone() for p in module.parameters()]
    module.zero_grad()
    return y.detach(), x.grad, grads


@pytest.mark.parametrize("name,make_ours,make_ref,shape", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_train_then_eval(name, make_ours, make_ref, shape):
    ours, ref = _pair(make_ours, make_ref)
    g = torch.Generator().manual_seed(1)
    for mode in ("train", "train", "train", "eval", "train", "eval"):
        ours.train(mode == "train")
        ref.train(mode == "train")
        x = torch.randn(shape, generator=g, dtype=torch.float64) * 3 + 1
        grad_out = torch.randn(shape, generator=g, dtype=torch.float64)
        y1, gx1, gp1 = _step(ours, x, grad_out)
        y2, gx2, gp2 = _step(ref, x, grad_out)
        torch.testing.assert_close(y1, y2, **TOL)
        torch.testing.assert_close(gx1, gx2, **TOL)
        for a, b in zip(gp1, gp2, strict=True):
            torch.testing.assert_close(a, b, **TOL)
        for (k1, b1), (k2, b2) in zip(ours.named_buffers(), ref.named_buffers(), strict=True):
            assert k1 == k2
            torch.testing.assert_close(b1, b2, **TOL)


def test_batchnorm_running_stats_follow_momentum_rule():
    bn = BatchNorm2d(2, momentum=0.3).double()
    x = torch.randn(8, 2, 3, 3, dtype=torch.float64)
    bn(x)
    n = 8 * 3 * 3
    batch_mean = x.mean((0, 2, 3))
    batch_var_unbiased = x.var((0, 2, 3), unbiased=True)
    torch.testing.assert_close(bn.running_mean, 0.3 * batch_mean, **TOL)
    torch.testing.assert_close(bn.running_var, 0.7 * 1.0 + 0.3 * batch_var_unbiased, **TOL)
    assert int(bn.num_batches_tracked) == 1 and n == 72


def test_batchnorm_eval_uses_running_stats_not_batch():
    bn = BatchNorm2d(1).double().eval()
    x = torch.full((2, 1, 2, 2), 5.0, dtype=torch.float64)
    # running mean 0, var 1: eval output is x / sqrt(1 + eps), not the zeros batch statistics would give
    torch.testing.assert_close(bn(x), x / (1 + 1e-5) ** 0.5, **TOL)


def test_gradcheck_groupnorm():
    gn = GroupNorm(2, 4).double()
    x = torch.randn(2, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gn, (x,))


@pytest.mark.parametrize("name", ["batch", "group", "layer", "instance", "none"])
def test_make_norm_keeps_shape(name):
    layer = make_norm(name, 48)
    x = torch.randn(2, 48, 5, 5)
    assert layer(x).shape == x.shape


def test_make_norm_layer_is_layer_statistics_over_chw():
    x = torch.randn(3, 8, 4, 4, dtype=torch.float64)
    ours = make_norm("layer", 8).double()
    ref = nn.LayerNorm((8, 4, 4), elementwise_affine=False).double()
    torch.testing.assert_close(ours(x), ref(x), **TOL)


def test_make_norm_group_picks_dividing_group_count():
    assert make_norm("group", 48).num_groups == 16
    assert make_norm("group", 64).num_groups == 32


def test_make_norm_unknown_name():
    with pytest.raises(UserError, match="unknown normalization 'bach'"):
        make_norm("bach", 4)


def test_instancenorm_refuses_cumulative_average():
    with pytest.raises(ValueError, match="needs a momentum"):
        InstanceNorm2d(3, momentum=None, track_running_stats=True)
