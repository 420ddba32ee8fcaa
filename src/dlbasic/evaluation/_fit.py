"""Shared pieces for training many models on parts of one dataset (folds, bootstrap samples, boosting rounds).

Each part gets its own normalization statistics, computed from the images it trains on, so a
validation fold never leaks into the statistics of the model that is judged on it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from dlbasic.config import TrainConfig
from dlbasic.data import ImageDataset, load, stratified_split
from dlbasic.data.dataset import channel_stats
from dlbasic.regularization import EarlyStopping
from dlbasic.training.run import build_trainer
from dlbasic.training.trainer import Trainer


def load_pool(cfg: TrainConfig) -> ImageDataset:
    """All labelled data that may be used for choices: the train and val splits joined (never the test split).

    `cfg.train_subset` keeps that many images of the pool (stratified, seeded).
    """
    train = load(cfg.data, "train", **cfg.split_options())
    val = load(cfg.data, "val", **cfg.split_options(), allow_empty=True)  # --val-fraction 0: the pool is train
    pool = ImageDataset(
        torch.cat([train.images, val.images]),
        torch.cat([train.labels, val.labels]),
        train.classes,
        train.mean,
        train.std,
        train.name,
        "train+val",
        train.info,
    )
    if cfg.train_subset is not None and cfg.train_subset < len(pool):
        _, keep = stratified_split(pool.labels, cfg.train_subset / len(pool), cfg.seed + 2)
        pool = pool.subset(keep)
    return with_own_stats(pool)


def with_own_stats(data: ImageDataset) -> ImageDataset:
    """The same images with mean/std recomputed from them (the statistics a model trained on them may use)."""
    mean, std = channel_stats(data.images)
    return replace(data, mean=mean, std=std)


def fit(
    cfg: TrainConfig,
    train: ImageDataset,
    val: ImageDataset | None = None,
    *,
    patience: int = 0,
    task: Any = None,
    progress: bool | None = False,
) -> Trainer:
    """Train a fresh model of `cfg` on `train` through the `Trainer`; returns the trainer (model inside).

    With `val` and `patience` > 0, early stopping on validation loss restores the best epoch's weights.
    The regularization options of `cfg` apply as in `dlbasic train`.
    """
    stopping = [EarlyStopping("val_loss", patience=patience)] if val is not None and patience > 0 else []
    trainer = build_trainer(
        replace(cfg, early_stopping=0),
        train,
        val,
        task=task,
        callbacks=stopping,
        progress=progress,
        stop_on_divergence=False,
    )  # a diverging candidate scores and loses
    trainer.fit()
    return trainer


def best_epoch(trainer: Trainer) -> int:
    """Epochs up to the weights the trainer ended with (the restored best epoch under early stopping)."""
    for cb in trainer.callbacks:
        if isinstance(cb, EarlyStopping) and cb.best_epoch is not None:
            return cb.best_epoch + 1
    return len(trainer.history)


@torch.no_grad()
def predict_proba(trainer: Trainer, data: ImageDataset) -> Tensor:
    """Class probabilities Tensor[N, K] of the trainer's model on `data` (normalized with its train statistics)."""
    model = trainer.model.eval()
    out = []
    for i in range(0, len(data), trainer.eval_batch_size):
        x = data.images[i : i + trainer.eval_batch_size].to(trainer.device)
        out.append(model((x - trainer.mean) / trainer.std).float().softmax(1).cpu())  # (B, K)
    return torch.cat(out)
