"""The bootstrap: resampled training sets, out-of-bag points, percentile confidence intervals.

Efron, "Bootstrap methods: another look at the jackknife", Ann. Statist. 1979; Efron & Tibshirani,
"An Introduction to the Bootstrap", 1993 (chapter 13, the percentile interval). A bootstrap sample
draws n indices from n with replacement; about (1 - 1/n)^n ~ 36.8 % of the points are left out
("out of bag") and serve as a free validation set (Breiman, "Out-of-bag estimation", 1996).
Draws use `numpy.random.RandomState(seed).choice(n, n)`, the same stream as mlxtend's
`bias_variance_decomp`, so both can be run on identical rounds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlbasic.errors import check


def bootstrap_indices(n: int, rounds: int, seed: int | np.random.RandomState = 0) -> np.ndarray:
    """Index arrays of `rounds` bootstrap samples of size n: int64 array [rounds, n].

    Row r equals mlxtend's r-th draw for `random_seed=seed` (`rng.choice(arange(n), size=n, replace=True)`).
    """
    check(n >= 1 and rounds >= 1, f"need n >= 1 and rounds >= 1, got n={n}, rounds={rounds}")
    rng = seed if isinstance(seed, np.random.RandomState) else np.random.RandomState(seed)
    return np.stack([rng.choice(np.arange(n), size=n, replace=True) for _ in range(rounds)])


def out_of_bag(index: np.ndarray, n: int) -> np.ndarray:
    """Boolean mask [n] of the points a bootstrap sample `index` did not draw."""
    mask = np.ones(n, dtype=bool)
    mask[index] = False
    return mask


def percentile_interval(replicates: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The percentile interval: the alpha/2 and 1 - alpha/2 quantiles of the bootstrap replicates."""
    check(0 < confidence < 1, f"confidence must be in (0, 1), got {confidence}")
    alpha = 1 - confidence
    lo, hi = np.quantile(np.asarray(replicates, dtype=np.float64), [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def bootstrap_ci(
    statistic: Callable[..., float | np.ndarray],
    *data: np.ndarray,
    rounds: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    vectorized: bool = False,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of `statistic(*data)` (any metric of paired samples).

    Args:
        statistic: a function of the arrays in `data`, resampled together along axis 0 (e.g. accuracy of
            (predictions, labels)). With `vectorized=True` it receives arrays with a leading rounds axis,
            [rounds, n, ...], and must return [rounds] values (much faster; like scipy's `vectorized`).
        data: arrays of the same length n.
        rounds: bootstrap replicates B.
        confidence: 1 - alpha.
        seed: seed of the resampling.

    Returns:
        (low, high), the alpha/2 and 1 - alpha/2 quantiles of the B replicates.
    """
    arrays = [np.asarray(d) for d in data]
    check(len(arrays) >= 1, "bootstrap_ci needs at least one data array")
    n = len(arrays[0])
    check(all(len(a) == n for a in arrays), "bootstrap_ci: all data arrays must have the same length")
    rng = np.random.RandomState(seed)
    idx = rng.randint(0, n, size=(rounds, n))  # [B, n]
    if vectorized:
        replicates = np.asarray(statistic(*(a[idx] for a in arrays)), dtype=np.float64)
    else:
        replicates = np.array([statistic(*(a[i] for a in arrays)) for i in idx], dtype=np.float64)
    return percentile_interval(replicates, confidence)


__all__ = ["bootstrap_ci", "bootstrap_indices", "out_of_bag", "percentile_interval"]
