"""RMSprop: divide by a running root-mean-square of the gradients (torch.optim.RMSprop's contract)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from dlbasic.optim import _native
from dlbasic.optim._base import BaseOptimizer, Group, check_value, scalar_dtype


class RMSprop(BaseOptimizer):
    r"""RMSprop (Hinton, Coursera lecture 6e, https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf).

    .. math::
        g_t &= \nabla f(\theta_{t-1}) + \lambda \theta_{t-1}, \qquad
        v_t = \alpha v_{t-1} + (1 - \alpha) g_t^2 \\
        \bar g_t &= \alpha \bar g_{t-1} + (1 - \alpha) g_t, \qquad
        s_t = \sqrt{v_t - \bar g_t^2} \text{ if centered else } \sqrt{v_t} \\
        b_t &= \mu b_{t-1} + g_t / (s_t + \epsilon), \qquad \theta_t = \theta_{t-1} - \gamma b_t

    With `momentum=0`: theta_t = theta_{t-1} - gamma g_t / (s_t + eps). The centered form is from
    Graves 2013 (https://arxiv.org/abs/1308.0850).

    Args:
        params: parameters or param groups.
        lr: learning rate gamma.
        alpha: decay of the running averages.
        eps: added to the root for numerical stability.
        weight_decay: lambda, L2 penalty added to the gradient.
        momentum: mu; 0 disables the buffer.
        centered: normalize by the estimated variance instead of the second moment.
        maximize: ascend instead of descend.
        foreach: use the torch._foreach_* path.
        fused: use the compiled single-pass kernel.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        check_value(lr >= 0.0, "learning rate", lr)
        check_value(eps >= 0.0, "epsilon value", eps)
        check_value(momentum >= 0.0, "momentum value", momentum)
        check_value(weight_decay >= 0.0, "weight_decay value", weight_decay)
        check_value(alpha >= 0.0, "alpha value", alpha)
        check_value(not capturable, "capturable (CUDA graphs are not supported)", capturable)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            alpha=alpha,
            eps=eps,
            centered=centered,
            weight_decay=weight_decay,
            capturable=False,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: Group, state: dict[str, Any]) -> None:
        state["step"] = torch.tensor(0.0, dtype=scalar_dtype())
        state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["momentum"] > 0:
            state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["centered"]:
            state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _single(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        mu, wd = group["momentum"], group["weight_decay"]
        for p, g, state in zip(params, grads, states):
            state["step"] += 1
            g = -g if group["maximize"] else g
            if wd != 0:
                g = g.add(p, alpha=wd)  # g = grad + lambda * w
            square_avg = state["square_avg"]
            square_avg.mul_(alpha).addcmul_(g, g, value=1 - alpha)  # v = alpha v + (1 - alpha) g^2
            if group["centered"]:
                grad_avg = state["grad_avg"]
                grad_avg.lerp_(g, 1 - alpha)  # g_bar = alpha g_bar + (1 - alpha) g
                avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()  # sqrt(v - g_bar^2)
            else:
                avg = square_avg.sqrt()  # sqrt(v)
            avg = avg.add_(eps)
            if mu > 0:
                buf = state["momentum_buffer"]
                buf.mul_(mu).addcdiv_(g, avg)  # b = mu b + g / (s + eps)
                p.add_(buf, alpha=-lr)  # w = w - lr b
            else:
                p.addcdiv_(g, avg, value=-lr)  # w = w - lr g / (s + eps)

    def _foreach(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        mu, wd = group["momentum"], group["weight_decay"]
        torch._foreach_add_([s["step"] for s in states], 1)
        square_avgs = [s["square_avg"] for s in states]
        if group["maximize"]:
            grads = torch._foreach_neg(grads)
        if wd != 0:
            grads = torch._foreach_add(grads, params, alpha=wd)
        torch._foreach_mul_(square_avgs, alpha)
        torch._foreach_addcmul_(square_avgs, grads, grads, value=1 - alpha)
        if group["centered"]:
            grad_avgs = [s["grad_avg"] for s in states]
            torch._foreach_lerp_(grad_avgs, grads, 1 - alpha)
            avg = torch._foreach_addcmul(square_avgs, grad_avgs, grad_avgs, value=-1)
            torch._foreach_sqrt_(avg)
        else:
            avg = torch._foreach_sqrt(square_avgs)
        torch._foreach_add_(avg, eps)
        if mu > 0:
            bufs = [s["momentum_buffer"] for s in states]
            torch._foreach_mul_(bufs, mu)
            torch._foreach_addcdiv_(bufs, grads, avg)
            torch._foreach_add_(params, bufs, alpha=-lr)
        else:
            torch._foreach_addcdiv_(params, grads, avg, value=-lr)

    def _fused(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        torch._foreach_add_([s["step"] for s in states], 1)
        square_avgs = [s["square_avg"] for s in states]
        grad_avgs = [s["grad_avg"] for s in states] if group["centered"] else square_avgs
        bufs = [s["momentum_buffer"] for s in states] if group["momentum"] > 0 else square_avgs
        _native.call(
            "rmsprop",
            [params, grads, square_avgs, grad_avgs, bufs],
            [],
            float(group["lr"]),
            float(group["alpha"]),
            float(group["eps"]),
            float(group["weight_decay"]),
            float(group["momentum"]),
            int(group["centered"]),
            int(group["maximize"]),
        )
