"""k-fold cross-validation for choosing hyperparameters, then one final test.

The protocol of the course notes (and of Hastie, Tibshirani & Friedman, "The Elements of Statistical
Learning", section 7.10): the labelled pool (train + val splits) is cut into k stratified folds
(scikit-learn's `StratifiedKFold`); every candidate configuration is trained k times, each time on k-1
folds with early stopping on the held-out fold; the candidate with the best mean held-out accuracy wins
(ties: the first listed); it is retrained on the whole pool for the median of its folds' best epoch
counts; and only then is the test split loaded, once, to report the final accuracy.
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold
from torch import Tensor

from dlbasic.config import TrainConfig, from_dict
from dlbasic.data import ImageDataset, load
from dlbasic.errors import check
from dlbasic.evaluation._fit import best_epoch, fit, load_pool, with_own_stats

RULE = "highest mean held-out-fold accuracy (ties: the first candidate listed)"


@dataclass
class FoldResult:
    """One trained fold: its held-out accuracy and loss at the restored best epoch."""

    candidate: int
    fold: int
    val_accuracy: float
    val_loss: float
    best_epoch: int
    epochs_run: int
    seconds: float


@dataclass
class CVResult:
    """Every fold of every candidate, the choice, and (after `final_test`) the single test evaluation."""

    candidates: list[dict[str, Any]]
    folds: list[FoldResult]
    rule: str = RULE
    final: dict[str, Any] = field(default_factory=dict)
    model: torch.nn.Module | None = None  # the chosen candidate retrained on the pool (after `final_test`)

    def scores(self, candidate: int) -> list[float]:
        """The held-out accuracy of every fold of candidate `candidate` (an index into `candidates`)."""
        return [f.val_accuracy for f in self.folds if f.candidate == candidate]

    def summary(self) -> list[dict[str, Any]]:
        """Per candidate: its overrides, mean and std (sample) of held-out accuracy, median best epoch."""
        rows = []
        for i, c in enumerate(self.candidates):
            acc = self.scores(i)
            epochs = [f.best_epoch for f in self.folds if f.candidate == i]
            rows.append(
                {
                    "candidate": c,
                    "mean": statistics.fmean(acc),
                    "std": statistics.stdev(acc) if len(acc) > 1 else 0.0,
                    "best_epochs": int(np.median(epochs)),
                }
            )
        return rows

    @property
    def best_index(self) -> int:
        """The index of the candidate with the highest mean held-out accuracy (ties: the first listed)."""
        means = [r["mean"] for r in self.summary()]
        return int(np.argmax(means))  # argmax returns the first maximum: ties go to the first listed

    @property
    def best(self) -> dict[str, Any]:
        """The overrides of the chosen candidate (`candidates[best_index]`)."""
        return self.candidates[self.best_index]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: the rule, candidates, per-candidate summary, choice, every fold and the final test."""
        return {
            "rule": self.rule,
            "candidates": self.candidates,
            "summary": self.summary(),
            "best": self.best,
            "folds": [asdict(f) for f in self.folds],
            "final": self.final,
        }


def kfold_splits(labels: Tensor, folds: int, seed: int = 0) -> list[tuple[Tensor, Tensor]]:
    """Stratified k-fold (train_index, held_out_index) pairs, shuffled with `seed` (scikit-learn's splitter)."""
    check(folds >= 2, f"cross-validation needs at least 2 folds, got {folds}")
    y = labels.numpy()
    counts = np.bincount(y)
    check(
        counts[counts > 0].min() >= folds,
        f"{folds} folds need at least {folds} images of every class",
        "use fewer folds or more data",
    )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [(torch.from_numpy(tr), torch.from_numpy(te)) for tr, te in splitter.split(np.zeros(len(y)), y)]


