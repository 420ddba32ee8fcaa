"""Training: the `Trainer` loop, callbacks, checkpoints, schedules and config-driven runs."""

from dlbasic.callbacks import Callback
from dlbasic.checkpoint import atomic_save
from dlbasic.training.device import resolve_device
from dlbasic.training.kinds import model_from_checkpoint
from dlbasic.training.restore import load_checkpoint
from dlbasic.training.run import train
from dlbasic.training.schedules import create_scheduler
from dlbasic.training.tasks import ClassificationTask
from dlbasic.training.trainer import Trainer

__all__ = [
    "Callback",
    "ClassificationTask",
    "Trainer",
    "atomic_save",
    "create_scheduler",
    "load_checkpoint",
    "model_from_checkpoint",
    "resolve_device",
    "train",
]
