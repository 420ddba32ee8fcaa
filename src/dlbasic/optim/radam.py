"""RAdam: Adam whose adaptive step is switched on gradually, once the variance of its scale is tractable."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from dlbasic.optim import _native
from dlbasic.optim._base import BaseOptimizer, Group, check_adam_values, check_value, init_adam_state
from dlbasic.optim.adam import foreach_moments


def rectification(beta2: float, t: float) -> tuple[float, float]:
    """(rho_t, r_t): length of the approximated SMA at step t and the variance rectification term.

    r_t is only defined for rho_t > 4; callers use it when rho_t > 5, as torch and the paper do.
    """
    rho_inf = 2 / (1 - beta2) - 1  # maximum length of the approximated SMA
    rho_t = rho_inf - 2 * t * (beta2**t) / (1 - beta2**t)
    if rho_t <= 4:
        return rho_t, math.nan
    r = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
    return rho_t, r


class RAdam(BaseOptimizer):
    r"""RAdam (Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", https://arxiv.org/abs/1908.03265).

    .. math::
        m_t, v_t &\text{ as in Adam}, \qquad \hat m_t = m_t / (1 - \beta_1^t) \\
        \rho_\infty &= 2 / (1 - \beta_2) - 1, \qquad
        \rho_t = \rho_\infty - 2 t \beta_2^t / (1 - \beta_2^t) \\
        r_t &= \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}} \\
        \theta_t &= \theta_{t-1} - \gamma \hat m_t\, r_t \sqrt{1 - \beta_2^t} / (\sqrt{v_t} + \epsilon)
                    \quad \text{if } \rho_t > 5, \text{ else } \theta_{t-1} - \gamma \hat m_t

    The "else" branch is torch's behaviour and the paper code's default (`degenerated_to_sgd=True`);
    with `degenerated_to_sgd=False` the parameters stay put while rho_t <= 5, as in the paper code's
    other option (https://github.com/LiyuanLucasLiu/RAdam); the moments are updated either way.

    Args:
        params: parameters or param groups.
        lr: learning rate gamma.
        betas: (beta1, beta2), decays of the first and second moment averages.
        eps: added to the denominator for numerical stability.
        weight_decay: lambda; L2 penalty, or decoupled decay when `decoupled_weight_decay`.
        decoupled_weight_decay: decay the weights directly, as AdamW does.
        degenerated_to_sgd: take momentum-SGD steps (True) or none (False) while rho_t <= 5.
        maximize: ascend instead of descend.
        foreach: use the torch._foreach_* path.
        fused: use the compiled single-pass kernel.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        *,
        degenerated_to_sgd: bool = True,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        check_adam_values(lr, eps, betas, weight_decay)
        check_value(not capturable, "capturable (CUDA graphs are not supported)", capturable)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            maximize=maximize,
            foreach=foreach,
            capturable=False,
            decoupled_weight_decay=decoupled_weight_decay,
            differentiable=differentiable,
            degenerated_to_sgd=degenerated_to_sgd,
            fused=fused,
        )
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("decoupled_weight_decay", False)
            group.setdefault("degenerated_to_sgd", True)

    def _init_state(self, p: Tensor, group: Group, state: dict[str, Any]) -> None:
        init_adam_state(p, state)

    def _grad(self, group: Group, p: Tensor, g: Tensor) -> Tensor:
        g = -g if group["maximize"] else g
        if group["weight_decay"] != 0:
            if group["decoupled_weight_decay"]:
                p.mul_(1 - group["lr"] * group["weight_decay"])  # w = (1 - lr * lambda) w
            else:
                g = g.add(p, alpha=group["weight_decay"])  # g = grad + lambda * w
        return g

    def _single(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        for p, g, state in zip(params, grads, states):
            state["step"] += 1
            t = state["step"].item()
            g = self._grad(group, p, g)
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg.lerp_(g, 1 - beta1)  # m = beta1 m + (1 - beta1) g
            exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)  # v = beta2 v + (1 - beta2) g^2
            bias_corrected_exp_avg = exp_avg / (1 - beta1**t)  # m_hat = m / (1 - beta1^t)
            rho_t, rect = rectification(beta2, t)
            if rho_t > 5.0:  # variance tractable: adaptive step l_t = sqrt(1 - beta2^t) / (sqrt(v) + eps)
                adaptive_lr = (1 - beta2**t) ** 0.5 / exp_avg_sq.sqrt().add_(eps)
                p.add_(bias_corrected_exp_avg * lr * adaptive_lr * rect, alpha=-1.0)  # w -= lr m_hat r_t l_t
            elif group["degenerated_to_sgd"]:
                p.add_(bias_corrected_exp_avg * lr, alpha=-1.0)  # w -= lr m_hat (momentum SGD)

    def _foreach(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        exp_avgs, exp_avg_sqs, ts = foreach_moments(group, params, grads, states)
        rects = [rectification(beta2, t) for t in ts]
        upd = torch._foreach_div(exp_avgs, [1 - beta1**t for t in ts])
        torch._foreach_mul_(upd, lr)
        on = [i for i, (rho, _) in enumerate(rects) if rho > 5.0]
        if on:
            denom = torch._foreach_sqrt([exp_avg_sqs[i] for i in on])
            torch._foreach_add_(denom, eps)
            torch._foreach_reciprocal_(denom)
            torch._foreach_mul_(denom, [(1 - beta2 ** ts[i]) ** 0.5 for i in on])
            sub = [upd[i] for i in on]
            torch._foreach_mul_(sub, denom)
            torch._foreach_mul_(sub, [rects[i][1] for i in on])
        keep = [i for i, (rho, _) in enumerate(rects) if rho > 5.0 or group["degenerated_to_sgd"]]
        if keep:
            torch._foreach_add_([params[i] for i in keep], [upd[i] for i in keep], alpha=-1.0)

    def _fused(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        lr, (beta1, beta2) = group["lr"], group["betas"]
        steps = [s["step"] for s in states]
        torch._foreach_add_(steps, 1)
        coef: list[float] = []
        for s in steps:
            t = s.item()
            rho_t, rect = rectification(beta2, t)
            mode = 1.0 if rho_t > 5.0 else 0.0 if group["degenerated_to_sgd"] else 2.0
            coef += [1 - beta1**t, rect if mode == 1.0 else 0.0, (1 - beta2**t) ** 0.5, mode]
        tensors = [params, grads, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]]
        _native.call(
            "radam",
            tensors,
            [coef],
            float(lr),
            float(beta1),
            float(beta2),
            float(group["eps"]),
            float(group["weight_decay"]),
            int(group["decoupled_weight_decay"]),
            int(group["maximize"]),
        )
