"""Adadelta: Adagrad's idea with decaying averages and units fixed by the ratio of RMS values."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from dlbasic.optim import _native
from dlbasic.optim._base import BaseOptimizer, Group, check_value, scalar_dtype


class Adadelta(BaseOptimizer):
    r"""Adadelta (Zeiler 2012, https://arxiv.org/abs/1212.5701), as torch.optim.Adadelta.

    .. math::
        g_t &= \nabla f(\theta_{t-1}) + \lambda \theta_{t-1} \\
        E[g^2]_t &= \rho E[g^2]_{t-1} + (1 - \rho) g_t^2 \\
        \Delta_t &= \sqrt{E[\Delta^2]_{t-1} + \epsilon} \,/\, \sqrt{E[g^2]_t + \epsilon} \; g_t \\
        E[\Delta^2]_t &= \rho E[\Delta^2]_{t-1} + (1 - \rho) \Delta_t^2 \\
        \theta_t &= \theta_{t-1} - \gamma \Delta_t

    Args:
        params: parameters or param groups.
        lr: gamma, scales the update (the paper has none: 1.0).
        rho: decay of both running averages.
        eps: keeps the roots positive; also sets the size of the first steps.
        weight_decay: lambda, L2 penalty added to the gradient.
        maximize: ascend instead of descend.
        foreach: use the torch._foreach_* path.
        fused: use the compiled single-pass kernel.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        check_value(lr >= 0.0, "learning rate", lr)
        check_value(0.0 <= rho <= 1.0, "rho value", rho)
        check_value(eps >= 0.0, "epsilon value", eps)
        check_value(weight_decay >= 0.0, "weight_decay value", weight_decay)
        defaults = dict(
            lr=lr,
            rho=rho,
            eps=eps,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: Group, state: dict[str, Any]) -> None:
        state["step"] = torch.tensor(0.0, dtype=scalar_dtype())
        state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["acc_delta"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _single(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        lr, rho, eps, wd = group["lr"], group["rho"], group["eps"], group["weight_decay"]
        for p, g, state in zip(params, grads, states):
            state["step"] += 1
            g = -g if group["maximize"] else g
            if wd != 0:
                g = g.add(p, alpha=wd)  # g = grad + lambda * w
            square_avg, acc_delta = state["square_avg"], state["acc_delta"]
            square_avg.mul_(rho).addcmul_(g, g, value=1 - rho)  # E[g^2] = rho E[g^2] + (1 - rho) g^2
            std = square_avg.add(eps).sqrt_()  # RMS[g] = sqrt(E[g^2] + eps)
            delta = acc_delta.add(eps).sqrt_().div_(std).mul_(g)  # delta = RMS[delta]_{t-1} / RMS[g] * g
            acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)  # E[d^2] = rho E[d^2] + (1 - rho) d^2
            p.add_(delta, alpha=-lr)  # w = w - lr * delta

    def _foreach(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        lr, rho, eps, wd = group["lr"], group["rho"], group["eps"], group["weight_decay"]
        torch._foreach_add_([s["step"] for s in states], 1)
        square_avgs, acc_deltas = [s["square_avg"] for s in states], [s["acc_delta"] for s in states]
        if group["maximize"]:
            grads = torch._foreach_neg(grads)
        if wd != 0:
            grads = torch._foreach_add(grads, params, alpha=wd)
        torch._foreach_mul_(square_avgs, rho)
        torch._foreach_addcmul_(square_avgs, grads, grads, value=1 - rho)
        std = torch._foreach_add(square_avgs, eps)
        torch._foreach_sqrt_(std)
        deltas = torch._foreach_add(acc_deltas, eps)
        torch._foreach_sqrt_(deltas)
        torch._foreach_div_(deltas, std)
        torch._foreach_mul_(deltas, grads)
        torch._foreach_mul_(acc_deltas, rho)
        torch._foreach_addcmul_(acc_deltas, deltas, deltas, value=1 - rho)
        torch._foreach_add_(params, deltas, alpha=-lr)

    def _fused(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        torch._foreach_add_([s["step"] for s in states], 1)
        _native.call(
            "adadelta",
            [params, grads, [s["square_avg"] for s in states], [s["acc_delta"] for s in states]],
            [],
            float(group["lr"]),
            float(group["rho"]),
            float(group["eps"]),
            float(group["weight_decay"]),
            int(group["maximize"]),
        )
