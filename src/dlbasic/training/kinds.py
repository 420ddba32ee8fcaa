"""What each kind of run brings to the one pipeline of `dlbasic.training.run`.

A run is assembled once (`run.build_trainer`, `run.train`, `restore.model_from_checkpoint`); a `RunKind` supplies
what differs by problem: its data, model, default learning rate, task, batch transforms and regularizers, whether
the Trainer normalizes, the metadata that rebuilds its model, its summary and figures. The base class is the
classification run; `dlbasic.segmentation.train` and `dlbasic.detection.train` subclass it and register their kind
under the name a checkpoint's `kind` carries.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlbasic.checkpoint import atomic_write_text
from dlbasic.data import ImageDataset, load, stratified_subset
from dlbasic.data.transforms import Augment
from dlbasic.errors import UserError, did_you_mean
from dlbasic.models import create_model
from dlbasic.optim import create_optimizer
from dlbasic.regularization import EarlyStopping, InputNoise, Mix, Penalty, WeightNoise, param_groups
from dlbasic.training import distributed
from dlbasic.training.restore import build_from_meta, check_meta, load_checkpoint, load_model_state, require_kind
from dlbasic.training.tasks import ClassificationTask, Task
from dlbasic.training.trainer import Trainer


@dataclass
class RunData:
    """The three splits a run uses: trained on, validated on each epoch (best.pt), tested once at the end."""

    train: Any
    val: Any
    test: Any


def load_data(cfg: Any, loader: Callable[..., ImageDataset] = load) -> RunData:
    """The train, val and test splits of `cfg.data` read by `loader` (`data.load`, or `load_segmentation`).

    `cfg.train_subset` keeps that many training images, chosen by a seed of their own: stratified by class
    for image labels, uniformly for masks.
    """
    opts = cfg.split_options()
    train, val, test = (loader(cfg.data, s, **opts) for s in ("train", "val", "test"))
    n = cfg.train_subset
    if n is not None and n < len(train):
        g = torch.Generator().manual_seed(cfg.seed + 2)
        keep = (
            stratified_subset(train.labels, n, cfg.seed + 2)
            if train.labels.dim() == 1
            else torch.randperm(len(train), generator=g)[:n].sort().values
        )
        train = train.subset(keep)
    return RunData(train, val, test)


def model_options(cfg: Any) -> dict[str, Any]:
    """The model constructor options: `model_options` plus `dropout` and `norm` when set."""
    options = dict(cfg.model_options)
    if cfg.dropout is not None:
        options["dropout"] = cfg.dropout
    if cfg.norm is not None:
        options["norm"] = cfg.norm
    return options


def build_model(cfg: Any, data: ImageDataset) -> nn.Module:
    """`cfg.model` from the zoo, sized for `data` (classes, channels, image size), with `model_options(cfg)`."""
    return create_model(
        cfg.model,
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        input_size=data.image_size,
        **model_options(cfg),
    )


def make_optimizer(
    name: str,
    model: nn.Module,
    lr: float | None,
    weight_decay: float,
    momentum: float | None = None,
    decay_norm_and_bias: bool = False,
) -> torch.optim.Optimizer:
    """Optimizer `name` over `model`'s trainable weights; with `weight_decay`, biases and normalization parameters
    go to a group of their own that is not decayed (`param_groups`), unless `decay_norm_and_bias`.

    Decaying the scale and shift of a normalization layer, or a bias, only shrinks what normalization
    makes free again; Goyal et al. 2017 (arXiv 1706.02677) and timm leave them undecayed.
    """
    params = (
        param_groups(model, weight_decay, exclude_norm_and_bias=not decay_norm_and_bias)
        if weight_decay
        else model.parameters()
    )
    return create_optimizer(name, params, lr=lr, momentum=momentum)


def build_optimizer(cfg: Any, model: nn.Module) -> torch.optim.Optimizer:
    """Weight decay goes to the optimizer (coupled, or decoupled for AdamW) unless a penalty term is asked for."""
    decay = cfg.weight_decay if cfg.penalty == "none" else 0.0
    return make_optimizer(cfg.optimizer, model, cfg.lr, decay, cfg.momentum, cfg.decay_norm_and_bias)


def regularizers(cfg: Any, num_classes: int) -> dict[str, list]:
    """Batch transforms, loss terms and callbacks for the regularization options of `cfg`."""
    transforms: list = []
    if cfg.augment:
        transforms.append(Augment.from_spec(cfg.augment))
    if cfg.input_noise:
        transforms.append(InputNoise(cfg.input_noise))
    if cfg.mixup or cfg.cutmix:  # last: it turns labels into soft targets
        transforms.append(
            Mix(
                cfg.mixup,
                cfg.cutmix,
                cfg.mix_prob,
                cfg.mix_switch_prob,
                cfg.mix_per_sample,
                cfg.label_smoothing,
                num_classes,
            )
        )
    loss_terms = (
        [Penalty(cfg.penalty, cfg.weight_decay, exclude_norm_and_bias=not cfg.decay_norm_and_bias)]
        if cfg.penalty != "none" and cfg.weight_decay
        else []
    )
    callbacks: list = []
    if cfg.weight_noise:
        callbacks.append(WeightNoise(cfg.weight_noise, seed=cfg.seed))
    if cfg.early_stopping:
        callbacks.append(EarlyStopping("val_loss", patience=cfg.early_stopping))
    return {"transforms": transforms, "loss_terms": loss_terms, "callbacks": callbacks}


def write_summary(summary: dict[str, Any], run_dir: Path | None) -> None:
    """`run_dir/summary.json` (atomic; the main process only): the one writer of every kind's summary."""
    if run_dir is not None and distributed.is_main():
        atomic_write_text(json.dumps(summary, indent=2, default=float) + "\n", run_dir / "summary.json")


