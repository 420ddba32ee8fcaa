"""The steps every run takes to become a `Trainer`, whatever its kind and config type (used by
`training.run.build_trainer`): join the process group, seed and build the model for this process, and hand the
engineering settings of the config to the Trainer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from dlbasic.nn.norm import BatchNorm2d
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
    """`build()` after seeding torch with `seed`: the same initial weights in every process; then `per_process`."""
    torch.manual_seed(seed)
    return per_process(build(), seed, sync_bn)


def per_process(model: torch.nn.Module, seed: int, sync_bn: bool = False) -> torch.nn.Module:
    """`model` for this process of a torchrun run: batch norm made SyncBatchNorm when `sync_bn` and there are
    several processes, and torch reseeded by the rank (rank r > 0 by seed + 1,000,003 r) for its own dropout
    masks and noise. A single process is left as it is."""
    if sync_bn and distributed.world()[1] > 1:
        model = sync_batch_norm(model)
    rank = distributed.world()[0]
    if rank:
        torch.manual_seed(seed + 1_000_003 * rank)
    return model


def sync_batch_norm(model: torch.nn.Module) -> torch.nn.Module:
    """`model` with `torch.nn.SyncBatchNorm` in place of every batch norm layer, torch's and `dlbasic.nn`'s own
    (`BatchNorm2d` from scratch, the same weights and buffers), so that statistics are taken over the global batch
    (Peng et al. 2018, MegDet, arXiv 1711.07240)."""
    for name, child in list(model.named_children()):
        if isinstance(child, BatchNorm2d):
            layer = torch.nn.BatchNorm2d(
                child.num_features, child.eps, child.momentum, child.weight is not None, child.track_running_stats
            )
            layer.load_state_dict(child.state_dict())
            setattr(model, name, layer.train(child.training))
        else:
            sync_batch_norm(child)
    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)


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


__all__ = ["make_trainer", "per_process", "seeded_model", "start_process", "sync_batch_norm"]
