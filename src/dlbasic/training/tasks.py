"""What the Trainer optimizes and measures, per kind of problem.

A task supplies `loss(outputs, targets)` and `metrics(outputs, targets)`; the latter returns
sums over the batch (so that epoch means weight every sample equally). Classification is
here; segmentation and detection add their own tasks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dlbasic.regularization.smoothing import soft_target_cross_entropy


class ClassificationTask:
    """Cross entropy on class logits; accuracy against the label (or the soft target's argmax).

    Args:
        label_smoothing: epsilon of label smoothing (Szegedy et al. 2016, arXiv 1512.00567).
    """

    monitor = "val_accuracy"  # the metric that picks best.pt
    mode = "max"

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = label_smoothing

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Cross entropy; soft targets Tensor[B, K] (from Mixup/CutMix, already smoothed there) are used as given."""
        if targets.dtype.is_floating_point:
            return soft_target_cross_entropy(logits.float(), targets)
        return F.cross_entropy(logits.float(), targets, label_smoothing=self.label_smoothing)

    @torch.no_grad()
    def metrics(self, logits: Tensor, targets: Tensor) -> dict[str, Tensor]:
        labels = targets.argmax(1) if targets.dtype.is_floating_point else targets
        return {"correct": (logits.argmax(1) == labels).sum()}

    @staticmethod
    def summarize(sums: dict[str, float], count: int) -> dict[str, float]:
        return {"accuracy": sums["correct"] / max(count, 1)}
