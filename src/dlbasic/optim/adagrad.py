"""Adagrad: per-coordinate learning rates from the sum of squared gradients (torch.optim.Adagrad's API)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from dlbasic.optim import _native
from dlbasic.optim._base import BaseOptimizer, Group, check_value, scalar_dtype


class Adagrad(BaseOptimizer):
    r"""Adagrad (Duchi, Hazan and Singer, JMLR 2011, https://jmlr.org/papers/v12/duchi11a.html).

    .. math::
        g_t &= \nabla f(\theta_{t-1}) + \lambda \theta_{t-1}, \qquad
        \tilde\gamma_t = \gamma / (1 + (t - 1)\,\eta) \\
        G_t &= G_{t-1} + g_t^2 \quad (G_0 = \text{initial\_accumulator\_value}) \\
        \theta_t &= \theta_{t-1} - \tilde\gamma_t\, g_t / (\sqrt{G_t} + \epsilon)

    Args:
        params: parameters or param groups.
        lr: learning rate gamma.
        lr_decay: eta, decays the learning rate with the step count.
        weight_decay: lambda, L2 penalty added to the gradient.
        initial_accumulator_value: starting value of the sum G.
        eps: added to the root for numerical stability.
        maximize: ascend instead of descend.
        foreach: use the torch._foreach_* path.
        fused: use the compiled single-pass kernel.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        check_value(lr >= 0.0, "learning rate", lr)
        check_value(lr_decay >= 0.0, "lr_decay value", lr_decay)
        check_value(weight_decay >= 0.0, "weight_decay value", weight_decay)
        check_value(initial_accumulator_value >= 0.0, "initial_accumulator_value value", initial_accumulator_value)
        check_value(eps >= 0.0, "epsilon value", eps)
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            eps=eps,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)
        # torch creates the state eagerly; doing the same keeps state_dicts identical before step 1
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group, self.state[p])

    def _init_state(self, p: Tensor, group: Group, state: dict[str, Any]) -> None:
        state["step"] = torch.tensor(0.0, dtype=scalar_dtype())
        state["sum"] = torch.full_like(p, group["initial_accumulator_value"], memory_format=torch.preserve_format)

    def _clr(self, group: Group, step: float) -> float:
        return group["lr"] / (1 + (step - 1) * group["lr_decay"])  # lr_t = lr / (1 + (t - 1) * lr_decay)

    def _single(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        for p, g, state in zip(params, grads, states):
            state["step"] += 1
            clr = self._clr(group, state["step"].item())
            g = -g if group["maximize"] else g
            if group["weight_decay"] != 0:
                g = g.add(p, alpha=group["weight_decay"])  # g = grad + lambda * w
            state["sum"].addcmul_(g, g, value=1)  # G = G + g^2
            std = state["sum"].sqrt().add_(group["eps"])  # sqrt(G) + eps
            p.addcdiv_(g, std, value=-clr)  # w = w - lr_t * g / (sqrt(G) + eps)

    def _foreach(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        steps = [s["step"] for s in states]
        torch._foreach_add_(steps, 1)
        sums = [s["sum"] for s in states]
        if group["maximize"]:
            grads = torch._foreach_neg(grads)
        if group["weight_decay"] != 0:
            grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
        torch._foreach_addcmul_(sums, grads, grads, value=1)
        std = torch._foreach_sqrt(sums)
        torch._foreach_add_(std, group["eps"])
        clrs = [-self._clr(group, s.item()) for s in steps]
        torch._foreach_addcdiv_(params, grads, std, clrs)

    def _state_keys(self, group: Group) -> tuple[str, ...]:
        return ("step", "sum")

    def _launch(self, group: Group, args: _native.Args, states: list[dict], extra: None) -> None:
        # the kernel counts the step and computes lr_t as `_clr` does
        _native.kernel("adagrad", args.dtype)(
            args.n,
            args.P,
            args.G,
            args.S["sum"],
            args.N,
            *_native.step_counts(args, states),
            *_native.doubles(group["lr"], group["lr_decay"], group["weight_decay"], group["eps"]),
            *_native.ints(group["maximize"], torch.get_num_threads()),
        )
