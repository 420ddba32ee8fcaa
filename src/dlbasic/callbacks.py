"""Callbacks: small objects the `Trainer` calls at fixed points of its loop (early stopping, weight noise,
metrics writers and the studies' probes build on `Callback`).

Order within one epoch: `on_epoch_start` -> per batch (`on_batch_start`, forward, loss,
`on_after_backward`, optimizer step, `on_batch_end`) -> validation -> `on_epoch_end`.
A callback may set `trainer.stop_training = True`. Callbacks with state (early stopping)
implement `state_dict`/`load_state_dict` so `--resume` restores them with the checkpoint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dlbasic.training.trainer import Trainer


class Callback:
    """Base class: every hook does nothing."""

    def on_fit_start(self, trainer: Trainer) -> None:
        """Called once when `fit` starts (also when a resumed run starts again)."""

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Called before the first batch of epoch `epoch` (0-based); not again for an epoch resumed mid-way."""

    def on_batch_start(self, trainer: Trainer) -> None:
        """Called before each training forward pass (after the batch is transformed and normalized)."""

    def on_after_backward(self, trainer: Trainer) -> None:
        """Called once the gradients are computed (and unscaled), before gradient clipping and the optimizer step."""

    def on_batch_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        """Called after each optimizer step; `logs["loss"]` is the training loss of the (global) batch."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Called after validation with the epoch's training and `val_*` logs, before the checkpoint is saved."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """Called once when training ends (all epochs done or `stop_training` set)."""

    def state_dict(self) -> dict[str, Any]:
        """The callback's state, saved in the checkpoint so `--resume` restores it (none here)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the state `state_dict` returned."""