def run_size(trainer: Trainer, history: list[dict[str, Any]]) -> dict[str, Any]:
    """The length and speed of a run for its summary: epochs, steps, training seconds, images per second (a mean
    weighted by each epoch's seconds) and the model's parameters."""
    seconds = sum(h["train_seconds"] for h in history)
    images = sum(h["images_per_second"] * h["train_seconds"] for h in history)
    return {
        "epochs": len(history),
        "steps": trainer.global_step,
        "seconds": seconds,
        "images_per_second": images / max(seconds, 1e-9),
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
    }


def split_sizes(data: RunData) -> dict[str, Any]:
    """The images of each split for a run's summary, and which test split it was tested on."""
    return {
        "train_images": len(data.train),
        "val_images": len(data.val),
        "test_images": len(data.test),
        "test_split": data.test.info.get("test", ""),
    }


class RunKind:
    """A classification run (a `TrainConfig`): images and class labels, a zoo model, cross entropy, accuracy.

    Subclasses override what their kind does differently; every method takes the run's config.
    """

    name = "classification"  # the checkpoint's `kind`
    command = "train"  # `dlbasic <command>` trains it (the run folder's marker and the hints name it)
    normalize = True  # the Trainer standardizes inputs with the training statistics
    model_key = "model"  # where `run.train`'s result holds the trained model
    target = None  # the `TargetAccuracy` of a full run (`run_callbacks`), whose time the summary reports

    def load_data(self, cfg: Any) -> RunData:
        """The train, val and test splits of the run."""
        return load_data(cfg)

    def build_model(self, cfg: Any, train: Any) -> nn.Module:
        """The untrained model, sized for the training data (built right after seeding with `cfg.seed`)."""
        return build_model(cfg, train)

    def build_optimizer(self, cfg: Any, model: nn.Module) -> torch.optim.Optimizer:
        """The optimizer with its parameter groups (`make_optimizer`)."""
        return build_optimizer(cfg, model)

    def schedule(self, cfg: Any, steps_per_epoch: int) -> dict[str, Any]:
        """The options of `create_scheduler` beyond the optimizer and the steps of an epoch."""
        return {
            "epochs": cfg.epochs,
            "step_epochs": cfg.lr_step,
            "gamma": cfg.lr_gamma,
            "warmup_steps": cfg.warmup_steps,
        }

    def batch_size(self, cfg: Any, train_size: int) -> int:
        """The per-process batch size ("full": the whole training set)."""
        return train_size if cfg.batch_size == "full" else int(cfg.batch_size)

    def task(self, cfg: Any, train: Any) -> Task:
        """What the Trainer optimizes and measures."""
        return ClassificationTask(cfg.label_smoothing)

    def regularizers(self, cfg: Any, train: Any) -> dict[str, list]:
        """Batch transforms, loss terms and callbacks (`regularizers`)."""
        return regularizers(cfg, train.num_classes)

    def run_callbacks(self, cfg: Any) -> list:
        """Callbacks of a full run only (`run.train`): a target accuracy to stop at and time."""
        from dlbasic.training.target import TargetAccuracy

        self.target = TargetAccuracy(cfg.target_accuracy, cfg.eval_every) if cfg.target_accuracy else None
        return [self.target] if self.target is not None else []

    def eval_batch_size(self, cfg: Any) -> int:
        """Images per evaluation batch."""
        return cfg.eval_batch_size

    def meta(self, cfg: Any, data: RunData) -> dict[str, Any]:
        """What `restore.model_from_checkpoint` needs to rebuild the model and prepare images."""
        train = data.train
        return {
            "kind": self.name,
            "model": cfg.model,
            "model_options": model_options(cfg),
            "num_classes": train.num_classes,
            "in_channels": train.in_channels,
            "input_size": train.image_size,
            "classes": list(train.classes),
            "mean": train.mean.tolist(),
            "std": train.std.tolist(),
            "data": cfg.data,
            "config": cfg.to_dict(),
        }

    def after_fit(self, trainer: Trainer, data: RunData, history: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The run's history once training ends (a kind may add stages, as R-CNN's SVMs)."""
        return history

    def summary(self, trainer: Trainer, data: RunData, history: list[dict[str, Any]], seconds: float) -> dict:
        """summary.json: the final model tested once, the last epoch, the run's size and speed."""
        test = trainer.evaluate(data.test)
        last = history[-1] if history else {}
        summary = {
            "status": "finished",
            "test_accuracy": test["accuracy"],
            "test_loss": test["loss"],
            "val_accuracy": last.get("val_accuracy"),
            "val_loss": last.get("val_loss"),
            "train_accuracy": last.get("train_accuracy"),
            "train_loss": last.get("train_loss"),
            "best_val_accuracy": trainer.best,
            **run_size(trainer, history),
            "processes": trainer.world_size,
            "precision": trainer.precision,
            "channels_last": trainer.channels_last,
            **split_sizes(data),
        }
        if self.target is not None:
            summary |= {
                "target_accuracy": self.target.target,
                "target_reached": self.target.seconds is not None,
                "time_to_target": self.target.seconds,
                "steps_to_target": self.target.step,
            }
        return summary

    def figures(self, trainer: Trainer, data: RunData, summary: dict[str, Any], run_dir: Path) -> None:
        """The run's pictures, written by the main process next to summary.json: the training curves."""
        from dlbasic.report.plots import plot_curves

        plot_curves(trainer.history, run_dir / "curves.png")

    def rebuild(self, ckpt: dict[str, Any], path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
        """The model a checkpoint holds, its weights loaded, and the metadata it was written with."""
        meta = check_meta(ckpt.get("meta"), path, f"dlbasic {self.command}")
        model = build_from_meta(meta, path)
        load_model_state(model, ckpt["model"], path, meta["model"])
        return model, meta


# the module that registers each kind of run, imported when a kind is first asked for by name
KIND_MODULES = {
    "classification": "dlbasic.training.kinds",
    "segmentation": "dlbasic.segmentation.train",
    "detection": "dlbasic.detection.train",
}
KINDS: dict[str, type[RunKind]] = {"classification": RunKind}


def register_kind(cls: type[RunKind]) -> type[RunKind]:
    """Class decorator: make `cls` the run kind of checkpoints whose `kind` is `cls.name`."""
    KINDS[cls.name] = cls
    return cls


def run_kind(kind: str | RunKind) -> RunKind:
    """A fresh `RunKind` of that name (a kind given as an instance is returned as it is)."""
    if isinstance(kind, RunKind):
        return kind
    if kind not in KINDS and kind in KIND_MODULES:
        importlib.import_module(KIND_MODULES[kind])
    if kind not in KINDS:
        raise UserError(f"unknown kind of run {kind!r}", did_you_mean(kind, KIND_MODULES))
    return KINDS[kind]()


def model_from_checkpoint(
    path: str | Path, kind: str = "classification", action: str = "eval"
) -> tuple[nn.Module, dict[str, Any]]:
    """The model of a `best.pt` or `checkpoint.pt` written by a run of `kind`, its weights loaded, in eval mode,
    and its metadata: the one way from a checkpoint back to a model.

    Raises:
        UserError: a checkpoint of another kind (naming `dlbasic ... <action>` for it), incomplete or
            inconsistent metadata, or weights that do not fit the model.
    """
    ckpt = load_checkpoint(path)
    require_kind(ckpt, path, kind, action)
    model, meta = run_kind(kind).rebuild(ckpt, path)
    return model.eval(), meta


__all__ = [
    "KINDS",
    "RunData",
    "RunKind",
    "build_model",
    "build_optimizer",
    "load_data",
    "make_optimizer",
    "model_from_checkpoint",
    "model_options",
    "register_kind",
    "regularizers",
    "run_kind",
    "run_size",
    "split_sizes",
    "write_summary",
]
