"""AdamP and SGDP: remove the radial part of the update of scale-invariant weights.

Paper: Heo et al., "AdamP: Slowing Down the Slowdown for Momentum Optimizers on Scale-invariant
Weights", ICLR 2021 (https://arxiv.org/abs/2006.08217). Defaults, state layout (`step` as an int,
SGDP's buffer named `momentum`) and update order follow the authors' `adamp` package
(https://github.com/clovaai/AdamP), so state_dicts move between the two.

The fused kernels need two passes over a weight with dim > 1: the projection test reads sums over
its rows before any element can be written (see `_projected_kernels.py`); other tensors take one pass.
They take a row (an output channel: all dims but the first) as a block of consecutive elements in any
order, which holds for any dense layout whose first dim is the outermost (contiguous, channels-last);
a weight whose rows interleave (a transposed matrix) goes through the loop.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from dlbasic.optim import _native
from dlbasic.optim._base import BaseOptimizer, Group, check_adam_values, check_value


def project(
    p: Tensor, grad: Tensor, perturb: Tensor, delta: float, wd_ratio: float, eps: float
) -> tuple[Tensor, float]:
    """Remove from `perturb` its component along `p` when `p` looks scale-invariant.

    A weight is taken as scale-invariant, per output channel or as a whole layer, when every cosine
    similarity between its gradient and itself is below delta / sqrt(fan-in): then
    perturb -= p_hat (p_hat . perturb) and weight decay is scaled by `wd_ratio`.

    Returns:
        The (possibly projected) update and the weight-decay ratio to apply (1 or `wd_ratio`).
    """
    expand = [-1] + [1] * (p.dim() - 1)
    # reshape: a copy where the layout is not contiguous (channels-last), where the reference's view fails
    for view in (lambda x: x.reshape(x.size(0), -1), lambda x: x.reshape(1, -1)):  # channel-wise, layer-wise
        pv = view(p)
        cosine = F.cosine_similarity(view(grad), pv, dim=1, eps=eps).abs_()
        if cosine.max() < delta / math.sqrt(pv.size(1)):
            p_n = p / pv.norm(dim=1).view(expand).add_(eps)  # p_hat = p / ||p||
            perturb -= p_n * view(p_n * perturb).sum(dim=1).view(expand)  # u -= p_hat <p_hat, u>
            return perturb, wd_ratio
    return perturb, 1.0


class AdamP(BaseOptimizer):
    r"""Adam with projection of the update off scale-invariant weights.

    .. math::
        m_t, v_t &\text{ as in Adam}, \qquad
        u_t = \frac{m_t}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon}
              \;(\text{nesterov: } \beta_1 m_t + (1 - \beta_1) g_t \text{ on top}) \\
        u_t &\leftarrow u_t - \hat\theta (\hat\theta \cdot u_t), \; r = \text{wd\_ratio}
              \quad \text{if } \max |\cos(g_t, \theta)| < \delta / \sqrt{\dim} \\
        \theta_t &= (1 - \gamma \lambda r)\,\theta_{t-1} - \frac{\gamma}{1 - \beta_1^t} u_t

    Args:
        params: parameters or param groups.
        lr: learning rate gamma.
        betas: (beta1, beta2).
        eps: added to the denominator and the norms.
        weight_decay: lambda, decoupled decay.
        delta: threshold of the cosine test for scale invariance.
        wd_ratio: weight-decay scale for the projected weights.
        nesterov: Nesterov-style first moment.
        foreach: use torch._foreach_* ops for the moment updates.
        fused: use the compiled kernels (two passes over weights with dim > 1, one over the rest).
    """

    tensor_step = False  # the reference package counts steps with a Python int

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        delta: float = 0.1,
        wd_ratio: float = 0.1,
        nesterov: bool = False,
        *,
        foreach: bool | None = None,
        fused: bool | None = None,
    ):
        check_adam_values(lr, eps, betas, weight_decay)
        check_value(delta >= 0.0, "delta value", delta)
        check_value(0.0 <= wd_ratio <= 1.0, "wd_ratio value", wd_ratio)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            delta=delta,
            wd_ratio=wd_ratio,
            nesterov=nesterov,
            foreach=foreach,
            fused=fused,
        )
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: Group, state: dict[str, Any]) -> None:
        state["step"] = 0
        state["exp_avg"] = torch.zeros_like(p)
        state["exp_avg_sq"] = torch.zeros_like(p)

    def _finish(self, group: Group, p: Tensor, g: Tensor, perturb: Tensor, step_size: float) -> None:
        ratio = 1.0
        if p.dim() > 1:
            perturb, ratio = project(p, g, perturb, group["delta"], group["wd_ratio"], group["eps"])
        if group["weight_decay"] > 0:
            p.mul_(1 - group["lr"] * group["weight_decay"] * ratio)  # decoupled decay, scaled if projected
        p.add_(perturb, alpha=-step_size)  # w = w - lr / (1 - beta1^t) * u

    def _single(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        beta1, beta2 = group["betas"]
        for p, g, state in zip(params, grads, states):
            state["step"] += 1
            t = state["step"]
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg.mul_(beta1).add_(g, alpha=1 - beta1)  # m = beta1 m + (1 - beta1) g
            exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)  # v = beta2 v + (1 - beta2) g^2
            denom = (exp_avg_sq.sqrt() / math.sqrt(1 - beta2**t)).add_(group["eps"])  # sqrt(v_hat) + eps
            if group["nesterov"]:
                perturb = (beta1 * exp_avg + (1 - beta1) * g) / denom
            else:
                perturb = exp_avg / denom  # u = m / (sqrt(v_hat) + eps)
            self._finish(group, p, g, perturb, group["lr"] / (1 - beta1**t))

    def _foreach(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        beta1, beta2 = group["betas"]
        for s in states:
            s["step"] += 1
        exp_avgs, exp_avg_sqs = [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]
        torch._foreach_mul_(exp_avgs, beta1)
        torch._foreach_add_(exp_avgs, grads, alpha=1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)
        denom = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denom, [math.sqrt(1 - beta2 ** s["step"]) for s in states])
        torch._foreach_add_(denom, group["eps"])
        if group["nesterov"]:
            num = torch._foreach_mul(exp_avgs, beta1)
            torch._foreach_add_(num, torch._foreach_mul(grads, 1 - beta1))
        else:
            num = exp_avgs
        perturbs = torch._foreach_div(num, denom)
        for p, g, u, s in zip(params, grads, perturbs, states):
            self._finish(group, p, g, u, group["lr"] / (1 - beta1 ** s["step"]))

    def _state_keys(self, group: Group) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq")

    def _fusable(self, p: Tensor, g: Tensor, state: dict[str, Any]) -> bool:
        return rows_outermost(p) and super()._fusable(p, g, state)

    def _prepare_fused(self, group: Group, params: list[Tensor], states: list[dict]) -> array:
        return _rows(params)

    def _launch(self, group: Group, args: _native.Args, states: list[dict], extra: array | None) -> None:
        beta1, beta2 = group["betas"]
        steps = []
        for s in states:
            s["step"] += 1
            steps.append(s["step"])
        if steps.count(steps[0]) == len(steps):  # the usual case: one count for all
            t = steps[0]
            coef = array("d", [group["lr"] / (1 - beta1**t), math.sqrt(1 - beta2**t)]) * len(steps)
        else:
            coef = array("d", [c for t in steps for c in (group["lr"] / (1 - beta1**t), math.sqrt(1 - beta2**t))])
        decay = [
            1 - group["lr"] * group["weight_decay"] * r if group["weight_decay"] > 0 else 1.0
            for r in (1.0, group["wd_ratio"])
        ]  # without and with projection
        _native.kernel("adamp", args.dtype)(
            args.n,
            args.P,
            args.G,
            args.S["exp_avg"],
            args.S["exp_avg_sq"],
            args.N,
            _rows_arg(args, extra),
            _native.address(coef),
            *_native.doubles(beta1, beta2, group["eps"], *decay, group["delta"]),
            *_native.ints(group["nesterov"], torch.get_num_threads()),
        )


class SGDP(BaseOptimizer):
    r"""SGD with momentum and projection of the update off scale-invariant weights.

    .. math::
        b_t &= \mu b_{t-1} + (1 - \tau) g_t \quad (b_0 = 0), \qquad
        u_t = g_t + \mu b_t \text{ if nesterov else } b_t \\
        u_t &\leftarrow u_t - \hat\theta (\hat\theta \cdot u_t), \; r = \text{wd\_ratio}
              \quad \text{if } \max |\cos(g_t, \theta)| < \delta / \sqrt{\dim} \\
        \theta_t &= (1 - \gamma \lambda r / (1 - \mu))\,\theta_{t-1} - \gamma u_t

    Args:
        params: parameters or param groups.
        lr: learning rate gamma (required, as in the reference).
        momentum: mu.
        dampening: tau.
        weight_decay: lambda, decoupled decay (divided by 1 - mu).
        nesterov: look-ahead update.
        eps: added to the norms.
        delta: threshold of the cosine test for scale invariance.
        wd_ratio: weight-decay scale for the projected weights.
        foreach: use torch._foreach_* ops for the buffer updates.
        fused: use the compiled kernels (two passes over weights with dim > 1, one over the rest).
    """

    tensor_step = False

    def __init__(
        self,
        params: Iterable,
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        eps: float = 1e-8,
        delta: float = 0.1,
        wd_ratio: float = 0.1,
        *,
        foreach: bool | None = None,
        fused: bool | None = None,
    ):
        check_value(lr >= 0.0, "learning rate", lr)
        check_value(0.0 <= momentum < 1.0, "momentum value", momentum)
        check_value(0.0 <= dampening <= 1.0, "dampening value", dampening)
        check_value(weight_decay >= 0.0, "weight_decay value", weight_decay)
        check_value(eps >= 0.0, "epsilon value", eps)
        check_value(delta >= 0.0, "delta value", delta)
        check_value(0.0 <= wd_ratio <= 1.0, "wd_ratio value", wd_ratio)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            eps=eps,
            delta=delta,
            wd_ratio=wd_ratio,
            foreach=foreach,
            fused=fused,
        )
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: Group, state: dict[str, Any]) -> None:
        state["momentum"] = torch.zeros_like(p)

    def _finish(self, group: Group, p: Tensor, g: Tensor, d_p: Tensor) -> None:
        ratio = 1.0
        if p.dim() > 1:
            d_p, ratio = project(p, g, d_p, group["delta"], group["wd_ratio"], group["eps"])
        if group["weight_decay"] > 0:  # w = (1 - lr lambda r / (1 - mu)) w
            p.mul_(1 - group["lr"] * group["weight_decay"] * ratio / (1 - group["momentum"]))
        p.add_(d_p, alpha=-group["lr"])  # w = w - lr u

    def _single(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        mu, tau = group["momentum"], group["dampening"]
        for p, g, state in zip(params, grads, states):
            buf = state["momentum"]
            buf.mul_(mu).add_(g, alpha=1 - tau)  # b = mu b + (1 - tau) g
            # u = g + mu b, or b itself: as in the reference, projecting u then also projects the buffer
            d_p = g + mu * buf if group["nesterov"] else buf
            self._finish(group, p, g, d_p)

    def _foreach(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        mu, tau = group["momentum"], group["dampening"]
        bufs = [s["momentum"] for s in states]
        torch._foreach_mul_(bufs, mu)
        torch._foreach_add_(bufs, grads, alpha=1 - tau)
        if group["nesterov"]:
            d_ps = torch._foreach_mul(bufs, mu)
            torch._foreach_add_(d_ps, grads)
        else:
            d_ps = bufs
        for p, g, d_p in zip(params, grads, d_ps):
            self._finish(group, p, g, d_p)

    def _state_keys(self, group: Group) -> tuple[str, ...]:
        return ("momentum",)

    def _fusable(self, p: Tensor, g: Tensor, state: dict[str, Any]) -> bool:
        return rows_outermost(p) and super()._fusable(p, g, state)

    def _prepare_fused(self, group: Group, params: list[Tensor], states: list[dict]) -> array:
        return _rows(params)

    def _launch(self, group: Group, args: _native.Args, states: list[dict], extra: array | None) -> None:
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        decay = [1 - lr * wd * r / (1 - mu) if wd > 0 else 1.0 for r in (1.0, group["wd_ratio"])]
        _native.kernel("sgdp", args.dtype)(
            args.n,
            args.P,
            args.G,
            args.S["momentum"],
            args.N,
            _rows_arg(args, extra),
            *_native.doubles(lr, mu, group["dampening"], *decay, group["delta"], group["eps"]),
            *_native.ints(group["nesterov"], torch.get_num_threads()),
        )


def rows_outermost(p: Tensor) -> bool:
    """True when each output row of `p` (dense) is a block of consecutive elements, as the kernels take it:
    its first dim is the outermost one (contiguous, channels-last), or it has one row, or dim <= 1."""
    if p.dim() <= 1 or p.is_contiguous() or p.size(0) <= 1:
        return True
    return p.stride(0) * p.size(0) == p.numel()


def _rows(params: list[Tensor]) -> array:
    """Output rows of each weight the projection may touch (dim > 1); 0 for the others."""
    return array("i", [p.size(0) if p.dim() > 1 else 0 for p in params])


def _rows_arg(args: _native.Args, rows: array | None) -> Any:
    """The kernel's rows argument: `rows` from a general step, kept with `args` for the planned ones."""
    if rows is not None:
        args.memo["rows"] = rows
    return _native.address(args.memo["rows"])
