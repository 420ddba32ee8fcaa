"""The steps every run takes to become a `Trainer`, whatever its task and config type.

`training.run.build_trainer` (classification and segmentation, from a `TrainConfig`) and
`detection.train.build_trainer` (from a `DetectionConfig`) differ only in the model, optimizer and
schedule they make; both go through these three steps, so a detection run joins torchrun, seeds,
clips, checkpoints and resumes exactly as a classification run does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from dlbasic.training import distributed
from dlbasic.training.device import resolve_device
from dlbasic.training.trainer import Trainer


def start_process(device: str, threads: int | None = None) -> torch.device:
    """The device this process trains on: joins the process group when launched by torchrun (each
    process then takes the GPU of its local rank) and sets torch's CPU threads when given."""
    resolved = resolve_device(device)
    if distributed.setup(resolved):
        resolved = distributed.local_device(resolved)
    if threads:
        torch.set_num_threads(threads)
    return resolved


def seeded_model(build: Callable[[], torch.nn.Module], seed: int, sync_bn: bool = False) -> torch.nn.Module:
    """`build()` after seeding torch with `seed`: the same initial weights in every process. Then each
    process of a torchrun run is reseeded by its rank, for its own dropout masks and noise."""
    torch.manual_seed(seed)
    model = build()
    if sync_bn and distributed.world()[1] > 1:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    rank = distributed.world()[0]
    if rank:
        torch.manual_seed(seed + 1_000_003 * rank)
    return model


def make_trainer(
    cfg: Any,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    train: Any,
    val: Any,
    *,
    device: torch.device,
    batch_size: int,
    **options: Any,
) -> Trainer:
    """A Trainer with the engineering settings of `cfg` (epochs, seed, precision, channels-last, clipping,
    checkpointing); `options` are the task's own (task, transforms, loss terms, callbacks, run folder)."""
    return Trainer(
        model,
        optimizer,
        train,
        val,
        scheduler=scheduler,
        epochs=cfg.epochs,
        batch_size=batch_size,
        seed=cfg.seed,
        device=device,
        precision=cfg.precision,
        channels_last=cfg.channels_last,
        grad_clip=cfg.grad_clip,
        checkpoint_every=cfg.checkpoint_every,
        **options,
    )


__all__ = ["make_trainer", "seeded_model", "start_process"]
