"""The one run pipeline: from a config to a finished run folder, for every kind of run.

`build_trainer` assembles a Trainer (process group, seeds, model, optimizer with parameter groups, task,
regularizers, schedule); `train` adds the data, the run folder, resume and the summary. What differs by problem
comes from a `dlbasic.training.kinds.RunKind`. A run folder holds `config.yaml`, `metrics.jsonl` (one line per
epoch), `checkpoint.pt` (everything needed to resume), `best.pt` (the weights with the best validation metric),
`summary.json` and the kind's figures (`curves.png`, `overlays.png`).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from dlbasic.callbacks import Callback
from dlbasic.checkpoint import atomic_write_text
from dlbasic.config import dump_config
from dlbasic.errors import Diverged, UserError, check
from dlbasic.outputs import MARKER, check_dir, hold, made_by_dlbasic, output_dir
from dlbasic.training import distributed
from dlbasic.training.assemble import make_trainer, per_process, seeded_model, start_process
from dlbasic.training.kinds import RunData, RunKind, build_model, load_data, model_options, run_kind, write_summary
from dlbasic.training.restore import load_checkpoint
from dlbasic.training.schedules import create_scheduler
from dlbasic.training.trainer import Trainer, steps_per_epoch


def build_trainer(
    cfg: Any,
    train: Any,
    val: Any = None,
    *,
    kind: str | RunKind = "classification",
    model: torch.nn.Module | None = None,
    task: Any = None,
    transforms: list | None = None,
    callbacks: Sequence[Callback] = (),
    run_dir: Path | None = None,
    meta: dict[str, Any] | None = None,
    progress: bool | None = None,
    eval_batch_size: int | None = None,
    stop_on_divergence: bool = True,
) -> Trainer:
    """The Trainer of a run of `cfg` on `train`: the one place every run is assembled (`train` for every kind,
    `cv`, `tune`, `compare`, `ensemble`, the lab and the detectors' `fit` all come here).

    Joins a torchrun process group when launched by one, sets the threads, seeds and builds the model
    (`kind.build_model` right after seeding with `cfg.seed`, the same initialization in every process; or `model`
    as given), converts batch norm to SyncBatchNorm when asked under torchrun, reseeds each process by its rank
    (its own dropout masks and noise), then the optimizer with its parameter groups, the kind's task and
    regularizers and a schedule sized by the steps the Trainer takes. `task` and `transforms` replace the kind's.
    """
    kind = run_kind(kind)
    cfg.validate()
    device = start_process(cfg.device, cfg.threads)
    if model is None:
        model = seeded_model(lambda: kind.build_model(cfg, train), cfg.seed, cfg.sync_bn)
    else:
        model = per_process(model, cfg.seed, cfg.sync_bn)
    optimizer = kind.build_optimizer(cfg, model)
    extra = kind.regularizers(cfg, train)
    batch_size = kind.batch_size(cfg, len(train))
    steps = steps_per_epoch(len(train), batch_size, distributed.world()[1])
    scheduler = create_scheduler(cfg.scheduler, optimizer, steps_per_epoch=steps, **kind.schedule(cfg, steps))
    return make_trainer(
        cfg,
        model,
        optimizer,
        scheduler,
        train,
        val,
        device=device,
        batch_size=batch_size,
        task=task or kind.task(cfg, train),
        transforms=extra["transforms"] if transforms is None else transforms,
        loss_terms=extra["loss_terms"],
        compile=getattr(cfg, "compile", False),
        callbacks=[*extra["callbacks"], *callbacks],
        run_dir=run_dir,
        eval_batch_size=eval_batch_size or kind.eval_batch_size(cfg),
        meta=meta,
        progress=progress,
        stop_on_divergence=stop_on_divergence,
        normalize=kind.normalize,
    )


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
    trainer: Trainer, cfg: Any, run_dir: Path | None, *, command: str, overwrite: bool, resume: bool
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


def resume_state(trainer: Trainer, run_dir: Path, cfg: Any) -> None:
    """Load `run_dir/checkpoint.pt` into `trainer`, refusing one from another model or config.

    A learning rate changed with `--allow-changes lr` rescales every group's rate (and a schedule's
    base rates) by new / old, so the schedule keeps its shape.
    """
    path = run_dir / "checkpoint.pt"
    ckpt = load_checkpoint(path)
    saved = (ckpt.get("meta") or {}).get("config")
    if isinstance(saved, dict):
        saved = type(cfg).upgrade(saved)  # in today's convention (a run saved before None meant unset)
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


def default_run_dir(cfg: Any) -> Path:
    """runs/<model>-<source>-<date>-<time>: where a run goes when no --run-dir is given."""
    source = cfg.data.split(":")[0]
    return Path("runs") / f"{cfg.model}-{source}-{time.strftime('%Y%m%d-%H%M%S')}"


def train(
    cfg: Any,
    run_dir: str | Path | None = None,
    *,
    kind: str | RunKind = "classification",
    resume: bool = False,
    overwrite: bool = False,
    callbacks: list[Callback] | None = None,
    progress: bool | None = None,
    stop_on_divergence: bool = True,
) -> dict[str, Any]:
    """Train a run of `kind` ("classification", "segmentation", "detection", or a `RunKind`) as `cfg` says;
    returns the summary (also written to `run_dir/summary.json`) with the `history` and the trained `model`.

    A non-finite loss raises `Diverged` (after writing a summary that says so), unless
    `stop_on_divergence=False`: studies that measure instability train on and read the history.

    With `run_dir=None` nothing is written (studies use this). With `resume=True` the run
    continues from `run_dir/checkpoint.pt`; pass the config saved there (`load_config`). The run folder is
    checked before the data is read, and created or replaced only once data, model and Trainer are ready.
    """
    kind = run_kind(kind)
    cfg.validate()
    start_process(cfg.device, cfg.threads)  # launched by torchrun: join its process group before anything else
    run_path = Path(run_dir) if run_dir is not None else None
    if run_path is not None:  # every process checks, so none waits for a main process that refused
        check_run_dir(run_path, overwrite, resume)
    with hold_run_dir(run_path):  # one process at a time in the run folder, from here to its summary
        data = kind.load_data(cfg)
        trainer = build_trainer(
            cfg,
            data.train,
            data.val,
            kind=kind,
            callbacks=[*(callbacks or ()), *kind.run_callbacks(cfg)],
            run_dir=run_path,
            meta=kind.meta(cfg, data),
            progress=progress,
            stop_on_divergence=stop_on_divergence,
        )
        start = time.perf_counter()
        history = fit_in_run_dir(trainer, cfg, run_path, command=kind.command, overwrite=overwrite, resume=resume)
        history = kind.after_fit(trainer, data, history)
        summary = kind.summary(trainer, data, history, time.perf_counter() - start)
        write_summary(summary, run_path)
        if run_path is not None and distributed.is_main():
            kind.figures(trainer, data, summary, run_path)
    return {**summary, "history": history, kind.model_key: trainer.model}


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


__all__ = [
    "RESUMABLE_CHANGES",
    "RunData",
    "build_model",
    "build_trainer",
    "default_run_dir",
    "load_data",
    "model_options",
    "train",
]
