"""Semantic segmentation metrics from one confusion matrix: pixel accuracy, per-class IoU, mean IoU.

Long et al., "Fully Convolutional Networks for Semantic Segmentation", CVPR 2015
(https://arxiv.org/abs/1411.4038), section 5: with n_ij the pixels of class i predicted as j and
t_i = sum_j n_ij, pixel accuracy = sum_i n_ii / sum_i t_i and IoU_i = n_ii / (t_i + sum_j n_ji - n_ii).
Rows are the truth and columns the prediction, as in `sklearn.metrics.confusion_matrix`.
"""

from __future__ import annotations

import torch
from torch import Tensor

IGNORE_INDEX = 255  # void pixels (VOC's convention): counted nowhere


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int | None = IGNORE_INDEX) -> Tensor:
    """Pixel counts Tensor[K, K] int64, `cm[i, j]` = pixels of true class i predicted as j.

    Args:
        pred: predicted class ids, any shape (e.g. Tensor[N, H, W]).
        target: true class ids, same shape; pixels equal to `ignore_index` are skipped.

    >>> confusion_matrix(torch.tensor([0, 1, 1, 0]), torch.tensor([0, 1, 0, 255]), 2).tolist()
    [[1, 1], [0, 1]]
    """
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    keep = (target >= 0) & (target < num_classes)
    if ignore_index is not None:
        keep &= target != ignore_index
    index = target[keep] * num_classes + pred[keep].clamp(0, num_classes - 1)
    return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)


def confusion_at_labels(
    pred: Tensor, labels: list[Tensor], num_classes: int, ignore_index: int | None = IGNORE_INDEX
) -> Tensor:
    """`confusion_matrix` summed over images at each label's own resolution: every prediction Tensor[h, w] (of
    pred Tensor[N, h, w]) is resized with nearest neighbour to its label's H x W (sizes may differ by image)."""
    import torch.nn.functional as F

    cm = torch.zeros(num_classes, num_classes, dtype=torch.long)
    for p, y in zip(pred, labels):
        if p.shape != y.shape:
            p = F.interpolate(p[None, None].float(), size=tuple(y.shape), mode="nearest")[0, 0].long()
        cm += confusion_matrix(p, y, num_classes, ignore_index)
    return cm


def iou_per_class(cm: Tensor) -> Tensor:
    """IoU_i = n_ii / (t_i + sum_j n_ji - n_ii) as Tensor[K] float64; NaN for a class absent from truth and
    prediction."""
    cm = cm.double()
    tp = cm.diag()
    union = cm.sum(1) + cm.sum(0) - tp
    return torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, float("nan")))


def mean_iou(cm: Tensor) -> float:
    """Mean of the per-class IoUs over the classes that occur (NaNs skipped)."""
    iou = iou_per_class(cm)
    present = ~iou.isnan()
    return float(iou[present].mean()) if present.any() else float("nan")


def pixel_accuracy(cm: Tensor) -> float:
    """Share of the counted pixels whose prediction is right: trace / sum."""
    total = cm.sum()
    return float(cm.diag().sum().double() / total) if total > 0 else float("nan")


def scores(cm: Tensor, classes: list[str] | None = None) -> dict[str, object]:
    """Pixel accuracy, mean IoU and per-class IoU (by class name) of a confusion matrix."""
    names = classes or [str(i) for i in range(cm.shape[0])]
    iou = iou_per_class(cm)
    return {
        "pixel_accuracy": pixel_accuracy(cm),
        "mean_iou": mean_iou(cm),
        "iou": {n: float(v) for n, v in zip(names, iou.tolist())},
    }


__all__ = [
    "IGNORE_INDEX",
    "confusion_at_labels",
    "confusion_matrix",
    "iou_per_class",
    "mean_iou",
    "pixel_accuracy",
    "scores",
]
