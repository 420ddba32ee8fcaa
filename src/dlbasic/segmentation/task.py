"""The Trainer's segmentation task: per-pixel cross entropy, and a confusion matrix summed over batches.

Targets are masks Tensor[B, H, W] of class ids; pixels equal to `ignore_index` count in neither the loss
nor the metrics. Summing confusion matrices (not per-batch IoUs) gives the dataset's IoU exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlbasic.segmentation.metrics import IGNORE_INDEX, confusion_matrix, mean_iou, pixel_accuracy
from dlbasic.training.tasks import Task


class SegmentationTask(Task):
    """Args:
    num_classes: K, the channels of the model's output Tensor[B, K, H, W].
    ignore_index: mask value of void pixels.
    """

    monitor = "val_mean_iou"  # picks best.pt
    mode = "max"

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX):
        self.num_classes, self.ignore_index = num_classes, ignore_index

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Mean cross entropy over the counted pixels; logits Tensor[B, K, H, W], targets Tensor[B, H, W]."""
        return F.cross_entropy(logits.float(), targets, ignore_index=self.ignore_index)

    def loss_count(self, targets: Tensor) -> Tensor:
        """The pixels the loss is a mean over: those not `ignore_index` (so processes' shares weigh by pixels)."""
        return (targets != self.ignore_index).sum()

    @torch.no_grad()
    def metrics(self, logits: Tensor, targets: Tensor) -> dict[str, Tensor]:
        """{'confusion': the batch's confusion matrix Tensor[K, K] of argmax predictions, void pixels skipped};
        summed over batches it is the dataset's."""
        return {"confusion": confusion_matrix(logits.argmax(1), targets, self.num_classes, self.ignore_index)}

    @staticmethod
    def summarize(sums: dict, count: int) -> dict[str, float]:
        """Pixel accuracy (trace / sum) and mean IoU (per class TP / (TP + FP + FN), averaged over the classes that
        occur) of the summed confusion matrix; `count` is unused, and no confusion matrix gives no metrics.
        """
        cm = sums.get("confusion")
        if not isinstance(cm, Tensor):
            return {}
        return {"pixel_accuracy": pixel_accuracy(cm), "mean_iou": mean_iou(cm)}


@torch.no_grad()
def predict_masks(model: nn.Module, images: Tensor, mean: Tensor, std: Tensor, batch_size: int = 64) -> Tensor:
    """Class ids Tensor[N, H, W] for images Tensor[N, C, H, W] in [0, 1] (normalized with mean/std Tensor[C])."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size].to(device)
        x = (x - mean.view(1, -1, 1, 1).to(x)) / std.view(1, -1, 1, 1).to(x)
        out.append(model(x).argmax(1).cpu())
    return torch.cat(out) if out else torch.empty(0, *images.shape[-2:], dtype=torch.long)


RESOLUTIONS = ("labels", "training-size")  # where `evaluate_masks` measures


def evaluate_masks(model: nn.Module, data, stats=None, at: str = "labels") -> dict[str, object]:
    """Pixel accuracy, mIoU and per-class IoU of `model` on a `MaskDataset` (normalized with `stats`' mean/std).

    `at="labels"` (the default) measures at each label's own resolution (`data.full_labels`, where the images
    were resized for training: predictions resized with nearest neighbour); `"training-size"` on the masks as
    trained. Returns the scores, `confusion`, `pred` (at the training size), `resolution` (in words) and
    `at_training_size` (the scores there)."""
    from dlbasic.segmentation.metrics import confusion_at_labels, scores

    if at not in RESOLUTIONS:
        raise ValueError(f"at must be one of {RESOLUTIONS}, got {at!r}")
    stats = stats or data
    ignore = data.info.get("ignore_index", IGNORE_INDEX)
    pred = predict_masks(model, data.images, stats.mean, stats.std)
    cm_train = confusion_matrix(pred, data.labels, data.num_classes, ignore)
    full = getattr(data, "full_labels", None)
    if at == "labels" and full is not None:
        cm, resolution = confusion_at_labels(pred, full, data.num_classes, ignore), "the labels' own resolution"
    else:
        h, w = data.labels.shape[-2:]
        cm, resolution = cm_train, "the labels' own resolution" if full is None else f"the training size {w}x{h}"
    train_scores = {k: v for k, v in scores(cm_train, data.classes).items() if k != "iou"}
    return {
        **scores(cm, data.classes),
        "confusion": cm,
        "pred": pred,
        "resolution": resolution,
        "at_training_size": train_scores,
    }


class MaskAugment:
    """Batch transform moving masks with the pixels (`Augment.apply(..., masks=)`); pixels from outside the
    image become `ignore_index`."""

    def __init__(self, augment, ignore_index: int = IGNORE_INDEX):
        self.augment = augment
        self.augment.mask_fill = ignore_index

    def __call__(self, x: Tensor, y: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        out = self.augment.apply(x, generator, masks=y)
        return out["image"], out["masks"]


__all__ = ["RESOLUTIONS", "MaskAugment", "SegmentationTask", "evaluate_masks", "predict_masks"]
