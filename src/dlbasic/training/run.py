"""From a `TrainConfig` to a finished run folder: data, model, optimizer, Trainer, summary, plots.

A run folder holds `config.yaml`, `metrics.jsonl` (one line per epoch), `checkpoint.pt`
(everything needed to resume), `best.pt` (the weights with the best validation accuracy),
`curves.png` and `summary.json`.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dlbasic.config import TrainConfig, save_config
from dlbasic.data import ImageDataset, load, stratified_subset
from dlbasic.data.transforms import Augment
from dlbasic.errors import UserError, check
from dlbasic.models import create_model
from dlbasic.optim import create_optimizer
from dlbasic.regularization import EarlyStopping, InputNoise, Mix, Penalty, WeightNoise, param_groups
from dlbasic.training import distributed
from dlbasic.training.callbacks import Callback
from dlbasic.training.checkpoint import atomic_write_text, load_checkpoint
from dlbasic.training.schedules import create_scheduler
from dlbasic.training.target import TargetAccuracy
from dlbasic.training.tasks import ClassificationTask
from dlbasic.training.trainer import Trainer, resolve_device


@dataclass
class RunData:
    train: ImageDataset
    val: ImageDataset
    test: ImageDataset


def load_data(cfg: TrainConfig) -> RunData:
    opts = {"seed": cfg.seed, "val_fraction": cfg.val_fraction, "test_fraction": cfg.test_fraction,
            "image_size": cfg.image_size}
    train, val, test = (load(cfg.data, s, **opts) for s in ("train", "val", "test"))
    if cfg.train_subset is not None and cfg.train_subset < len(train):
        train = train.subset(stratified_subset(train.labels, cfg.train_subset, cfg.seed + 2))
    return RunData(train, val, test)


def model_options(cfg: TrainConfig) -> dict[str, Any]:
    """The model constructor options: `model_options` plus `dropout` and `norm` when set."""
    options = dict(cfg.model_options)
    if cfg.dropout is not None:
        options["dropout"] = cfg.dropout
    if cfg.norm is not None:
        options["norm"] = cfg.norm
    return options


def build_model(cfg: TrainConfig, data: ImageDataset) -> torch.nn.Module:
    return create_model(cfg.model, num_classes=data.num_classes, in_channels=data.in_channels,
                        input_size=data.image_size, **model_options(cfg))


def build_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """Weight decay goes to the optimizer (coupled, or decoupled for AdamW) unless a penalty term is asked for."""
    decay = cfg.weight_decay if cfg.penalty == "none" else 0.0
    params = param_groups(model, decay, exclude_norm_and_bias=not cfg.decay_norm_and_bias) if decay else \
        model.parameters()
    return create_optimizer(cfg.optimizer, params, lr=cfg.lr, momentum=cfg.momentum)


def regularizers(cfg: TrainConfig, num_classes: int) -> dict[str, list]:
    """Batch transforms, loss terms and callbacks for the regularization options of `cfg`."""
    transforms: list = []
    if cfg.augment:
        transforms.append(Augment.from_spec(cfg.augment))
    if cfg.input_noise:
        transforms.append(InputNoise(cfg.input_noise))
    if cfg.mixup or cfg.cutmix:  # last: it turns labels into soft targets
        transforms.append(Mix(cfg.mixup, cfg.cutmix, cfg.mix_prob, cfg.mix_switch_prob, cfg.mix_per_sample,
                              cfg.label_smoothing, num_classes))
    loss_terms = [Penalty(cfg.penalty, cfg.weight_decay, exclude_norm_and_bias=not cfg.decay_norm_and_bias)] \
        if cfg.penalty != "none" and cfg.weight_decay else []
    callbacks: list = []
    if cfg.weight_noise:
        callbacks.append(WeightNoise(cfg.weight_noise, seed=cfg.seed))
    if cfg.early_stopping:
        callbacks.append(EarlyStopping("val_loss", patience=cfg.early_stopping))
    return {"transforms": transforms, "loss_terms": loss_terms, "callbacks": callbacks}


def model_meta(cfg: TrainConfig, data: ImageDataset) -> dict[str, Any]:
    """What `eval` and `predict` need to rebuild the model and prepare images."""
    return {"model": cfg.model, "model_options": model_options(cfg), "num_classes": data.num_classes,
            "in_channels": data.in_channels, "input_size": data.image_size, "classes": list(data.classes),
            "mean": data.mean.tolist(), "std": data.std.tolist(), "data": cfg.data, "config": cfg.to_dict()}


def model_from_checkpoint(path: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model of a `best.pt` or `checkpoint.pt` and load its weights."""
    ckpt = load_checkpoint(path)
    meta = ckpt.get("meta") or {}
    check("model" in meta, f"{path} does not say which model it holds", "use a best.pt written by dlbasic train")
    model = create_model(meta["model"], num_classes=meta["num_classes"], in_channels=meta["in_channels"],
                         input_size=meta["input_size"], **meta.get("model_options", {}))
    model.load_state_dict(ckpt["model"])
    return model.eval(), meta


def prepare_run_dir(run_dir: Path, overwrite: bool, resume: bool) -> None:
    if resume:
        check((run_dir / "checkpoint.pt").is_file(), f"nothing to resume in {run_dir} (no checkpoint.pt)",
              "start the run without --resume")
        return
    if run_dir.exists() and any(run_dir.iterdir()):
        if not overwrite:
            raise UserError(f"run folder {run_dir} already exists",
                            "pass --overwrite to replace it, --resume to continue it, or choose --run-dir")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)


