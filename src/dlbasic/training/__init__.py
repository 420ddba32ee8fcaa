"""Training: the `Trainer` loop, callbacks, checkpoints, schedules and config-driven runs."""

from dlbasic.training.callbacks import Callback
from dlbasic.training.checkpoint import atomic_save, load_checkpoint
from dlbasic.training.schedules import create_scheduler
from dlbasic.training.tasks import ClassificationTask
from dlbasic.training.trainer import Trainer, resolve_device

__all__ = ["Callback", "ClassificationTask", "Trainer", "atomic_save", "create_scheduler", "load_checkpoint",
           "model_from_checkpoint", "resolve_device", "train"]


def __getattr__(name: str):
    # `run` builds on the regularization package, whose callbacks build on this package: import it on first use
    if name in ("train", "model_from_checkpoint"):
        from dlbasic.training import run

        return getattr(run, name)
    raise AttributeError(f"module 'dlbasic.training' has no attribute {name!r}")
