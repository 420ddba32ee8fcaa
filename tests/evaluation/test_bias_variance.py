"""Bias-variance decompositions against mlxtend on the same bootstrap rounds, and the exact identities."""

import numpy as np
import pytest
from mlxtend.evaluate import bias_variance_decomp as mlxtend_decomp
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from dlbasic.evaluation.bias_variance import (
    bias_variance_decomp,
    bootstrap_predictions,
    main_prediction,
    squared_loss_decomposition,
    zero_one_decomposition,
)


def _classification(seed=0, n=120, k=3):
    rng = np.random.RandomState(seed)
    x = rng.randn(n, 4)
    y = (x[:, 0] + 0.8 * rng.randn(n) > 0).astype(int) + (x[:, 1] > 0.5)  # 3 overlapping classes
    return x[:80], y[:80], x[80:], y[80:]


def _fit_predict(model, x_test):
    return lambda xb, yb: model.fit(xb, yb).predict(x_test)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_zero_one_matches_mlxtend_on_same_rounds(seed):
    xtr, ytr, xte, yte = _classification(seed)
    tree = DecisionTreeClassifier(max_depth=3, random_state=0)
    ref = mlxtend_decomp(tree, xtr, ytr, xte, yte, loss="0-1_loss", num_rounds=30, random_seed=seed)
    ours = bias_variance_decomp(_fit_predict(tree, xte), xtr, ytr, yte, loss="0-1", rounds=30, seed=seed)
    np.testing.assert_allclose([ours["expected_loss"], ours["bias"], ours["variance"]], ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_squared_matches_mlxtend_on_same_rounds(seed):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-2, 2, size=(100, 1))
    y = np.sin(2 * x[:, 0]) + 0.3 * rng.randn(100)
    for model in (DecisionTreeRegressor(max_depth=4, random_state=0), LinearRegression()):
        ref = mlxtend_decomp(model, x[:60], y[:60], x[60:], y[60:], loss="mse", num_rounds=25, random_seed=seed)
        ours = bias_variance_decomp(
            _fit_predict(model, x[60:]), x[:60], y[:60], y[60:], loss="mse", rounds=25, seed=seed
        )
        np.testing.assert_allclose([ours["expected_loss"], ours["bias2"], ours["variance"]], ref, rtol=1e-12)


def test_mlxtend_zero_one_terms_do_not_sum_to_the_loss_but_domingos_net_variance_does():
    """mlxtend's 0-1 `avg_var` counts variance at biased points with a + sign; Domingos subtracts it."""
    xtr, ytr, xte, yte = _classification(3)
    preds = bootstrap_predictions(
        _fit_predict(DecisionTreeClassifier(max_depth=2, random_state=0), xte), xtr, ytr, rounds=40, seed=3
    )
    d = zero_one_decomposition(preds, yte)
    assert d["variance_biased"] > 0  # the case where the definitions part
    assert abs(d["bias"] + d["variance"] - d["expected_loss"]) > 1e-3
    assert d["expected_loss"] == pytest.approx(d["bias"] + d["net_variance"], abs=1e-12)
    assert d["variance"] == pytest.approx(d["variance_unbiased"] + d["variance_biased"], abs=1e-12)


def test_two_class_domingos_identity_is_exact():
    rng = np.random.RandomState(0)
    preds = rng.randint(0, 2, size=(15, 200))
    y = rng.randint(0, 2, size=200)
    d = zero_one_decomposition(preds, y)
    assert d["expected_loss"] == pytest.approx(d["bias"] + d["variance_unbiased"] - d["variance_biased"], abs=1e-12)


def test_zero_one_against_literal_loops():
    rng = np.random.RandomState(1)
    preds, y = rng.randint(0, 4, size=(7, 50)), rng.randint(0, 4, size=50)
    loss = bias = var = 0.0
    for j in range(50):
        counts = [sum(preds[r, j] == c for r in range(7)) for c in range(4)]
        main = counts.index(max(counts))  # first maximum: smallest label
        bias += main != y[j]
        var += sum(preds[r, j] != main for r in range(7)) / 7
        loss += sum(preds[r, j] != y[j] for r in range(7)) / 7
    d = zero_one_decomposition(preds, y)
    assert np.array_equal(main_prediction(preds), [np.argmax(np.bincount(c, minlength=4)) for c in preds.T])
    np.testing.assert_allclose([d["expected_loss"], d["bias"], d["variance"]], [loss / 50, bias / 50, var / 50])


def test_squared_identity_and_noise_with_known_target():
    rng = np.random.RandomState(0)
    f = rng.randn(300)
    y = f + 0.5 * rng.randn(300)
    preds = f + 0.2 + 0.3 * rng.randn(40, 300)  # bias 0.2, variance 0.09
    d = squared_loss_decomposition(preds, y)
    assert d["expected_loss"] == pytest.approx(d["bias2"] + d["variance"], rel=1e-12)
    t = squared_loss_decomposition(preds, y, target_mean=f)
    main = preds.mean(0)
    cross = 2 * np.mean((main - f) * (f - y))
    assert t["expected_loss"] == pytest.approx(t["bias2"] + t["variance"] + t["noise"] + cross, rel=1e-12)
    assert t["noise"] == pytest.approx(np.mean((y - f) ** 2))
    assert t["bias2"] == pytest.approx(0.04, abs=0.01) and t["variance"] == pytest.approx(0.09, rel=0.1)
