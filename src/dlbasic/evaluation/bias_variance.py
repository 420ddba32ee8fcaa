"""Bias-variance decompositions of the expected loss over models trained on bootstrap samples.

Given predictions `preds[r, j]` of R models (each trained on a bootstrap sample of the training set)
at M test points with targets `y[j]`:

Squared loss (Geman, Bienenstock & Doursat, "Neural networks and the bias/variance dilemma", 1992):
    main prediction  ybar_j = mean_r preds[r, j]
    E[(pred - y)^2] = mean_j (ybar_j - y_j)^2  +  mean_{r,j} (preds[r, j] - ybar_j)^2      (exact)
                    = bias^2 + variance.
    When the noise-free target f(x_j) is known (a synthetic regression), `target_mean` splits the
    first term: bias^2 = mean_j (ybar_j - f_j)^2 and noise = mean_j (y_j - f_j)^2, and the
    identity holds up to the cross term 2 mean_j (ybar_j - f_j)(f_j - y_j), which is 0 in expectation.

0-1 loss (Domingos, "A unified bias-variance decomposition", ICML 2000), noise taken as 0:
    main prediction  ym_j = the most frequent prediction (ties: the smallest class id, as mlxtend)
    bias      B = mean_j 1[ym_j != y_j]
    variance  V = mean_j P_r(pred != ym_j)                       (mlxtend's `avg_var`)
    expected loss = B + V_unbiased - sum over biased points of P(pred = y_j) / M
    where V_unbiased = mean_j 1[ym_j = y_j] P(pred != ym_j): variance adds to the loss where the main
    prediction is right and subtracts from it where it is wrong. With two classes P(pred = y) equals
    P(pred != ym) at a biased point, so loss = B + V_unbiased - V_biased. mlxtend reports B and V only,
    whose sum is *not* the expected loss; `net_variance` = loss - B is the part that is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlbasic.errors import check
from dlbasic.evaluation.bootstrap import bootstrap_indices

FitPredict = Callable[[np.ndarray, np.ndarray], np.ndarray]


def squared_loss_decomposition(
    preds: np.ndarray, y: np.ndarray, target_mean: np.ndarray | None = None
) -> dict[str, float]:
    """Bias^2 + variance (+ noise with `target_mean`) of real-valued predictions [R, M] against y [M]."""
    preds, y = np.asarray(preds, dtype=np.float64), np.asarray(y, dtype=np.float64)
    check(preds.ndim == 2 and preds.shape[1] == y.shape[0], "preds must be [rounds, points] matching y")
    main = preds.mean(0)  # [M]
    out = {
        "expected_loss": float(((preds - y) ** 2).mean()),
        "bias2": float(((main - y) ** 2).mean()),
        "variance": float(((preds - main) ** 2).mean()),
    }
    if target_mean is not None:
        f = np.asarray(target_mean, dtype=np.float64)
        out["bias2"] = float(((main - f) ** 2).mean())
        out["noise"] = float(((y - f) ** 2).mean())
    return out


def main_prediction(labels: np.ndarray) -> np.ndarray:
    """The most frequent label per column of int array [R, M] (ties: the smallest label)."""
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.zeros((labels.max() + 1, labels.shape[1]), dtype=np.int64)  # [K, M]
    np.add.at(counts, (labels, np.arange(labels.shape[1])[None, :].repeat(labels.shape[0], 0)), 1)
    return counts.argmax(0)


def zero_one_decomposition(preds: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Domingos' decomposition of the 0-1 loss of class predictions [R, M] against labels y [M]."""
    preds, y = np.asarray(preds, dtype=np.int64), np.asarray(y, dtype=np.int64)
    check(preds.ndim == 2 and preds.shape[1] == y.shape[0], "preds must be [rounds, points] matching y")
    main = main_prediction(preds)  # [M]
    biased = main != y  # [M]
    var_point = (preds != main).mean(0)  # P(pred != main) per point
    loss_point = (preds != y).mean(0)
    m = y.shape[0]
    return {
        "expected_loss": float(loss_point.mean()),
        "bias": float(biased.mean()),
        "variance": float(var_point.mean()),
        "variance_unbiased": float(var_point[~biased].sum() / m),
        "variance_biased": float(var_point[biased].sum() / m),
        "net_variance": float(loss_point.mean() - biased.mean()),
    }


def bootstrap_predictions(
    fit_predict: FitPredict, x_train: np.ndarray, y_train: np.ndarray, rounds: int = 200, seed: int = 0
) -> np.ndarray:
    """Predictions [R, M] of `fit_predict(x_boot, y_boot)` (which predicts the test points) over R bootstrap rounds.

    The rounds are mlxtend's for `random_seed=seed`; `fit_predict` must train a fresh model each call.
    """
    rng = np.random.RandomState(seed)
    rows = []
    for _ in range(rounds):
        idx = bootstrap_indices(len(y_train), 1, rng)[0]
        rows.append(np.asarray(fit_predict(x_train[idx], y_train[idx])))
    return np.stack(rows)


def bias_variance_decomp(
    fit_predict: FitPredict,
    x_train: np.ndarray,
    y_train: np.ndarray,
    y_test: np.ndarray,
    loss: str = "0-1",
    rounds: int = 200,
    seed: int = 0,
    target_mean: np.ndarray | None = None,
) -> dict[str, float]:
    """Bootstrap rounds, then the decomposition for `loss` ("0-1" or "mse").

    `fit_predict(x_boot, y_boot)` trains a fresh model and returns its predictions at the M test points
    whose targets are `y_test`; `target_mean` (mse only) is the noise-free target f(x) there, if known.

    Returns:
        For "mse": `expected_loss`, `bias2`, `variance` (and `noise` with `target_mean`; `bias2` is then
        measured against f). For "0-1" (Domingos): `expected_loss`, `bias`, `variance` (mlxtend's),
        `variance_unbiased`, `variance_biased` and `net_variance` = expected_loss - bias.
    """
    check(loss in ("0-1", "mse"), f"unknown loss {loss!r}", "choices: 0-1, mse")
    preds = bootstrap_predictions(fit_predict, x_train, y_train, rounds, seed)
    if loss == "mse":
        return squared_loss_decomposition(preds, y_test, target_mean)
    return zero_one_decomposition(preds, y_test)


__all__ = [
    "bias_variance_decomp",
    "bootstrap_predictions",
    "main_prediction",
    "squared_loss_decomposition",
    "zero_one_decomposition",
]
