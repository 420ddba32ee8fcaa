"""Early stopping: stop when a validation metric has not improved for `patience` epochs, and give back
the weights of the best epoch.

Goodfellow, Bengio & Courville, "Deep Learning", section 7.8 (algorithm 7.1), 2016; Prechelt, "Early
Stopping - But When?", 1998. The arguments follow Keras' `EarlyStopping` (monitor, min_delta, patience,
mode, restore_best_weights).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from dlbasic.callbacks import Callback
from dlbasic.errors import UserError, check, did_you_mean

if TYPE_CHECKING:
    from dlbasic.training.trainer import Trainer

_MAX_WORDS = ("acc", "iou", "map", "f1", "auc", "precision", "recall")
_MIN_WORDS = ("loss", "error", "err")


def infer_mode(monitor: str) -> str:
    """'max' for accuracy-like names, 'min' for loss-like names."""
    name = monitor.lower()
    if any(w in name for w in _MIN_WORDS):
        return "min"
    if any(w in name for w in _MAX_WORDS):
        return "max"
    raise UserError(f"cannot tell whether {monitor!r} should go up or down", "pass mode='min' or mode='max'")


class EarlyStopping(Callback):
    """Stop training when `monitor` stops improving; optionally restore the best weights.

    An epoch improves when value < best - min_delta (mode "min") or value > best + min_delta (mode "max").
    After `patience` epochs in a row without improvement the callback sets `trainer.stop_training` and, with
    `restore_best`, loads the best epoch's weights into `trainer.model` at once (and again at the end of
    fit if training ran out of epochs instead), so the final checkpoint holds the best weights.

    Args:
        monitor: key of the epoch logs to watch ("val_loss", "val_accuracy", ...).
        patience: epochs without improvement before stopping (>= 1).
        min_delta: smallest change that counts as an improvement (>= 0).
        mode: "min", "max" or "auto" (from the name: losses go down, accuracies go up).
        restore_best: load the best weights when training stops.

    Attributes:
        best, best_epoch: best value seen and its epoch; stopped_epoch: epoch it stopped at (None while
            running); wait: epochs since the last improvement.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best: bool = True,
    ):
        check(patience >= 1, f"early-stopping patience must be >= 1, got {patience}")
        check(min_delta >= 0, f"min_delta must be >= 0, got {min_delta}")
        modes = ("auto", "min", "max")
        check(mode in modes, f"unknown early-stopping mode {mode!r}", did_you_mean(mode, modes))
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode = infer_mode(monitor) if mode == "auto" else mode
        self.restore_best = restore_best
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self._restored = False

    def improved(self, value: float) -> bool:
        """Whether `value` beats `best` by more than `min_delta` in the direction of `mode` (never for NaN)."""
        if math.isnan(value):
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_fit_start(self, trainer: Trainer) -> None:
        """Allow the best weights to be restored again in this fit."""
        self._restored = False

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Track `monitor`; after `patience` epochs without improvement stop training (and restore the best weights)."""
        if self.monitor not in logs:
            raise UserError(
                f"early stopping monitors {self.monitor!r}, which the epoch logs lack", did_you_mean(self.monitor, logs)
            )
        value = float(logs[self.monitor])
        if self.improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:  # a CPU copy, so the copy costs no accelerator memory
                self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in trainer.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True
            self._restore(trainer)

    def on_fit_end(self, trainer: Trainer) -> None:
        """Restore the best weights if `restore_best` and they were not restored yet."""
        self._restore(trainer)

    def _restore(self, trainer: Trainer) -> None:
        if self.restore_best and self.best_state is not None and not self._restored:
            trainer.model.load_state_dict(self.best_state)
            self._restored = True

    def state_dict(self) -> dict[str, Any]:
        """best, best_epoch, wait, stopped_epoch, the best weights, monitor and mode, for `--resume`."""
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best_state": self.best_state,
            "monitor": self.monitor,
            "mode": self.mode,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`'s state; `UserError` if it watched another monitor or mode."""
        check(
            state["monitor"] == self.monitor and state["mode"] == self.mode,
            f"checkpoint early-stopping state watches {state['monitor']!r} ({state['mode']}), "
            f"not {self.monitor!r} ({self.mode})",
            "resume with the same --early-stopping settings",
        )
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.stopped_epoch, self.best_state = state["stopped_epoch"], state["best_state"]

    def __repr__(self) -> str:
        return (
            f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
            f"min_delta={self.min_delta}, mode={self.mode!r}, restore_best={self.restore_best})"
        )


__all__ = ["EarlyStopping", "infer_mode"]
