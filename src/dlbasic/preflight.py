"""Checks before a classifier trains that need more than the config: its names are known (model, optimizer,
scheduler), its model is a classifier and builds for its data (on the meta device: no memory, no arithmetic).

A mistake found here costs no training: `dlbasic train`, `cv`, `compare`, `ensemble` and `tune` (and
`dlbasic.evaluation.tune`) refuse it in one line before the first step.
"""

from __future__ import annotations

from typing import Any

from dlbasic.config import check_config, from_dict
from dlbasic.errors import UserError, check, did_you_mean


def check_names(cfg: Any) -> Any:
    """Refuse an unknown model, optimizer or scheduler name before a run trains with it; returns `cfg`."""
    from dlbasic.models.registry import list_models
    from dlbasic.optim.factory import list_optimizers
    from dlbasic.training.schedules import SCHEDULES

    for what, name, names in (
        ("model", cfg.model, list_models()),
        ("optimizer", cfg.optimizer, list_optimizers()),
        ("scheduler", cfg.scheduler, SCHEDULES),
    ):
        if name not in names:
            raise UserError(f"unknown {what} {name!r}", did_you_mean(name, names))
    return cfg


def check_classifier(cfg: Any) -> None:
    """Refuse a segmentation model where a classifier is trained (train, compare, cv, tune, ensemble)."""
    from dlbasic.models.fcn import SEGMENTATION_MODELS

    check(
        cfg.model not in SEGMENTATION_MODELS,
        f"{cfg.model} is a segmentation model: it predicts a class per pixel, not one per image",
        "train it with `dlbasic segment train`, or choose a classifier from `dlbasic params --list`",
    )


def check_models(configs: list[Any], splits: tuple[str, ...] = ("train",)) -> None:
    """Build the model of every config for its data on the meta device (no memory, no arithmetic), so a
    model that cannot take the images (a map pooled away to nothing) is refused before anything trains.

    The other `splits` named are opened too (an empty one is refused), as a run of the config will.
    """
    import torch

    from dlbasic.data import load
    from dlbasic.training.run import build_model

    for cfg in configs:
        check_classifier(cfg)
        opts = cfg.split_options()
        data = load(cfg.data, "train", **opts)
        for split in splits:
            load(cfg.data, split, **opts)
        with torch.device("meta"):
            build_model(cfg, data)


def check_variants(base: Any, overrides: list[dict[str, Any]], splits: tuple[str, ...] = ("train",)) -> list[Any]:
    """`base` with each of `overrides` set (`from_dict`), each checked (`check_config`) and its model built for its
    data (`check_models`, opening `splits` too): the configs a command that trains several (cv, compare) runs."""
    configs = [check_config(from_dict(o, base)) for o in overrides]
    check_models(configs, splits)
    return configs
