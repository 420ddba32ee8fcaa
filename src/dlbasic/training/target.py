"""Stop at a target accuracy: evaluate on the validation split every k steps, record the time to target."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from dlbasic.callbacks import Callback

if TYPE_CHECKING:
    from dlbasic.training.trainer import Trainer


class TargetAccuracy(Callback):
    """Evaluates the validation split every `every` steps; stops training once accuracy >= `target`.

    `seconds` is the wall time from the start of training to the evaluation that reached the target
    (evaluations included), or None if it was never reached.
    """

    def __init__(self, target: float, every: int = 100):
        self.target, self.every = target, every
        self.seconds: float | None = None
        self.step: int | None = None
        self.accuracy: float | None = None
        self.elapsed = 0.0  # wall time of earlier (resumed-from) parts of the run
        self._start = 0.0

    def on_fit_start(self, trainer: Trainer) -> None:
        """Start the clock."""
        self._start = time.perf_counter()

    def on_batch_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        """Every `every` steps until reached: evaluate the validation split; stop training at the target."""
        if self.seconds is not None or trainer.val_data is None or trainer.global_step % self.every:
            return
        self.accuracy = trainer.evaluate(trainer.val_data)["accuracy"]
        trainer.model.train()
        if self.accuracy >= self.target:
            self.seconds = self.elapsed + time.perf_counter() - self._start
            self.step = trainer.global_step
            trainer.stop_training = True

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Stop training if the epoch's validation accuracy reached the target."""
        if self.seconds is None and logs.get("val_accuracy", 0.0) >= self.target:
            self.seconds = self.elapsed + time.perf_counter() - self._start
            self.step = trainer.global_step
            trainer.stop_training = True

    def state_dict(self) -> dict[str, Any]:
        """The result so far and the elapsed wall time, for `--resume`."""
        return {
            "seconds": self.seconds,
            "step": self.step,
            "accuracy": self.accuracy,
            "elapsed": self.elapsed + time.perf_counter() - self._start,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` saved; the clock continues from the saved elapsed time."""
        self.seconds, self.step, self.accuracy = state["seconds"], state["step"], state["accuracy"]
        self.elapsed = state["elapsed"]
