"""Adam and AdamW: momentum plus RMSprop with bias correction (torch.optim.Adam/AdamW's contract)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from dlbasic.optim import _native
from dlbasic.optim._base import BaseOptimizer, Group, check_adam_values, check_value, init_adam_state


class Adam(BaseOptimizer):
    r"""Adam (Kingma and Ba, https://arxiv.org/abs/1412.6980); AMSGrad (Reddi et al., https://openreview.net/forum?id=ryQu7f-RZ).

    .. math::
        g_t &= \nabla f(\theta_{t-1}) + \lambda \theta_{t-1} \quad
               (\text{decoupled: } \theta_{t-1} \leftarrow (1 - \gamma\lambda)\theta_{t-1}) \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \hat v_t &= \max(\hat v_{t-1}, v_t) \text{ if amsgrad else } v_t \\
        \theta_t &= \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t}\,
                    \frac{m_t}{\sqrt{\hat v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    Args:
        params: parameters or param groups.
        lr: learning rate gamma.
        betas: (beta1, beta2), decays of the first and second moment averages.
        eps: added to the denominator for numerical stability.
        weight_decay: lambda; an L2 penalty, or decoupled decay when `decoupled_weight_decay`.
        amsgrad: divide by the running maximum of v.
        maximize: ascend instead of descend.
        foreach: use the torch._foreach_* path.
        fused: use the compiled single-pass kernel.
        decoupled_weight_decay: AdamW's decay (Loshchilov and Hutter, https://arxiv.org/abs/1711.05101).
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ):
        check_adam_values(lr, eps, betas, weight_decay)
        check_value(not capturable, "capturable (CUDA graphs are not supported)", capturable)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            foreach=foreach,
            capturable=False,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("decoupled_weight_decay", False)

    def _init_state(self, p: Tensor, group: Group, state: dict[str, Any]) -> None:
        init_adam_state(p, state)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _single(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        for p, g, state in zip(params, grads, states):
            state["step"] += 1
            t = state["step"].item()
            g = -g if group["maximize"] else g
            if wd != 0:
                if group["decoupled_weight_decay"]:
                    p.mul_(1 - lr * wd)  # AdamW: w = (1 - lr * lambda) w
                else:
                    g = g.add(p, alpha=wd)  # g = grad + lambda * w
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg.lerp_(g, 1 - beta1)  # m = beta1 m + (1 - beta1) g
            exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)  # v = beta2 v + (1 - beta2) g^2
            step_size = lr / (1 - beta1**t)  # lr / (1 - beta1^t): m_hat = m / (1 - beta1^t)
            bias_correction2_sqrt = (1 - beta2**t) ** 0.5  # v_hat = v / (1 - beta2^t)
            if group["amsgrad"]:
                torch.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
                exp_avg_sq = state["max_exp_avg_sq"]  # v_hat = max(v_hat_prev, v)
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)  # sqrt(v_hat) + eps
            p.addcdiv_(exp_avg, denom, value=-step_size)  # w = w - lr m_hat / (sqrt(v_hat) + eps)

    def _foreach(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        exp_avgs, exp_avg_sqs, ts = foreach_moments(group, params, grads, states)
        if group["amsgrad"]:
            max_sqs = [s["max_exp_avg_sq"] for s in states]
            torch._foreach_maximum_(max_sqs, exp_avg_sqs)
            exp_avg_sqs = max_sqs
        denom = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denom, [(1 - beta2**t) ** 0.5 for t in ts])
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(params, exp_avgs, denom, [-lr / (1 - beta1**t) for t in ts])

    def _state_keys(self, group: Group) -> tuple[str, ...]:
        return (
            ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
            if group["amsgrad"]
            else ("step", "exp_avg", "exp_avg_sq")
        )

    def _launch(self, group: Group, args: _native.Args, states: list[dict], extra: None) -> None:
        # the kernel counts the step and computes lr / (1 - beta1^t) and sqrt(1 - beta2^t) as `_single` does
        S = args.S
        _native.kernel("adam", args.dtype)(
            args.n,
            args.P,
            args.G,
            S["exp_avg"],
            S["exp_avg_sq"],
            S.get("max_exp_avg_sq", S["exp_avg_sq"]),
            args.N,
            *_native.step_counts(args, states),
            *_native.doubles(group["lr"], *group["betas"], group["eps"], group["weight_decay"]),
            *_native.ints(
                group["amsgrad"], group["decoupled_weight_decay"], group["maximize"], torch.get_num_threads()
            ),
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, https://arxiv.org/abs/1711.05101).

    Same arguments as `Adam` without `decoupled_weight_decay`; `weight_decay` defaults to 1e-2.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


def foreach_moments(
    group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]
) -> tuple[list[Tensor], list[Tensor], list[float]]:
    """The Adam family's shared foreach steps: count the step, (decoupled) weight decay, update m and v.

    Returns the first moments m, the second moments v and the step numbers t (after this step).
    """
    lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
    steps = [s["step"] for s in states]
    torch._foreach_add_(steps, 1)
    exp_avgs, exp_avg_sqs = [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]
    if group["maximize"]:
        grads = torch._foreach_neg(grads)
    if wd != 0:
        if group["decoupled_weight_decay"]:
            torch._foreach_mul_(params, 1 - lr * wd)  # w = w - lr wd w
        else:
            grads = torch._foreach_add(grads, params, alpha=wd)  # g = g + wd w
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)  # m = beta1 m + (1 - beta1) g
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)  # v = beta2 v + (1 - beta2) g^2
    return exp_avgs, exp_avg_sqs, [s.item() for s in steps]
