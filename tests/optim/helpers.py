"""A small float64 network and a loop that trains it, shared by the optimizer tests."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def make_model(seed: int = 0, norm: bool = False) -> nn.Module:
    """Linear -> Tanh -> Linear; `norm` puts a BatchNorm after the first Linear.

    The BatchNorm makes the first weight scale-invariant, the case AdamP/SGDP project. It also makes
    some trajectories chaotic (rounding differences of one ulp then grow ~3x per step), so the
    other optimizers are compared on the plain network.
    """
    torch.manual_seed(seed)
    first = [nn.Linear(6, 12, bias=False), nn.BatchNorm1d(12)] if norm else [nn.Linear(6, 12)]
    return nn.Sequential(*first, nn.Tanh(), nn.Linear(12, 3)).double()


def data(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 6, generator=g, dtype=torch.float64)
    return x, torch.randn(32, 3, generator=g, dtype=torch.float64)


def train(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    steps: int,
    sign: float = 1.0,
    after_step: Callable[[], None] | None = None,
) -> None:
    """`steps` full-batch steps on a fixed regression problem; `sign=-1` for maximizing optimizers."""
    x, y = data()
    for _ in range(steps):
        opt.zero_grad()
        (sign * ((model(x) - y) ** 2).mean()).backward()
        opt.step()
        if after_step is not None:
            after_step()


def assert_same(a: nn.Module, b: nn.Module, rtol: float = 1e-10) -> None:
    """Every parameter agrees to `rtol` relative to the largest entry of its tensor."""
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        scale = pb.detach().abs().max().item()
        torch.testing.assert_close(pa, pb, rtol=rtol, atol=rtol * scale, msg=lambda m, n=name: f"{n}: {m}")
