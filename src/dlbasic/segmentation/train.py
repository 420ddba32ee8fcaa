"""Segmentation runs: masks as labels, `SegmentationTask`, a mIoU summary and overlays of test images.

The same run folder as `dlbasic train` (config.yaml, metrics.jsonl, checkpoint.pt for exact resume,
best.pt by validation mean IoU, summary.json) plus `overlays.png`; assembled by the one pipeline of
`dlbasic.training.run`, with what differs in `SegmentationRun`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dlbasic.callbacks import Callback
from dlbasic.config import TrainConfig
from dlbasic.data import ImageDataset
from dlbasic.data.transforms import Augment
from dlbasic.errors import check
from dlbasic.segmentation.config import segmentation_config
from dlbasic.segmentation.data import load_segmentation
from dlbasic.segmentation.overlay import save_overlays
from dlbasic.segmentation.task import MaskAugment, SegmentationTask
from dlbasic.training import run
from dlbasic.training.kinds import RunData, RunKind, load_data, register_kind, run_size, split_sizes
from dlbasic.training.trainer import Trainer


@register_kind
class SegmentationRun(RunKind):
    """A segmentation run of a `TrainConfig`: masks as labels, per-pixel cross entropy, mean IoU, overlays."""

    name = "segmentation"
    command = "segment train"

    def load_data(self, cfg: TrainConfig) -> RunData:
        """The train, val and test splits of images and masks (`load_segmentation`)."""
        return load_data(cfg, load_segmentation)

    def task(self, cfg: TrainConfig, train: ImageDataset) -> SegmentationTask:
        """Per-pixel cross entropy over the classes, void pixels skipped."""
        return SegmentationTask(train.num_classes, train.info["ignore_index"])

    def regularizers(self, cfg: TrainConfig, train: ImageDataset) -> dict[str, list]:
        """Augmentation applied to images and masks alike; the options that mix or smooth class labels, or are not
        wired into segmentation, are refused."""
        check(
            not (cfg.mixup or cfg.cutmix or cfg.label_smoothing),
            "Mixup, CutMix and label smoothing mix class labels and do not apply to masks",
            "leave them off for segmentation",
        )
        check(
            not cfg.input_noise and not cfg.weight_noise and cfg.penalty == "none" and not cfg.early_stopping,
            "noise, explicit penalties and early stopping are not wired into segmentation runs",
            "use --weight-decay and --augment",
        )
        ignore = train.info["ignore_index"]
        transforms = [MaskAugment(Augment.from_spec(cfg.augment), ignore)] if cfg.augment else []
        return {"transforms": transforms, "loss_terms": [], "callbacks": []}

    def run_callbacks(self, cfg: TrainConfig) -> list:
        """None: a segmentation run has no target accuracy."""
        return []

    def eval_batch_size(self, cfg: TrainConfig) -> int:
        """At most 64 masks per evaluation batch (a batch of logits holds K x H x W numbers per image)."""
        return min(cfg.eval_batch_size, 64)

    def meta(self, cfg: TrainConfig, data: RunData) -> dict[str, Any]:
        """The classification metadata, plus the void label masks may hold."""
        return {**super().meta(cfg, data), "ignore_index": data.train.info["ignore_index"]}

    def summary(self, trainer: Trainer, data: RunData, history: list[dict[str, Any]], seconds: float) -> dict:
        """The final model scored once on the test split (pixel accuracy, mIoU, per-class IoU), the last epoch."""
        test = evaluate_model(trainer.model, data.test, data.train)
        self.predicted = test["pred"]
        last = history[-1] if history else {}
        return {
            "status": "finished",
            "test_mean_iou": test["mean_iou"],
            "test_pixel_accuracy": test["pixel_accuracy"],
            "test_iou": test["iou"],
            "test_resolution": test["resolution"],
            "test_at_training_size": test["at_training_size"],
            "val_mean_iou": last.get("val_mean_iou"),
            "train_mean_iou": last.get("train_mean_iou"),
            "train_loss": last.get("train_loss"),
            "best_val_mean_iou": trainer.best,
            **run_size(trainer, history),
            **split_sizes(data),
        }

    def figures(self, trainer: Trainer, data: RunData, summary: dict[str, Any], run_dir: Path) -> None:
        """overlays.png: the first six test images with their true and predicted masks."""
        n = min(6, len(data.test))
        test = data.test
        save_overlays(
            run_dir / "overlays.png",
            test.images[:n],
            test.labels[:n],
            self.predicted[:n],
            test.classes,
            test.info["ignore_index"],
        )


def train_segmentation(
    cfg: TrainConfig,
    run_dir: str | Path | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: list[Callback] | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """`run.train` of a segmentation run; returns the summary (test pixel accuracy, mIoU, per-class IoU), the
    history and the model."""
    return run.train(
        cfg,
        run_dir,
        kind="segmentation",
        resume=resume,
        overwrite=overwrite,
        callbacks=callbacks,
        progress=progress,
    )


def evaluate_model(
    model: torch.nn.Module, data: ImageDataset, stats: ImageDataset | None = None, at: str = "labels"
) -> dict[str, Any]:
    """Confusion matrix, pixel accuracy, mIoU and per-class IoU of `model` on `data` (normalized with `stats`),
    at the labels' own resolution or the training size (`dlbasic.segmentation.task.evaluate_masks`)."""
    from dlbasic.segmentation.task import evaluate_masks

    return evaluate_masks(model, data, stats, at)


__all__ = ["SegmentationRun", "evaluate_model", "segmentation_config", "train_segmentation"]
