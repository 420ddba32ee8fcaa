"""The Trainer's detection task, and detection images batched for it.

A detector computes its own losses in training mode, `model(images, targets) -> {"loss_...": Tensor}`
(as torchvision's detectors do), and returns detections in eval mode. The training loss is the sum
of the parts; each part is also logged (per image, averaged over the epoch). Validation is COCO mAP
over the whole split (`evaluate_detections`), which is not a sum over batches, so the task takes
over `evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from dlbasic.detection.metrics import evaluate_detections
from dlbasic.training.tasks import Task

if TYPE_CHECKING:
    from dlbasic.training.trainer import Trainer


class DetectionData:
    """Detection images Tensor[N, C, H, W] in [0, 1] with one target dict (boxes xyxy, labels) per image; the
    detectors take them as they are (the detection run's Trainer does not normalize)."""

    def __init__(self, images: Tensor, targets: Sequence[dict[str, Tensor]], classes: Sequence[str]):
        self.images, self.targets, self.classes = images, list(targets), list(classes)

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def num_classes(self) -> int:
        """The number of object classes K, `len(classes)` (the background is not one)."""
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        """The channels C of the images."""
        return self.images.shape[1]

    def batch(self, index: Tensor) -> tuple[Tensor, list[dict[str, Tensor]]]:
        """Images Tensor[B, C, H, W] and their targets, for the indices `index` (Tensor[B])."""
        index = index.cpu()
        return self.images[index], [self.targets[i] for i in index.tolist()]


class DetectionTask(Task):
    """Sum of the detector's own losses in training; COCO mAP@[.5:.95] on validation data.

    Under torchrun each process's loss is weighted by its images (`loss_count`, inherited), so DDP's average
    is the image-weighted mean of the processes' losses. For YOLO v1, whose loss parts are sums over images
    divided by the batch's images, that is the global batch's loss exactly. The R-CNN family's losses are
    means over the anchors or regions sampled across the batch (at most `batch_size_per_image` per image):
    the image-weighted mean equals that pooled mean when every image fills its quota, and otherwise weighs
    the samples of images with fewer of them more. Either way not equal to one process of the global batch:
    which anchors and regions are sampled (each process's sampler draws from its own generator, seeded alike
    in every process) and batch-norm statistics (over each process's share, not the global batch).
    """

    monitor = "val_map"
    mode = "max"

    def training_step(self, forward: Callable[..., Any], images: Tensor, targets: Any) -> tuple[Tensor, Any]:
        """The losses of `forward(images, targets)`. An empty batch (a process's empty share of a small last global
        batch) runs one blank image without objects instead, as not every detector takes an empty batch; the
        Trainer weights that loss by 0."""
        device = images.device
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        if len(images) == 0:
            images = images.new_zeros(1, *images.shape[1:])
            targets = [
                {"boxes": torch.zeros(0, 4, device=device), "labels": torch.zeros(0, dtype=torch.long, device=device)}
            ]
        losses = forward(images, targets)
        return sum(losses.values()), losses

    def metrics(self, losses: dict[str, Tensor], targets: Sequence[dict[str, Tensor]]) -> dict[str, Tensor]:
        """Each loss part times the batch's images, so the epoch's summary is a per-image mean."""
        n = len(targets)
        return {k: v.detach().float() * n if n else torch.zeros((), device=v.device) for k, v in losses.items()}

    @staticmethod
    def summarize(sums: dict[str, Any], count: int) -> dict[str, float]:
        """The epoch's per-image mean of each loss part, sum / count (the `loss_` entries of `sums`; a count of
        0 divides by 1)."""
        return {k: float(v) / max(count, 1) for k, v in sums.items() if k.startswith("loss_")}

    @torch.no_grad()
    def evaluate(self, trainer: Trainer, data: DetectionData) -> dict[str, float]:
        """COCO and VOC mAP of the trainer's model on `data` (eval mode, the trainer's precision)."""
        model = trainer.model
        model.eval()
        predictions: list[dict[str, Tensor]] = []
        for start in range(0, len(data), trainer.eval_batch_size):
            x = data.images[start : start + trainer.eval_batch_size].to(trainer.device)
            with trainer.autocast():
                out = model(trainer.prepare(x))
            predictions.extend(
                {k: v.float().cpu() if v.is_floating_point() else v.cpu() for k, v in d.items()} for d in out
            )
        metrics = evaluate_detections(predictions, data.targets)
        return {k: float(metrics[k]) for k in ("map", "map_50", "map_75", "mar_100", "voc_map_50")}


__all__ = ["DetectionData", "DetectionTask"]
