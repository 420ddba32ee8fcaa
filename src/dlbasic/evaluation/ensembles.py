"""Ensembles of networks: bagging (soft and hard voting) and multi-class AdaBoost (SAMME).

Bagging: Breiman, "Bagging predictors", Machine Learning 1996. Each member trains on its own bootstrap
sample; the ensemble averages the members' class probabilities (soft voting) or takes the most
frequent predicted class (hard voting, ties to the smallest class id). Out-of-bag points give each
member a validation score for free.

Boosting: Zhu, Zou, Rosset & Hastie, "Multi-class AdaBoost", Statistics and its Interface 2009
(SAMME), as scikit-learn's `AdaBoostClassifier(algorithm="SAMME")`. With sample weights w (sum 1):
    err_m   = sum_i w_i 1[h_m(x_i) != y_i]
    alpha_m = log((1 - err_m) / err_m) + log(K - 1)
    w_i    <- w_i exp(alpha_m 1[h_m(x_i) != y_i]), then renormalized
    H(x)    = argmax_k sum_m alpha_m 1[h_m(x) = k]
Boosting stops early when err_m = 0 (a perfect learner) or err_m >= 1 - 1/K (no better than chance).
Weak learners here are small networks trained through a weighted cross-entropy (`WeightedTask`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dlbasic.config import TrainConfig
from dlbasic.data import ImageDataset
from dlbasic.evaluation._fit import fit, predict_proba, with_own_stats
from dlbasic.evaluation.bootstrap import bootstrap_indices, out_of_bag
from dlbasic.training.tasks import Task


def soft_vote(probs: Tensor) -> Tensor:
    """Class ids Tensor[N] from the mean of member probabilities Tensor[M, N, K]."""
    return probs.mean(0).argmax(1)


def hard_vote(probs: Tensor) -> Tensor:
    """Class ids Tensor[N]: the most frequent member prediction (ties: the smallest class id)."""
    votes = F.one_hot(probs.argmax(2), probs.shape[2]).sum(0)  # (N, K) vote counts
    return votes.argmax(1)  # argmax returns the first maximum


# ---- bagging -------------------------------------------------------------------------------------


@dataclass
class BaggingResult:
    """Member and ensemble accuracies on the evaluation data, and each member's out-of-bag accuracy."""

    member_accuracy: list[float]
    oob_accuracy: list[float]
    soft_accuracy: float
    hard_accuracy: float
    probs: Tensor = field(repr=False)  # Tensor[M, N, K] member probabilities on the evaluation data

    def to_dict(self) -> dict[str, Any]:
        """The accuracies as plain JSON (without the probabilities)."""
        return {
            "member_accuracy": self.member_accuracy,
            "oob_accuracy": self.oob_accuracy,
            "soft_accuracy": self.soft_accuracy,
            "hard_accuracy": self.hard_accuracy,
        }


def bagging(
    cfg: TrainConfig,
    train: ImageDataset,
    evaluate_on: ImageDataset,
    members: int = 5,
    seed: int = 0,
    on_member: Callable[[int, float, float], None] | None = None,
    jobs: int = 1,
) -> BaggingResult:
    """Train `members` networks of `cfg`, each on a bootstrap sample of `train` (member m: `cfg.seed + m`),
    `jobs` at a time in worker processes (`dlbasic.parallel`; the results do not depend on it)."""
    from dlbasic.parallel import run_all

    draws = bootstrap_indices(len(train), members, seed)  # [M, n]
    calls = [(replace(cfg, seed=cfg.seed + m), train, evaluate_on, draws[m]) for m in range(members)]
    report = (lambda m, r: on_member(m, r[1], r[2])) if on_member is not None else None
    done = run_all(bag_member, calls, jobs=jobs, threads=cfg.threads, on_result=report)
    stacked = torch.stack([probs for probs, _, _ in done])
    y = evaluate_on.labels
    return BaggingResult(
        [acc for _, acc, _ in done],
        [oob for _, _, oob in done],
        float((soft_vote(stacked) == y).float().mean()),
        float((hard_vote(stacked) == y).float().mean()),
        stacked,
    )


