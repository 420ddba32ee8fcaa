"""Learning-rate schedules by name, as torch LR schedulers stepped once per optimizer step.

- `none`: constant; `step`: multiply by `gamma` every `step_epochs` epochs (StepLR);
- `exponential`: multiply by `gamma` every epoch; `cosine`: cosine annealing to 0 over the run
  (Loshchilov & Hutter, arXiv 1608.03983); `onecycle`: Smith & Topin's one-cycle (arXiv 1708.07120).
- `warmup_steps` > 0 prepends a linear warm-up from lr/warmup_steps to lr.
"""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR

from dlbasic.errors import UserError, did_you_mean

SCHEDULES = ("none", "step", "exponential", "cosine", "onecycle")


def create_scheduler(
    name: str,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    steps_per_epoch: int,
    step_epochs: int = 1,
    gamma: float = 0.7,
    warmup_steps: int = 0,
) -> LRScheduler | None:
    """A scheduler to call `.step()` after every optimizer step, or None for a constant rate."""
    if name not in SCHEDULES:
        raise UserError(f"unknown scheduler {name!r}", did_you_mean(name, SCHEDULES))
    total = epochs * steps_per_epoch
    if name == "onecycle":
        return OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups], total_steps=total)
    if name == "none" and warmup_steps == 0:
        return None

    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
        if name == "step":
            return warm * gamma ** (step // (step_epochs * steps_per_epoch))
        if name == "exponential":
            return warm * gamma ** (step // steps_per_epoch)
        if name == "cosine":
            return warm * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
        return warm

    return LambdaLR(optimizer, factor)
