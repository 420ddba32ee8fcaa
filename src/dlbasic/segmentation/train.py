"""From a `TrainConfig` to a trained segmentation run: masks as labels, `SegmentationTask`, mIoU summary.

The same run folder as `dlbasic train` (config.yaml, metrics.jsonl, checkpoint.pt for exact resume,
best.pt by validation mean IoU, summary.json) plus `overlays.png` of test images.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from dlbasic.callbacks import Callback
from dlbasic.checkpoint import atomic_write_text
from dlbasic.config import TrainConfig, segmentation_config
from dlbasic.data import ImageDataset
from dlbasic.data.transforms import Augment
from dlbasic.errors import check
from dlbasic.segmentation.data import load_segmentation
from dlbasic.segmentation.overlay import save_overlays
from dlbasic.segmentation.task import MaskAugment, SegmentationTask
from dlbasic.training import run
from dlbasic.training.restore import load_checkpoint
from dlbasic.training.run import RunData, build_trainer, check_run_dir, fit_in_run_dir, hold_run_dir
from dlbasic.training.trainer import Trainer


def model_meta(cfg: TrainConfig, data: ImageDataset) -> dict[str, Any]:
    """The classification meta, plus the void label masks may hold."""
    return {**run.model_meta(cfg, data), "kind": "segmentation", "ignore_index": data.info["ignore_index"]}


def _transforms(cfg: TrainConfig, ignore_index: int) -> list:
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
    return [MaskAugment(Augment.from_spec(cfg.augment), ignore_index)] if cfg.augment else []


def train_segmentation(
    cfg: TrainConfig,
    run_dir: str | Path | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: list[Callback] | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Train as `cfg` says; returns the summary (test pixel accuracy, mIoU, per-class IoU, history, model)."""
    run_path = Path(run_dir) if run_dir is not None else None
    if run_path is not None:
        check_run_dir(run_path, overwrite, resume)
    with hold_run_dir(run_path):  # one process at a time in the run folder, from here to its summary
        cfg.validate()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        data = run.load_data(cfg, load_segmentation)
        ignore = data.train.info["ignore_index"]
        trainer = build_trainer(
            cfg,
            data.train,
            data.val,
            task=SegmentationTask(data.train.num_classes, ignore),
            transforms=_transforms(cfg, ignore),
            callbacks=callbacks or (),
            run_dir=run_path,
            meta=model_meta(cfg, data.train),
            progress=progress,
            eval_batch_size=min(cfg.eval_batch_size, 64),
        )
        history = fit_in_run_dir(trainer, cfg, run_path, command="segment train", overwrite=overwrite, resume=resume)
        return finish(trainer, data, history, run_path)


def finish(trainer: Trainer, data: RunData, history: list[dict[str, Any]], run_dir: Path | None) -> dict[str, Any]:
    """Score the final model on the test split once; write summary.json and overlays.png."""
    test = evaluate_model(trainer.model, data.test, data.train)
    seconds = sum(h["train_seconds"] for h in history)
    last = history[-1] if history else {}
    summary = {
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
        "epochs": len(history),
        "steps": trainer.global_step,
        "seconds": seconds,
        "images_per_second": sum(h["images_per_second"] * h["train_seconds"] for h in history) / max(seconds, 1e-9),
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
        "train_images": len(data.train),
        "val_images": len(data.val),
        "test_images": len(data.test),
        "test_split": data.test.info.get("test", ""),
    }
    if run_dir is not None:
        atomic_write_text(json.dumps(summary, indent=2) + "\n", run_dir / "summary.json")
        n = min(6, len(data.test))
        save_overlays(
            run_dir / "overlays.png",
            data.test.images[:n],
            data.test.labels[:n],
            test["pred"][:n],
            data.test.classes,
            data.test.info["ignore_index"],
        )
    summary["history"] = history
    summary["model"] = trainer.model
    return summary


def evaluate_model(
    model: torch.nn.Module, data: ImageDataset, stats: ImageDataset | None = None, at: str = "labels"
) -> dict[str, Any]:
    """Confusion matrix, pixel accuracy, mIoU and per-class IoU of `model` on `data` (normalized with `stats`),
    at the labels' own resolution or the training size (`dlbasic.segmentation.task.evaluate_masks`)."""
    from dlbasic.segmentation.task import evaluate_masks

    return evaluate_masks(model, data, stats, at)


def model_from_checkpoint(path: str | Path, action: str = "eval") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the segmentation model of a `best.pt`/`checkpoint.pt` and load its weights (eval mode).

    `UserError` for a checkpoint of another kind (naming `dlbasic ... <action>` for it), incomplete
    metadata, or weights that do not fit the model.
    """
    from dlbasic.training.restore import build_from_meta, check_meta, load_weights, require_kind

    ckpt = load_checkpoint(path)
    require_kind(ckpt, path, "segmentation", action)
    meta = check_meta(ckpt.get("meta"), path, "dlbasic segment train")
    model = build_from_meta(meta, path)
    load_weights(model, ckpt["model"], path, meta["model"])
    return model.eval(), meta


__all__ = ["evaluate_model", "model_from_checkpoint", "segmentation_config", "train_segmentation"]