def bag_member(
    cfg: TrainConfig, train: ImageDataset, evaluate_on: ImageDataset, draw: np.ndarray
) -> tuple[Tensor, float, float]:
    """One bagging member trained on `train` rows `draw`: its probabilities on `evaluate_on` (N, K), its
    accuracy there and on its out-of-bag rows."""
    trainer = fit(cfg, with_own_stats(train.subset(torch.from_numpy(draw))))
    probs = predict_proba(trainer, evaluate_on)
    oob = train.subset(torch.from_numpy(np.flatnonzero(out_of_bag(draw, len(train)))))
    oob_acc = float((predict_proba(trainer, oob).argmax(1) == oob.labels).float().mean())
    return probs, float((probs.argmax(1) == evaluate_on.labels).float().mean()), oob_acc


# ---- boosting ------------------------------------------------------------------------------------


class WeightedTask(Task):
    """Cross entropy weighted per sample; targets are Tensor[B, K] = w_i * one_hot(y_i).

    loss = sum_b w_b CE_b / sum_b w_b over the batch (self-normalized, so its scale does not depend on how
    the weights are normalized); accuracy counts the argmax of the target as the label.
    """

    monitor = "val_accuracy"
    mode = "max"

    def loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """sum_b w_b CE_b / sum_b w_b for logits Tensor[B, K] and weighted one-hot targets Tensor[B, K]."""
        nll = -(targets * logits.float().log_softmax(1)).sum(1)  # (B,) w_b CE_b
        return nll.sum() / targets.sum().clamp_min(1e-12)

    def loss_count(self, targets: Tensor) -> Tensor:
        """sum_b w_b, the weight the loss is a mean over (it weights processes' shares of a global batch)."""
        return targets.sum()

    @torch.no_grad()
    def metrics(self, logits: Tensor, targets: Tensor) -> dict[str, Tensor]:
        """{'correct': the batch's count of argmax(logits) == argmax(targets)}."""
        return {"correct": (logits.argmax(1) == targets.argmax(1)).sum()}

    @staticmethod
    def summarize(sums: dict[str, float], count: int) -> dict[str, float]:
        """{'accuracy': correct / count}."""
        return {"accuracy": sums["correct"] / max(count, 1)}


def weighted_targets(labels: Tensor, weights: Tensor, num_classes: int) -> Tensor:
    """Tensor[N, K] = weights[:, None] * one_hot(labels), the targets `WeightedTask` reads."""
    return F.one_hot(labels, num_classes).float() * weights.float()[:, None]


class WeightedDataset(ImageDataset):
    """An `ImageDataset` whose `labels` are weighted one-hot targets Tensor[N, K] (its length is N)."""

    def __len__(self) -> int:
        return self.labels.shape[0]

    @classmethod
    def of(cls, data: ImageDataset, weights: Tensor) -> WeightedDataset:
        """`data` with its labels replaced by `weights[:, None] * one_hot(labels)`."""
        targets = weighted_targets(data.labels, weights, data.num_classes)
        return cls(data.images, targets, data.classes, data.mean, data.std, data.name, data.split, data.info)


@dataclass
class SammeRound:
    """One SAMME round: the learner's weighted error and vote weight, and what it did to H and the weights."""

    error: float  # weighted training error err_m of the round's learner
    alpha: float  # its vote weight (0 when the round was discarded)
    ensemble_train_error: float  # unweighted training error of H after this round
    weight_on_mistakes: float  # share of the new weights on points this learner got wrong
    effective_sample_size: float  # 1 / sum w_i^2 of the new weights (n when uniform)
    max_weight_ratio: float  # max w_i / (1/n) of the new weights


def samme(
    fit_predict: Callable[[np.ndarray], np.ndarray], y: np.ndarray, num_classes: int, rounds: int
) -> tuple[list[float], list[SammeRound]]:
    """SAMME on training labels `y` [n]; `fit_predict(w)` trains a learner with sample weights w and returns
    its predictions on the training points. Returns the vote weights alpha_m and per-round statistics."""
    n = len(y)
    w = np.full(n, 1.0 / n)
    scores = np.zeros((n, num_classes))  # sum_m alpha_m 1[h_m(x) = k]
    alphas, stats = [], []
    for _ in range(rounds):
        pred = np.asarray(fit_predict(w))
        wrong = pred != y
        err = float(np.sum(w[wrong]) / np.sum(w))
        if err >= 1 - 1 / num_classes:
            break  # no better than chance: SAMME discards the learner and stops
        if err <= 0:  # a perfect learner: scikit-learn gives it weight 1 and stops
            alphas.append(1.0)
            scores[np.arange(n), pred] += 1.0
            stats.append(
                SammeRound(
                    0.0, 1.0, float(np.mean(scores.argmax(1) != y)), 0.0, float(1.0 / np.sum(w**2)), float(w.max() * n)
                )
            )
            break
        alpha = math.log((1 - err) / err) + math.log(num_classes - 1)
        w = w * np.exp(alpha * wrong)
        w = w / w.sum()
        alphas.append(alpha)
        scores[np.arange(n), pred] += alpha
        stats.append(
            SammeRound(
                err,
                alpha,
                float(np.mean(scores.argmax(1) != y)),
                float(w[wrong].sum()),
                float(1.0 / np.sum(w**2)),
                float(w.max() * n),
            )
        )
    return alphas, stats


