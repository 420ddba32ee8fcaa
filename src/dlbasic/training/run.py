"""From a `TrainConfig` to a finished run folder: data, model, optimizer, Trainer, summary, plots.

A run folder holds `config.yaml`, `metrics.jsonl` (one line per epoch), `checkpoint.pt`
(everything needed to resume), `best.pt` (the weights with the best validation accuracy),
`curves.png` and `summary.json`.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dlbasic.callbacks import Callback
from dlbasic.checkpoint import atomic_write_text
from dlbasic.config import TrainConfig, dump_config
from dlbasic.data import ImageDataset, load, stratified_subset
from dlbasic.data.transforms import Augment
from dlbasic.errors import Diverged, UserError, check
from dlbasic.models import create_model
from dlbasic.optim import create_optimizer
from dlbasic.outputs import MARKER, check_dir, hold, made_by_dlbasic, output_dir
from dlbasic.regularization import EarlyStopping, InputNoise, Mix, Penalty, WeightNoise, param_groups
from dlbasic.training import distributed
from dlbasic.training.assemble import make_trainer, seeded_model, start_process
from dlbasic.training.device import resolve_device
from dlbasic.training.restore import load_checkpoint
from dlbasic.training.schedules import create_scheduler
from dlbasic.training.target import TargetAccuracy
from dlbasic.training.tasks import ClassificationTask
from dlbasic.training.trainer import Trainer, steps_per_epoch


@dataclass
class RunData:
    """The three splits a run uses: trained on, validated on each epoch (best.pt), tested once at the end."""

    train: ImageDataset
    val: ImageDataset
    test: ImageDataset


def load_data(cfg: TrainConfig, loader: Callable[..., ImageDataset] = load) -> RunData:
    """The train, val and test splits of `cfg.data` read by `loader` (`data.load`, or `load_segmentation`).

    `cfg.train_subset` keeps that many training images, chosen by a seed of their own: stratified by class
    for image labels, uniformly for masks.
    """
    opts = {
        "seed": cfg.seed,
        "val_fraction": cfg.val_fraction,
        "test_fraction": cfg.test_fraction,
        "image_size": cfg.image_size,
        "test_data": cfg.test_data,
    }
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


def model_options(cfg: TrainConfig) -> dict[str, Any]:
    """The model constructor options: `model_options` plus `dropout` and `norm` when set."""
    options = dict(cfg.model_options)
    if cfg.dropout is not None:
        options["dropout"] = cfg.dropout
    if cfg.norm is not None:
        options["norm"] = cfg.norm
    return options


def build_model(cfg: TrainConfig, data: ImageDataset) -> torch.nn.Module:
    """`cfg.model` from the zoo, sized for `data` (classes, channels, image size), with `model_options(cfg)`."""
    return create_model(
        cfg.model,
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        input_size=data.image_size,
        **model_options(cfg),
    )


def build_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """Weight decay goes to the optimizer (coupled, or decoupled for AdamW) unless a penalty term is asked for."""
    decay = cfg.weight_decay if cfg.penalty == "none" else 0.0
    params = (
        param_groups(model, decay, exclude_norm_and_bias=not cfg.decay_norm_and_bias) if decay else model.parameters()
    )
    return create_optimizer(cfg.optimizer, params, lr=cfg.lr, momentum=cfg.momentum)


def batch_and_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer, train_size: int) -> tuple[int, Any]:
    """The per-process batch size and the learning-rate schedule, sized by the steps the Trainer takes.

    Under torchrun each of N processes takes `batch` images of every global batch of N x `batch`, so an
    epoch has ceil(train_size / (N x batch)) steps: the schedule counts those, not the per-process ones.
    """
    batch = train_size if cfg.batch_size == "full" else int(cfg.batch_size)
    steps = steps_per_epoch(train_size, batch, distributed.world()[1])
    scheduler = create_scheduler(
        cfg.scheduler,
        optimizer,
        epochs=cfg.epochs,
        steps_per_epoch=steps,
        step_epochs=cfg.lr_step,
        gamma=cfg.lr_gamma,
        warmup_steps=cfg.warmup_steps,
    )
    return batch, scheduler


def regularizers(cfg: TrainConfig, num_classes: int) -> dict[str, list]:
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


def build_trainer(
    cfg: TrainConfig,
    train: ImageDataset,
    val: ImageDataset | None = None,
    *,
    task: Any = None,
    transforms: list | None = None,
    callbacks: Sequence[Callback] = (),
    run_dir: Path | None = None,
    meta: dict[str, Any] | None = None,
    progress: bool | None = None,
    eval_batch_size: int | None = None,
    stop_on_divergence: bool = True,
) -> Trainer:
    """The Trainer of a run of `cfg` on `train`: the one place a run is assembled (`train`, `segment train`,
    `cv`, `tune`, `compare`, `ensemble` and the lab all come here).

    Joins a torchrun process group when launched by one, sets the threads, seeds and builds the model
    (one initialization in every process, then per-process seeds for dropout), the optimizer with its
    parameter groups, the regularizers of `cfg` and a schedule sized by the steps the Trainer takes.
    `task` defaults to classification with `cfg.label_smoothing`; `transforms` replaces the batch
    transforms of `cfg` (segmentation augments masks with their images).
    """
    cfg.validate()
    device = start_process(cfg.device, cfg.threads)
    model = seeded_model(lambda: build_model(cfg, train), cfg.seed, cfg.sync_bn)
    optimizer = build_optimizer(cfg, model)
    extra = regularizers(cfg, train.num_classes)
    batch_size, scheduler = batch_and_scheduler(cfg, optimizer, len(train))
    return make_trainer(
        cfg,
        model,
        optimizer,
        scheduler,
        train,
        val,
        device=device,
        batch_size=batch_size,
        task=task or ClassificationTask(cfg.label_smoothing),
        transforms=extra["transforms"] if transforms is None else transforms,
        loss_terms=extra["loss_terms"],
        compile=cfg.compile,
        callbacks=[*extra["callbacks"], *callbacks],
        run_dir=run_dir,
        eval_batch_size=eval_batch_size or cfg.eval_batch_size,
        meta=meta,
        progress=progress,
        stop_on_divergence=stop_on_divergence,
    )


def model_meta(cfg: TrainConfig, data: ImageDataset) -> dict[str, Any]:
    """What `eval` and `predict` need to rebuild the model and prepare images."""
    return {
        "kind": "classification",
        "model": cfg.model,
        "model_options": model_options(cfg),
        "num_classes": data.num_classes,
        "in_channels": data.in_channels,
        "input_size": data.image_size,
        "classes": list(data.classes),
        "mean": data.mean.tolist(),
        "std": data.std.tolist(),
        "data": cfg.data,
        "config": cfg.to_dict(),
    }


def check_run_dir(run_dir: Path, overwrite: bool, resume: bool) -> None:
    """Refuse, before any work, a run folder this run could not use or must not replace."""
    check_dir(run_dir, overwrite=overwrite, resume=resume)
    if resume:
        check(
            (run_dir / "checkpoint.pt").is_file(),
            f"nothing to resume in {run_dir} (no checkpoint.pt)",
            "start the run without --resume",
        )
        check(
            made_by_dlbasic(run_dir),
            f"{run_dir} is not a dlbasic run folder (it has no {MARKER} marker); --resume only continues dlbasic runs",
            "start a new run in another --run-dir",
        )


def hold_run_dir(run_dir: Path | None) -> contextlib.AbstractContextManager:
    """Own `run_dir` for the whole run (the main process; `outputs.hold`): a second process is refused in one line."""
    if run_dir is None or not distributed.is_main():
        return contextlib.nullcontext()
    return hold(run_dir)


def fit_in_run_dir(
    trainer: Trainer, cfg: TrainConfig, run_dir: Path | None, *, command: str, overwrite: bool, resume: bool
) -> list[dict[str, Any]]:
    """Open the run folder, resume if asked, and fit; call once data, model and Trainer are ready.

    Only now is an old folder replaced (`--overwrite`), and it is put back if the new run fails
    before writing any result. A diverged run's summary.json says so.
    """
    main = distributed.is_main()
    opened = (
        output_dir(run_dir, command=command, overwrite=overwrite, resume=resume)
        if run_dir is not None and main
        else contextlib.nullcontext()
    )
    with opened:
        if run_dir is not None:
            if main:
                if not resume:
                    atomic_write_text(dump_config(cfg), run_dir / "config.yaml")
                trainer.callbacks.append(MetricsWriter(run_dir))
            distributed.barrier()
        if resume:
            resume_state(trainer, run_dir, cfg)
            if run_dir is not None and main:  # what --allow-changes let through (epochs, lr, ...) is the run's now
                atomic_write_text(dump_config(cfg), run_dir / "config.yaml")
        try:
            return trainer.fit()
        except Diverged as e:
            if run_dir is not None and main:
                atomic_write_text(json.dumps(e.summary(), indent=2) + "\n", run_dir / "summary.json")
            raise


# what a resumed run may change, only where `--allow-changes` names it: nothing here alters what has been computed
# so far, but threads, device and eval_batch_size change the order of float sums (lr the steps) from the resumed
# step on, so a resume that continues bit for bit keeps them and another value is never taken silently
RESUMABLE_CHANGES = (
    "epochs",
    "lr",
    "threads",
    "device",
    "checkpoint_every",
    "eval_batch_size",
    "target_accuracy",
    "eval_every",
)


def resume_state(trainer: Trainer, run_dir: Path, cfg: TrainConfig) -> None:
    """Load `run_dir/checkpoint.pt` into `trainer`, refusing one from another model or config.

    A learning rate changed with `--allow-changes lr` rescales every group's rate (and a schedule's
    base rates) by new / old, so the schedule keeps its shape.
    """
    path = run_dir / "checkpoint.pt"
    ckpt = load_checkpoint(path)
    saved = (ckpt.get("meta") or {}).get("config")
    if isinstance(saved, dict):
        mine = cfg.to_dict()
        differ = sorted(k for k in mine if k in saved and k not in RESUMABLE_CHANGES and saved[k] != mine[k])
        check(
            not differ,
            f"{path} was written by a run with other settings ({', '.join(differ)})",
            "resume with the config.yaml that wrote it, or start a new run",
        )
    try:
        trainer.load_state_dict(ckpt)
    except (RuntimeError, KeyError, ValueError, IndexError, TypeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(
            f"{path} does not fit this run's model or optimizer ({first[:120]})",
            "resume with the config.yaml that wrote it, or start a new run",
        ) from None
    groups = ckpt["optimizer"].get("param_groups", [])
    old = groups[0].get("initial_lr", groups[0].get("lr")) if groups else None
    changed = isinstance(saved, dict) and saved.get("lr") != cfg.lr
    if changed and cfg.lr and old:  # (None or 0 mean the optimizer's or the model's default)
        ratio = cfg.lr / old
        for group in trainer.optimizer.param_groups:
            group["lr"] *= ratio
            if "initial_lr" in group:
                group["initial_lr"] *= ratio
        if trainer.scheduler is not None and hasattr(trainer.scheduler, "base_lrs"):
            trainer.scheduler.base_lrs = [b * ratio for b in trainer.scheduler.base_lrs]


def default_run_dir(cfg: TrainConfig) -> Path:
    """runs/<model>-<source>-<date>-<time>: where a run goes when no --run-dir is given."""
    source = cfg.data.split(":")[0]
    return Path("runs") / f"{cfg.model}-{source}-{time.strftime('%Y%m%d-%H%M%S')}"


def train(
    cfg: TrainConfig,
    run_dir: str | Path | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: list[Callback] | None = None,
    progress: bool | None = None,
    stop_on_divergence: bool = True,
) -> dict[str, Any]:
    """Train as `cfg` says; returns the summary (also written to `run_dir/summary.json`).

    A non-finite loss raises `Diverged` (after writing a summary that says so), unless
    `stop_on_divergence=False`: studies that measure instability train on and read the history.

    With `run_dir=None` nothing is written (studies use this). With `resume=True` the run
    continues from `run_dir/checkpoint.pt`; pass the config saved there (`load_config`).
    """
    cfg.validate()
    distributed.setup(resolve_device(cfg.device))  # launched by torchrun: join its process group
    run_path = Path(run_dir) if run_dir is not None else None
    if run_path is not None:  # every process checks, so none waits for a main process that refused
        check_run_dir(run_path, overwrite, resume)
    with hold_run_dir(run_path):
        return _train(cfg, run_path, resume, overwrite, callbacks, progress, stop_on_divergence)


def _train(
    cfg: TrainConfig,
    run_path: Path | None,
    resume: bool,
    overwrite: bool,
    callbacks: list[Callback] | None,
    progress: bool | None,
    stop_on_divergence: bool,
) -> dict[str, Any]:
    if cfg.threads:  # loading may decode images with torch ops
        torch.set_num_threads(cfg.threads)
    data = load_data(cfg)
    trainer = build_trainer(
        cfg,
        data.train,
        data.val,
        callbacks=callbacks or (),
        run_dir=run_path,
        meta=model_meta(cfg, data.train),
        progress=progress,
        stop_on_divergence=stop_on_divergence,
    )
    target = TargetAccuracy(cfg.target_accuracy, cfg.eval_every) if cfg.target_accuracy else None
    if target is not None:
        trainer.callbacks.append(target)
    history = fit_in_run_dir(trainer, cfg, run_path, command="train", overwrite=overwrite, resume=resume)
    extra = (
        {}
        if target is None
        else {
            "target_accuracy": target.target,
            "target_reached": target.seconds is not None,
            "time_to_target": target.seconds,
            "steps_to_target": target.step,
        }
    )
    return finish(trainer, data, history, run_path, extra)


def finish(
    trainer: Trainer,
    data: RunData,
    history: list[dict[str, float]],
    run_dir: Path | None,
    extra: dict[str, Any] | None = None,
) -> dict:
    """Test the final model once and write summary.json and curves.png."""
    test = trainer.evaluate(data.test)
    last = history[-1] if history else {}
    seconds = sum(h["train_seconds"] for h in history)
    summary = {
        "status": "finished",
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "val_accuracy": last.get("val_accuracy"),
        "val_loss": last.get("val_loss"),
        "train_accuracy": last.get("train_accuracy"),
        "train_loss": last.get("train_loss"),
        "best_val_accuracy": trainer.best,
        "epochs": len(history),
        "steps": trainer.global_step,
        "seconds": seconds,
        "images_per_second": sum(h["images_per_second"] * h["train_seconds"] for h in history) / max(seconds, 1e-9),
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
        "processes": trainer.world_size,
        "precision": trainer.precision,
        "channels_last": trainer.channels_last,
        "train_images": len(data.train),
        "val_images": len(data.val),
        "test_images": len(data.test),
        "test_split": data.test.info.get("test", ""),
        **(extra or {}),
    }
    if run_dir is not None and distributed.is_main():
        atomic_write_text(json.dumps(summary, indent=2) + "\n", run_dir / "summary.json")
        from dlbasic.report.plots import plot_curves

        plot_curves(history, run_dir / "curves.png")
    summary["history"] = history
    summary["model"] = trainer.model
    return summary


def json_safe(row: dict[str, Any]) -> dict[str, Any]:
    """Non-finite floats as the strings "nan", "inf", "-inf", so every line stays valid JSON."""
    return {k: str(v) if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}


class MetricsWriter(Callback):
    """Rewrites `metrics.jsonl` from the full history after every epoch (so resume never duplicates lines)."""

    def __init__(self, run_dir: Path):
        self.run_dir, self.path = run_dir, run_dir / "metrics.jsonl"
        self.tensorboard: Any = None  # opened at the first epoch's end: nothing is written before then

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Write every epoch's row so far (atomically) and this epoch's scalars to tensorboard."""
        rows = [*trainer.history, logs]
        atomic_write_text("".join(json.dumps(json_safe(r)) + "\n" for r in rows), self.path)
        if self.tensorboard is None:
            self.tensorboard = _tensorboard(self.run_dir) or False
        if self.tensorboard:
            for k, v in logs.items():
                self.tensorboard.add_scalar(k, v, epoch + 1)
            self.tensorboard.flush()


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))
