"""Bootstrap samples, out-of-bag masks and percentile intervals, with the coverage bar of issue 6."""

import numpy as np
import pytest
from scipy import stats

from dlbasic.evaluation.bootstrap import bootstrap_ci, bootstrap_indices, out_of_bag, percentile_interval


def test_indices_are_mlxtends_draws():
    rng = np.random.RandomState(7)
    expected = [rng.choice(np.arange(25), size=25, replace=True) for _ in range(4)]
    np.testing.assert_array_equal(bootstrap_indices(25, 4, seed=7), np.stack(expected))


def test_out_of_bag_fraction_tends_to_one_over_e():
    n = 2000
    idx = bootstrap_indices(n, 20, seed=0)
    fractions = [out_of_bag(i, n).mean() for i in idx]
    assert np.mean(fractions) == pytest.approx((1 - 1 / n) ** n, abs=0.005)
    mask = out_of_bag(idx[0], n)
    assert not mask[idx[0]].any() and mask.sum() == n - len(np.unique(idx[0]))


def test_percentile_interval_matches_numpy_and_scipy():
    reps = np.random.RandomState(0).randn(999)
    assert percentile_interval(reps, 0.9) == (np.quantile(reps, 0.05), np.quantile(reps, 0.95))
    data = np.random.RandomState(1).exponential(size=200)
    lo, hi = bootstrap_ci(np.mean, data, rounds=4000, seed=0)
    ref = stats.bootstrap((data,), np.mean, n_resamples=4000, method="percentile", random_state=0)
    # different random streams: the endpoints agree to Monte Carlo error
    assert lo == pytest.approx(ref.confidence_interval.low, abs=0.02)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=0.02)


def test_vectorized_equals_loop_and_paired_metric():
    rng = np.random.RandomState(0)
    pred, label = rng.randint(0, 3, 150), rng.randint(0, 3, 150)

    def accuracy(p, y):
        return float(np.mean(p == y))

    loop = bootstrap_ci(accuracy, pred, label, rounds=300, seed=3)
    vec = bootstrap_ci(lambda p, y: np.mean(p == y, axis=-1), pred, label, rounds=300, seed=3, vectorized=True)
    assert loop == pytest.approx(vec, abs=1e-12)
    assert loop[0] < accuracy(pred, label) < loop[1]


def test_coverage_within_two_percent_of_nominal():
    """1,000 seeded repetitions: the 95 % percentile interval of a normal mean (n = 100) covers it ~95 % of the time."""
    rng = np.random.RandomState(2024)
    covered = 0
    for rep in range(1000):
        x = rng.normal(3.0, 2.0, size=100)
        lo, hi = bootstrap_ci(lambda s: s.mean(axis=-1), x, rounds=500, seed=rep, vectorized=True)
        covered += lo <= 3.0 <= hi
    assert abs(covered / 1000 - 0.95) <= 0.02