def default_run_dir(cfg: TrainConfig) -> Path:
    source = cfg.data.split(":")[0]
    return Path("runs") / f"{cfg.model}-{source}-{time.strftime('%Y%m%d-%H%M%S')}"


def train(cfg: TrainConfig, run_dir: str | Path | None = None, *, resume: bool = False, overwrite: bool = False,
          callbacks: list[Callback] | None = None, progress: bool | None = None) -> dict[str, Any]:
    """Train as `cfg` says; returns the summary (also written to `run_dir/summary.json`).

    With `run_dir=None` nothing is written (studies use this). With `resume=True` the run
    continues from `run_dir/checkpoint.pt`; pass the config saved there (`load_config`).
    """
    cfg.validate()
    device = resolve_device(cfg.device)
    if distributed.setup(device):  # launched by torchrun
        device = distributed.local_device(device)
    main = distributed.is_main()
    run_path = Path(run_dir) if run_dir is not None else None
    if run_path is not None:
        if main:
            prepare_run_dir(run_path, overwrite, resume)
            save_config(cfg, run_path / "config.yaml")
        distributed.barrier()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    data = load_data(cfg)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, data.train)
    if cfg.sync_bn and distributed.world()[1] > 1:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    rank = distributed.world()[0]
    if rank:  # same initial weights everywhere (seeded above), own dropout masks per process
        torch.manual_seed(cfg.seed + 1_000_003 * rank)
    optimizer = build_optimizer(cfg, model)
    extra = regularizers(cfg, data.train.num_classes)
    batch_size = len(data.train) if cfg.batch_size == "full" else int(cfg.batch_size)
    steps = -(-len(data.train) // min(batch_size, len(data.train)))
    scheduler = create_scheduler(cfg.scheduler, optimizer, epochs=cfg.epochs, steps_per_epoch=steps,
                                 step_epochs=cfg.lr_step, gamma=cfg.lr_gamma, warmup_steps=cfg.warmup_steps)
    trainer = Trainer(model, optimizer, data.train, data.val, task=ClassificationTask(cfg.label_smoothing),
                      scheduler=scheduler, transforms=extra["transforms"], loss_terms=extra["loss_terms"],
                      epochs=cfg.epochs, batch_size=batch_size, seed=cfg.seed, device=device,
                      precision=cfg.precision, channels_last=cfg.channels_last, compile=cfg.compile,
                      grad_clip=cfg.grad_clip, callbacks=[*extra["callbacks"], *(callbacks or [])], run_dir=run_path,
                      checkpoint_every=cfg.checkpoint_every, eval_batch_size=cfg.eval_batch_size,
                      meta=model_meta(cfg, data.train), progress=progress)
    target = TargetAccuracy(cfg.target_accuracy, cfg.eval_every) if cfg.target_accuracy else None
    if target is not None:
        trainer.callbacks.append(target)
    if run_path is not None and main:
        trainer.callbacks.append(MetricsWriter(run_path))
    if resume:
        trainer.load_state_dict(load_checkpoint(run_path / "checkpoint.pt"))
    history = trainer.fit()
    extra = {} if target is None else {"target_accuracy": target.target, "target_reached": target.seconds is not None,
                                       "time_to_target": target.seconds, "steps_to_target": target.step}
    return finish(trainer, data, history, run_path, extra)


def finish(trainer: Trainer, data: RunData, history: list[dict[str, float]], run_dir: Path | None,
           extra: dict[str, Any] | None = None) -> dict:
    """Test the final model once and write summary.json and curves.png."""
    test = trainer.evaluate(data.test)
    last = history[-1] if history else {}
    seconds = sum(h["train_seconds"] for h in history)
    summary = {
        "test_accuracy": test["accuracy"], "test_loss": test["loss"],
        "val_accuracy": last.get("val_accuracy"), "val_loss": last.get("val_loss"),
        "train_accuracy": last.get("train_accuracy"), "train_loss": last.get("train_loss"),
        "best_val_accuracy": trainer.best, "epochs": len(history), "steps": trainer.global_step,
        "seconds": seconds, "images_per_second": sum(h["images_per_second"] * h["train_seconds"]
                                                     for h in history) / max(seconds, 1e-9),
        "parameters": sum(p.numel() for p in trainer.model.parameters()), "processes": trainer.world_size,
        "precision": trainer.precision, "channels_last": trainer.channels_last,
        "train_images": len(data.train), "val_images": len(data.val), "test_images": len(data.test),
        "test_split": data.test.info.get("test", ""), **(extra or {}),
    }
    if run_dir is not None and distributed.is_main():
        atomic_write_text(json.dumps(summary, indent=2) + "\n", run_dir / "summary.json")
        from dlbasic.report.plots import plot_curves

        plot_curves(history, run_dir / "curves.png")
    summary["history"] = history
    summary["model"] = trainer.model
    return summary


class MetricsWriter(Callback):
    """Rewrites `metrics.jsonl` from the full history after every epoch (so resume never duplicates lines)."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "metrics.jsonl"
        self.tensorboard = _tensorboard(run_dir)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        rows = [*trainer.history, logs]
        atomic_write_text("".join(json.dumps(r) + "\n" for r in rows), self.path)
        if self.tensorboard is not None:
            for k, v in logs.items():
                self.tensorboard.add_scalar(k, v, epoch + 1)
            self.tensorboard.flush()


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))