def vote_accuracy_per_round(
    alphas: list[float], preds: list[np.ndarray], y: np.ndarray, num_classes: int
) -> list[float]:
    """Accuracy on labels `y` [N] of the SAMME vote H_m = argmax_k sum_{j<=m} alpha_j [h_j = k] after each round m
    (`preds`: each learner's class ids [N]; a learner past `alphas`, discarded, is not voted)."""
    if not alphas:
        return []
    votes = np.zeros((len(alphas), len(y), num_classes))  # [M, N, K]
    votes[np.arange(len(alphas))[:, None], np.arange(len(y))[None, :], np.stack(preds[: len(alphas)])] = np.asarray(
        alphas
    )[:, None]
    return (np.cumsum(votes, 0).argmax(2) == y[None, :]).mean(1).tolist()


@dataclass
class BoostingResult:
    """The SAMME rounds and vote weights, with H's and each weak learner's accuracy on the evaluation data; and,
    for every learner trained (a discarded last one included), the weights it trained on and its predictions."""

    rounds: list[SammeRound]
    alphas: list[float]
    test_accuracy_per_round: list[float]  # accuracy of H after each round on the evaluation data
    learner_test_accuracy: list[float]  # each weak learner alone
    weights: list[np.ndarray] = field(default_factory=list, repr=False)  # D_m, the [n] weights learner m trained on
    train_predictions: list[np.ndarray] = field(default_factory=list, repr=False)  # learner m's class ids [n]
    test_predictions: list[np.ndarray] = field(default_factory=list, repr=False)  # learner m's on the evaluation data

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: every round's statistics, the alphas and the accuracies."""
        return {
            "rounds": [r.__dict__ for r in self.rounds],
            "alphas": self.alphas,
            "test_accuracy_per_round": self.test_accuracy_per_round,
            "learner_test_accuracy": self.learner_test_accuracy,
        }


def boosting(
    cfg: TrainConfig,
    train: ImageDataset,
    evaluate_on: ImageDataset,
    rounds: int = 5,
    on_round: Callable[[int, SammeRound], None] | None = None,
) -> BoostingResult:
    """AdaBoost (SAMME) with networks of `cfg` as weak learners, trained through `WeightedTask`."""
    k = train.num_classes
    train = with_own_stats(train)
    weights: list[np.ndarray] = []
    train_preds: list[np.ndarray] = []
    test_preds: list[np.ndarray] = []

    def fit_predict(w: np.ndarray) -> np.ndarray:
        weighted = WeightedDataset.of(train, torch.from_numpy(w * len(w)))  # mean weight 1
        trainer = fit(replace(cfg, seed=cfg.seed + len(test_preds)), weighted, task=WeightedTask())
        weights.append(w)
        test_preds.append(predict_proba(trainer, evaluate_on).argmax(1).numpy())
        train_preds.append(predict_proba(trainer, train).argmax(1).numpy())
        return train_preds[-1]

    def report(m: int, r: SammeRound) -> None:
        if on_round is not None:
            on_round(m, r)

    alphas, stats = samme(fit_predict, train.labels.numpy(), k, rounds)
    for m, r in enumerate(stats):
        report(m, r)
    y = evaluate_on.labels.numpy()
    per_round = vote_accuracy_per_round(alphas, test_preds, y, k)
    learners = [float(np.mean(p == y)) for p in test_preds[: len(alphas)]]
    return BoostingResult(stats, alphas, per_round, learners, weights, train_preds, test_preds)


__all__ = [
    "BaggingResult",
    "BoostingResult",
    "SammeRound",
    "WeightedDataset",
    "WeightedTask",
    "bagging",
    "boosting",
    "hard_vote",
    "samme",
    "soft_vote",
    "vote_accuracy_per_round",
    "weighted_targets",
]
