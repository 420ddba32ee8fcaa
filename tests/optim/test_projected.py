"""AdamP/SGDP's fused kernels against the authors' `adamp` package, one step at a time.

Each step starts ours from the reference's weights, gradients and state, so the comparison measures the
error of one update (rounding only) all along the reference's trajectory, and does not depend on how
fast the trajectory amplifies rounding differences (see `ILL_CONDITIONED` in test_equivalence.py).
"""

from __future__ import annotations

import math

import adamp
import pytest
import torch
import torch.nn.functional as F
from tests.optim.helpers import make_model
from torch import nn

from dlbasic.optim import SGDP, AdamP, _native

pytestmark = pytest.mark.skipif(not _native.available(), reason="no C++ compiler: no fused kernels")


def conv_model(seed: int = 0) -> nn.Module:
    """Conv -> BatchNorm -> ReLU -> Conv (with bias) -> Linear: 4-D, 2-D and 1-D parameters."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 4, 3),
        nn.Flatten(),
        nn.Linear(4 * 2 * 2, 3),
    ).double()


def _data(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    shape = (16, 3, 6, 6) if isinstance(model[0], nn.Conv2d) else (32, 6)
    return torch.randn(*shape, generator=g, dtype=torch.float64), torch.randn(
        shape[0], 3, generator=g, dtype=torch.float64
    )


# (ours, reference, kwargs, model): delta=0 never projects, delta=10 always projects channel-wise
CASES = [
    (AdamP, adamp.AdamP, dict(lr=0.01), make_model),
    (AdamP, adamp.AdamP, dict(lr=0.01, weight_decay=0.01, nesterov=True), make_model),
    (AdamP, adamp.AdamP, dict(lr=0.01, weight_decay=0.1, delta=0.2, wd_ratio=0.5, betas=(0.8, 0.99)), make_model),
    (AdamP, adamp.AdamP, dict(lr=0.01, weight_decay=0.01), conv_model),
    (AdamP, adamp.AdamP, dict(lr=0.01, weight_decay=0.01, nesterov=True, delta=10.0), conv_model),
    (AdamP, adamp.AdamP, dict(lr=0.01, weight_decay=0.01, delta=0.0), conv_model),
    (SGDP, adamp.SGDP, dict(lr=0.05, momentum=0.9), make_model),
    (SGDP, adamp.SGDP, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01), make_model),
    (SGDP, adamp.SGDP, dict(lr=0.05, momentum=0.5, dampening=0.2, weight_decay=0.01, delta=0.3), make_model),
    (SGDP, adamp.SGDP, dict(lr=0.05, momentum=0.9, weight_decay=0.01), conv_model),
    (SGDP, adamp.SGDP, dict(lr=0.05, momentum=0.9, nesterov=True, delta=10.0), conv_model),
    (SGDP, adamp.SGDP, dict(lr=0.05, weight_decay=0.01, delta=0.0), conv_model),
]
IDS = [f"{c[0].__name__}-{c[3].__name__}-" + ",".join(f"{k}={v}" for k, v in c[2].items()) for c in CASES]


def _clone_state(state: dict) -> dict:
    return {k: v.clone() if torch.is_tensor(v) else v for k, v in state.items()}


def _assert_close(a: torch.Tensor, b: torch.Tensor, rtol: float, what: str) -> None:
    torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * b.abs().max().item(), msg=lambda m: f"{what}: {m}")


@pytest.mark.parametrize(("ours", "ref", "kw", "model_fn"), CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_every_fused_step_matches_reference(ours: type, ref: type, kw: dict, model_fn, dtype: torch.dtype) -> None:
    rtol = 1e-12 if dtype == torch.float64 else 1e-5
    model_ref, model = model_fn().to(dtype), model_fn().to(dtype)
    opt_ref, opt = ref(model_ref.parameters(), **kw), ours(model.parameters(), fused=True, **kw)
    assert opt.path(opt.param_groups[0]) == "fused"
    x, y = (t.to(dtype) for t in _data(model_ref))
    for _ in range(60):
        opt_ref.zero_grad()
        ((model_ref(x) - y) ** 2).mean().backward()
        with torch.no_grad():  # ours starts this step where the reference stands
            for p, q in zip(model.parameters(), model_ref.parameters()):
                p.copy_(q)
                p.grad = q.grad.clone()
                if q in opt_ref.state:
                    opt.state[p] = _clone_state(opt_ref.state[q])
        opt_ref.step()
        opt.step()
        for (name, p), q in zip(model.named_parameters(), model_ref.parameters()):
            _assert_close(p, q, rtol, name)
            for key, v in opt_ref.state[q].items():
                if torch.is_tensor(v):
                    _assert_close(opt.state[p][key], v, rtol, f"{name} {key}")
                else:
                    assert opt.state[p][key] == v


def _one_step(cls: type, p0: torch.Tensor, g: torch.Tensor, **kw) -> torch.Tensor:
    p = nn.Parameter(p0.clone())
    p.grad = g.clone()
    cls([p], **kw).step()
    return p.detach()


def _mode(p: torch.Tensor, g: torch.Tensor, delta: float) -> str:
    """Which projection the reference applies to a 2-D weight."""
    if F.cosine_similarity(g, p, dim=1, eps=1e-8).abs().max() < delta / math.sqrt(p.size(1)):
        return "channel"
    if F.cosine_similarity(g.view(1, -1), p.view(1, -1), dim=1, eps=1e-8).abs() < delta / math.sqrt(p.numel()):
        return "layer"
    return "none"


@pytest.mark.parametrize("mode", ["channel", "layer", "none"])
@pytest.mark.parametrize("ours", [AdamP, SGDP])
def test_fused_projection_picks_the_reference_mode(mode: str, ours: type) -> None:
    """Hand-made weights whose test passes per row, only for the whole layer, or not at all."""
    torch.manual_seed(0)
    p0 = torch.randn(4, 8, dtype=torch.float64)
    g = torch.randn(4, 8, dtype=torch.float64)
    g -= p0 * (g * p0).sum(1, keepdim=True) / (p0 * p0).sum(1, keepdim=True)  # every row: g orthogonal to p
    if mode != "channel":
        g[0] = p0[0]  # row 0: cos = 1 fails the channel test ...
    if mode == "layer":
        p0[0] *= 1e-3  # ... but is too small to fail the layer-wise one
    assert _mode(p0, g, delta=0.5) == mode
    kw = dict(lr=0.1, weight_decay=0.1, delta=0.5, **({"momentum": 0.9} if ours is SGDP else {}))
    expected = _one_step(adamp.AdamP if ours is AdamP else adamp.SGDP, p0, g, **kw)
    torch.testing.assert_close(_one_step(ours, p0, g, fused=True, **kw), expected, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("ours", [AdamP, SGDP])
def test_fused_result_does_not_depend_on_thread_count(ours: type) -> None:
    """Threads split each weight by rows, and each row's sums are one thread's: results are bitwise equal."""
    torch.manual_seed(0)
    shapes = [(64, 16, 3, 3), (64,), (100, 50), (1, 300), (3, 5)]
    start = [torch.randn(s, dtype=torch.float64) for s in shapes]
    kw = dict(lr=0.01, weight_decay=0.01, **({"momentum": 0.9} if ours is SGDP else {}))
    results = []
    for threads in (1, 3):
        torch.set_num_threads(threads)
        torch.manual_seed(1)
        params = [nn.Parameter(w.clone()) for w in start]
        opt = ours(params, fused=True, **kw)
        for _ in range(3):
            for p in params:
                p.grad = torch.randn_like(p) + 0.3 * p.detach()
            opt.step()
        results.append(params)
    for a, b in zip(*results):
        assert torch.equal(a, b)
