"""What the Trainer optimizes and measures, per kind of problem.

A task supplies `training_step(forward, inputs, targets) -> (loss, outputs)` (by default
`loss(forward(inputs), targets)`), `loss_count(targets)` (the terms that loss is a mean over, which
weight the shares of a global batch under torchrun), `metrics(outputs, targets)` (sums over the batch, so that epoch
means weight every sample equally), `summarize(sums, count)` (the epoch's means; NaN, not a KeyError, for
a set that had no batches, so an empty split reads as "not measured"), `monitor`/`mode`
(the validation metric that picks best.pt) and `evaluate(trainer, data)`, the mean over batches unless
the metric is not a sum over batches (detection's mAP). Classification is here; segmentation and
detection add their own tasks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from dlbasic.regularization.smoothing import soft_target_cross_entropy

if TYPE_CHECKING:
    from dlbasic.training.trainer import Trainer


class Task:
    """The protocol, with the training step of a model that maps inputs to outputs scored by `loss`."""

    monitor = "val_loss"
    mode = "min"

    def training_step(self, forward: Callable[..., Any], inputs: Tensor, targets: Any) -> tuple[Tensor, Any]:
        """(loss, outputs) of one training batch; `forward` is the (maybe compiled or DDP-wrapped) model."""
        outputs = forward(inputs)
        return self.loss(outputs, targets), outputs

    def loss(self, outputs: Any, targets: Any) -> Tensor:
        """The scalar training loss of `outputs` against `targets` (a mean over `loss_count(targets)` terms)."""
        raise NotImplementedError

    def loss_count(self, targets: Any) -> int | Tensor:
        """How many terms the training loss is a mean over (here: the batch's samples); the Trainer weights each
        process's share of a global batch by it. `training_step` must also accept an empty batch (count 0)."""
        return len(targets)

    def metrics(self, outputs: Any, targets: Any) -> dict[str, Tensor]:
        """Metric sums over the batch, added up over an epoch and turned into means by `summarize` (none here)."""
        return {}

    @staticmethod
    def summarize(sums: dict[str, Any], count: int) -> dict[str, float]:
        """The epoch's metrics from the summed `metrics` and the number of samples (none here)."""
        return {}

    def evaluate(self, trainer: Trainer, data: Any) -> dict[str, Any]:
        """The metrics of `trainer.model` on `data`: the mean loss and `summarize`d metric sums over its batches
        (`Trainer.mean_over_batches`). A task whose metric is not a sum over batches overrides it."""
        return trainer.mean_over_batches(data)


class ClassificationTask(Task):
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
        """{'correct': how many argmax predictions match the label (or the soft target's argmax)}."""
        labels = targets.argmax(1) if targets.dtype.is_floating_point else targets
        return {"correct": (logits.argmax(1) == labels).sum()}

    @staticmethod
    def summarize(sums: dict[str, float], count: int) -> dict[str, float]:
        """Accuracy over `count` samples; NaN for a set with no batches (no "correct" summed, or no samples)."""
        if "correct" not in sums or count <= 0:
            return {"accuracy": math.nan}
        return {"accuracy": float(sums["correct"]) / count}
