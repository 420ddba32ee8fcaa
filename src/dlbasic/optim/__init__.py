"""Optimizers by name: `create_optimizer(name, params, **kw)`, `list_optimizers()`."""

from dlbasic.optim.factory import OptimInfo, create_optimizer, default_lr, list_optimizers, optimizers

__all__ = ["OptimInfo", "create_optimizer", "default_lr", "list_optimizers", "optimizers"]