def grid(vary: dict[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of the values to vary, as a list of config overrides.

    >>> grid({"lr": [0.1, 0.01], "weight_decay": [0.0]})
    [{'lr': 0.1, 'weight_decay': 0.0}, {'lr': 0.01, 'weight_decay': 0.0}]
    """
    keys = list(vary)
    return [dict(zip(keys, values)) for values in itertools.product(*(vary[k] for k in keys))]


def cross_validate(
    cfg: TrainConfig,
    candidates: Sequence[dict[str, Any]],
    folds: int = 5,
    patience: int = 2,
    pool: ImageDataset | None = None,
    on_fold: Callable[[FoldResult], None] | None = None,
    jobs: int = 1,
) -> CVResult:
    """Train every candidate on every fold of the pool (train + val splits); the test split is not read.

    Args:
        cfg: the base configuration; each candidate's overrides are applied on top (`from_dict`).
        candidates: config overrides, e.g. `grid({"lr": [1e-3, 1e-2]})`.
        folds: k of k-fold.
        patience: early-stopping patience on the held-out fold's loss (0: train all `cfg.epochs`).
        pool: the labelled data to cut (default: `load_pool(cfg)`).
        on_fold: called after each trained fold (progress printing), as each finishes.
        jobs: fold runs at a time, each in its own worker process (`dlbasic.parallel`); the results do not
            depend on it (with the same `cfg.threads`).
    """
    from dlbasic.parallel import run_all

    check(len(candidates) >= 1, "cross-validation needs at least one candidate")
    configs = [from_dict(c, cfg) for c in candidates]
    if pool is None and jobs <= 1:
        pool = load_pool(cfg)  # else each worker loads it once
    calls = [(cfg, c, i, k, folds, patience, pool) for k in range(folds) for i, c in enumerate(configs)]
    done = run_all(
        fold_run,
        calls,
        jobs=jobs,
        threads=cfg.threads,
        on_result=(lambda _, f: on_fold(f)) if on_fold is not None else None,
    )
    return CVResult([dict(c) for c in candidates], done)


_POOLS: dict[str, ImageDataset] = {}  # a worker's pools, by base config


def fold_run(
    base: TrainConfig, cfg: TrainConfig, candidate: int, k: int, folds: int, patience: int, pool: ImageDataset | None
) -> FoldResult:
    """Candidate `cfg` trained on the folds other than `k` of the pool of `base` and scored on fold k."""
    if pool is None:
        key = json.dumps(base.to_dict(), sort_keys=True, default=str)
        if key not in _POOLS:  # keep one
            _POOLS.clear()
            _POOLS[key] = load_pool(base)
        pool = _POOLS[key]
    tr, te = kfold_splits(pool.labels, folds, base.seed)[k]
    train = with_own_stats(pool.subset(tr))
    held_out = pool.subset(te)
    start = time.perf_counter()
    trainer = fit(cfg, train, held_out, patience=patience)
    scores = trainer.evaluate(held_out)
    return FoldResult(
        candidate,
        k,
        float(scores["accuracy"]),
        float(scores["loss"]),
        best_epoch(trainer),
        len(trainer.history),
        time.perf_counter() - start,
    )


def final_test(cfg: TrainConfig, result: CVResult, pool: ImageDataset | None = None) -> dict[str, Any]:
    """Retrain the chosen candidate on the whole pool, then load the test split (once) and evaluate on it."""
    chosen = from_dict(result.best, cfg)
    chosen.epochs = result.summary()[result.best_index]["best_epochs"]
    pool = pool if pool is not None else load_pool(cfg)
    start = time.perf_counter()
    trainer = fit(chosen, with_own_stats(pool))
    test = load(cfg.data, "test", **cfg.split_options())  # the only read of the test split
    scores = trainer.evaluate(test)
    result.final = {
        "config": result.best,
        "epochs": chosen.epochs,
        "train_images": len(pool),
        "test_images": len(test),
        "test_accuracy": float(scores["accuracy"]),
        "test_loss": float(scores["loss"]),
        "seconds": time.perf_counter() - start,
        "test_split": test.info.get("test", ""),
    }
    result.model = trainer.model
    return result.final


def run_cv(
    cfg: TrainConfig,
    candidates: Sequence[dict[str, Any]],
    folds: int = 5,
    patience: int = 2,
    on_fold: Callable[[FoldResult], None] | None = None,
    jobs: int = 1,
) -> CVResult:
    """`cross_validate`, then `final_test`: the whole protocol of the module docstring."""
    pool = load_pool(cfg)
    result = cross_validate(cfg, candidates, folds, patience, pool if jobs <= 1 else None, on_fold, jobs)
    final_test(cfg, result, pool)
    return result


__all__ = ["RULE", "CVResult", "FoldResult", "cross_validate", "final_test", "grid", "kfold_splits", "run_cv"]
