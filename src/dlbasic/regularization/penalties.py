"""Parameter norm penalties and weight-decay parameter groups.

Goodfellow, Bengio & Courville, "Deep Learning", section 7.1, 2016: the L2 penalty
Omega(w) = 1/2 ||w||_2^2 adds lambda * w to the gradient (coupled weight decay, what `weight_decay` does in
SGD and Adam); the L1 penalty Omega(w) = ||w||_1 adds lambda * sign(w) and drives weights to exactly zero.
Loshchilov & Hutter, "Decoupled Weight Decay Regularization", 2017, https://arxiv.org/abs/1711.05101:
with adaptive optimizers the two differ; AdamW shrinks w <- w - lr * lambda * w outside the adaptive step.

Biases and normalization scales/shifts are usually left undecayed: they are few, they do not control
the capacity the way weight matrices do, and decaying a norm scale fights the normalization. They are
recognised as the parameters with fewer than two dimensions, as timm's `param_groups_weight_decay` does.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from dlbasic.errors import check, did_you_mean

PENALTIES = ("l1", "l2")


def is_norm_or_bias(name: str, param: Tensor) -> bool:
    """True for biases and normalization parameters: 1-D (or scalar) tensors, or names ending in '.bias'."""
    return param.dim() <= 1 or name.endswith(".bias") or name == "bias"


def decayed_parameters(model: nn.Module, exclude_norm_and_bias: bool = True) -> list[Tensor]:
    """The trainable parameters a penalty or weight decay applies to."""
    return [
        p
        for n, p in model.named_parameters()
        if p.requires_grad and not (exclude_norm_and_bias and is_norm_or_bias(n, p))
    ]


def l1_penalty(params: Iterable[Tensor]) -> Tensor:
    """sum_i |w_i| over all given parameters."""
    terms = [p.abs().sum() for p in params]
    return torch.stack(terms).sum() if terms else torch.zeros(())


def l2_penalty(params: Iterable[Tensor]) -> Tensor:
    """1/2 sum_i w_i^2, so lambda * l2_penalty adds exactly lambda * w to the gradient (= weight_decay)."""
    terms = [p.pow(2).sum() for p in params]
    return 0.5 * torch.stack(terms).sum() if terms else torch.zeros(())


class Penalty:
    """An explicit penalty term for the loss: `loss = data_loss + Penalty(kind, strength)(model)`.

    Args:
        kind: "l1" or "l2".
        strength: lambda, multiplies the penalty.
        exclude_norm_and_bias: leave biases and normalization parameters out.
    """

    def __init__(self, kind: str = "l2", strength: float = 1e-4, exclude_norm_and_bias: bool = True):
        check(kind in PENALTIES, f"unknown penalty {kind!r}", did_you_mean(kind, PENALTIES))
        check(strength >= 0, f"penalty strength must be >= 0, got {strength}")
        self.kind, self.strength, self.exclude_norm_and_bias = kind, strength, exclude_norm_and_bias

    def __call__(self, model: nn.Module) -> Tensor:
        params = decayed_parameters(model, self.exclude_norm_and_bias)
        value = l1_penalty(params) if self.kind == "l1" else l2_penalty(params)
        return self.strength * value

    def __repr__(self) -> str:
        return f"Penalty({self.kind!r}, strength={self.strength}, exclude_norm_and_bias={self.exclude_norm_and_bias})"


def param_groups(model: nn.Module, weight_decay: float, exclude_norm_and_bias: bool = True) -> list[dict]:
    """Optimizer parameter groups: one with `weight_decay`, one with 0 for biases and norm parameters.

    Works for coupled decay (SGD, Adam: `weight_decay` in the gradient) and decoupled decay (AdamW) alike;
    the optimizer decides which. Empty groups are left out.
    """
    check(weight_decay >= 0, f"weight decay must be >= 0, got {weight_decay}")
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if exclude_norm_and_bias and is_norm_or_bias(name, p) else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


__all__ = [
    "PENALTIES",
    "Penalty",
    "decayed_parameters",
    "is_norm_or_bias",
    "l1_penalty",
    "l2_penalty",
    "param_groups",
]
