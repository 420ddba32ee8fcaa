"""Stochastic gradient descent with optional heavy-ball or Nesterov momentum (torch.optim.SGD's contract)."""

from __future__ import annotations

import ctypes
from array import array
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from dlbasic.optim import _native
from dlbasic.optim._base import BaseOptimizer, Group, check_value


class SGD(BaseOptimizer):
    r"""Gradient descent, heavy-ball momentum (Polyak, 1964) and Nesterov momentum.

    .. math::
        g_t &= \nabla f(\theta_{t-1}) + \lambda \theta_{t-1} \\
        b_t &= \mu b_{t-1} + (1 - \tau) g_t \quad (b_1 = g_1) \\
        \theta_t &= \theta_{t-1} - \gamma\,(g_t + \mu b_t \text{ if nesterov else } b_t)

    With `momentum=0` this is plain (batch, mini-batch or stochastic) gradient descent.
    Nesterov in this form: Sutskever et al., "On the importance of initialization and momentum in
    deep learning", ICML 2013 (http://proceedings.mlr.press/v28/sutskever13.html).

    Args:
        params: parameters or param groups.
        lr: learning rate gamma.
        momentum: mu; 0 disables the buffer.
        dampening: tau, scales down the new gradient in the buffer.
        weight_decay: lambda, L2 penalty added to the gradient.
        nesterov: look-ahead gradient (needs momentum > 0 and dampening 0).
        maximize: ascend instead of descend.
        foreach: use the torch._foreach_* path.
        fused: use the compiled single-pass kernel.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        check_value(lr >= 0.0, "learning rate", lr)
        check_value(momentum >= 0.0, "momentum value", momentum)
        check_value(weight_decay >= 0.0, "weight_decay value", weight_decay)
        check_value(0.0 <= dampening <= 1.0, "dampening value", dampening)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
            foreach=foreach,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)

    def _init_state(self, p: Tensor, group: Group, state: dict[str, Any]) -> None:
        pass  # torch creates `momentum_buffer` from the first gradient, inside the step

    def _single(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        lr, mu, tau, wd = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
        for p, g, state in zip(params, grads, states):
            g = -g if group["maximize"] else g
            if wd != 0:
                g = g.add(p, alpha=wd)  # g = grad + lambda * w
            if mu != 0:
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = g.detach().clone()  # b_1 = g_1
                else:
                    buf.mul_(mu).add_(g, alpha=1 - tau)  # b = mu * b + (1 - tau) * g
                g = g.add(buf, alpha=mu) if group["nesterov"] else buf  # nesterov: g + mu * b
            p.add_(g, alpha=-lr)  # w = w - lr * update

    def _foreach(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        lr, mu, tau, wd = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
        if group["maximize"]:
            grads = torch._foreach_neg(grads)
        if wd != 0:
            grads = torch._foreach_add(grads, params, alpha=wd)
        if mu != 0:
            fresh = [s.get("momentum_buffer") is None for s in states]
            old = [i for i, f in enumerate(fresh) if not f]
            for i, f in enumerate(fresh):
                if f:
                    states[i]["momentum_buffer"] = grads[i].detach().clone()
            if old:
                bufs = [states[i]["momentum_buffer"] for i in old]
                torch._foreach_mul_(bufs, mu)
                torch._foreach_add_(bufs, [grads[i] for i in old], alpha=1 - tau)
            bufs = [s["momentum_buffer"] for s in states]
            grads = torch._foreach_add(grads, bufs, alpha=mu) if group["nesterov"] else bufs
        torch._foreach_add_(params, grads, alpha=-lr)

    def _state_keys(self, group: Group) -> tuple[str, ...]:
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def _prepare_fused(self, group: Group, params: list[Tensor], states: list[dict]) -> array | None:
        """Create missing momentum buffers (uninitialized: the kernel sets b_1 = g_1); flags them."""
        if group["momentum"] == 0:
            return None
        first = array("i", bytes(4 * len(params)))
        for i, (p, s) in enumerate(zip(params, states)):
            if s.get("momentum_buffer") is None:
                s["momentum_buffer"] = torch.empty_like(p, memory_format=torch.preserve_format)
                first[i] = 1
        return first

    def _launch(self, group: Group, args: _native.Args, states: list[dict], extra: array | None) -> None:
        first = extra if extra is not None else array("i", bytes(4 * args.n.value))
        bufs = args.S.get("momentum_buffer", args.P)  # without momentum the kernel never touches them
        _native.kernel("sgd", args.dtype)(
            args.n,
            args.P,
            args.G,
            bufs,
            args.N,
            ctypes.c_void_p(first.buffer_info()[0]),
            *_native.doubles(group["lr"], group["weight_decay"], group["momentum"], group["dampening"]),
            *_native.ints(group["maximize"], group["nesterov"], torch.get_num_threads()),
        )

    def _fusable(self, p: Tensor, g: Tensor, state: dict[str, Any]) -> bool:
        return _native.eligible(p, g) if state.get("momentum_buffer") is None else super()._fusable(p, g, state)
