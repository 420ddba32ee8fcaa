"""Training: the `Trainer` loop, callbacks, checkpoints, schedules and config-driven runs: one pipeline
(`build_trainer`, `train`) for every kind of run, a `RunKind` bringing what differs."""

from dlbasic.callbacks import Callback
from dlbasic.checkpoint import atomic_save
from dlbasic.training.device import resolve_device
from dlbasic.training.kinds import RunKind, model_from_checkpoint, register_kind, run_kind
from dlbasic.training.restore import load_checkpoint
from dlbasic.training.run import build_trainer, train
from dlbasic.training.schedules import create_scheduler
from dlbasic.training.tasks import ClassificationTask
from dlbasic.training.trainer import Trainer

__all__ = [
    "Callback",
    "ClassificationTask",
    "RunKind",
    "Trainer",
    "atomic_save",
    "build_trainer",
    "create_scheduler",
    "load_checkpoint",
    "model_from_checkpoint",
    "register_kind",
    "resolve_device",
    "run_kind",
    "train",
]
