"""Label smoothing and the cross entropy against soft targets.

Szegedy, Vanhoucke, Ioffe, Shlens & Wojna, "Rethinking the Inception Architecture for Computer Vision"
(section 7, label-smoothing regularization), 2015, https://arxiv.org/abs/1512.00567

The smoothed target for class k of K is q'(k) = (1 - eps) * [k = y] + eps / K. The cross entropy against it,
-sum_k q'(k) log p(k), is what `F.cross_entropy(..., label_smoothing=eps)` computes, which is the oracle
of the tests. Soft targets (from Mixup/CutMix) go through the same `soft_target_cross_entropy`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _check_eps(smoothing: float) -> None:
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"label smoothing must be in [0, 1), got {smoothing}")


def smooth_targets(target: Tensor, smoothing: float) -> Tensor:
    """Smooth soft targets Tensor[B, K]: (1 - eps) * target + eps / K."""
    _check_eps(smoothing)
    return target * (1.0 - smoothing) + smoothing / target.shape[-1]


def smooth_one_hot(
    target: Tensor, num_classes: int, smoothing: float = 0.0, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Tensor[B] int64 labels -> Tensor[B, num_classes] smoothed one-hot targets.

    >>> smooth_one_hot(torch.tensor([0, 2]), 3, smoothing=0.3)
    tensor([[0.8000, 0.1000, 0.1000],
            [0.1000, 0.1000, 0.8000]])
    """
    one_hot = F.one_hot(target, num_classes).to(dtype)
    return smooth_targets(one_hot, smoothing)


def to_soft_targets(
    target: Tensor, num_classes: int, smoothing: float = 0.0, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Hard labels Tensor[B] -> smoothed one-hot; soft targets Tensor[B, K] are smoothed as they are."""
    if target.dim() == 1:
        return smooth_one_hot(target, num_classes, smoothing, dtype)
    if target.shape[-1] != num_classes:
        raise ValueError(f"soft targets have {target.shape[-1]} classes, expected {num_classes}")
    return smooth_targets(target.to(dtype), smoothing)


def soft_target_cross_entropy(logits: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Cross entropy -sum_k target_k * log_softmax(logits)_k per sample.

    Args:
        logits: Tensor[B, K].
        target: Tensor[B, K] soft targets (rows summing to 1), or Tensor[B] int64 labels (then this is
            plain `F.cross_entropy`).
        reduction: "mean", "sum" or "none".
    """
    if target.dim() == 1:
        return F.cross_entropy(logits, target, reduction=reduction)
    loss = -(target * F.log_softmax(logits, dim=-1)).sum(-1)  # (B,)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"unknown reduction {reduction!r}")


class LabelSmoothingCrossEntropy(nn.Module):
    """Cross entropy with label smoothing `smoothing` applied to hard labels.

    Soft targets Tensor[B, K] are used as given: a batch transform that produced them (`Mix`) applies the
    smoothing itself (its `label_smoothing` argument), so it is never applied twice.
    """

    def __init__(self, smoothing: float = 0.1, reduction: str = "mean"):
        super().__init__()
        _check_eps(smoothing)
        self.smoothing, self.reduction = smoothing, reduction

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Cross entropy of logits Tensor[B, K] and labels Tensor[B] (smoothed here) or soft targets Tensor[B, K]."""
        if target.dim() == 1:
            target = smooth_one_hot(target, logits.shape[-1], self.smoothing, logits.dtype)
        return soft_target_cross_entropy(logits, target, self.reduction)

    def extra_repr(self) -> str:
        """The settings shown in the module's repr."""
        return f"smoothing={self.smoothing}"


__all__ = [
    "LabelSmoothingCrossEntropy",
    "smooth_one_hot",
    "smooth_targets",
    "soft_target_cross_entropy",
    "to_soft_targets",
]
