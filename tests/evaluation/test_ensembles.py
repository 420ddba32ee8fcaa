"""Voting, SAMME against scikit-learn's AdaBoostClassifier, and tiny bagging/boosting runs with networks."""

import numpy as np
import pytest
import torch
from sklearn.ensemble import AdaBoostClassifier
from sklearn.tree import DecisionTreeClassifier

from dlbasic.config import TrainConfig
from dlbasic.data import load
from dlbasic.evaluation.ensembles import (
    WeightedTask,
    bagging,
    boosting,
    hard_vote,
    samme,
    soft_vote,
    vote_accuracy_per_round,
    weighted_targets,
)


def test_votes_against_literal_loops():
    g = torch.Generator().manual_seed(0)
    probs = torch.rand(5, 40, 4, generator=g).softmax(2)
    soft = [int(np.argmax([float(probs[:, i, k].mean()) for k in range(4)])) for i in range(40)]
    hard = []
    for i in range(40):
        counts = [sum(int(probs[m, i].argmax()) == k for m in range(5)) for k in range(4)]
        hard.append(counts.index(max(counts)))
    assert soft_vote(probs).tolist() == soft
    assert hard_vote(probs).tolist() == hard


@pytest.mark.parametrize("seed", [0, 1])
def test_samme_equals_sklearn_with_stumps(seed):
    rng = np.random.RandomState(seed)
    x = rng.randn(200, 3)
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] + 0.5 * rng.randn(200) > 0.3)
    ref = AdaBoostClassifier(DecisionTreeClassifier(max_depth=1, random_state=0), n_estimators=6, random_state=0).fit(
        x, y
    )  # SAMME, the only algorithm since scikit-learn 1.6

    def fit_predict(w):
        return DecisionTreeClassifier(max_depth=1, random_state=0).fit(x, y, sample_weight=w).predict(x)

    alphas, rounds = samme(fit_predict, y, 3, 6)
    np.testing.assert_allclose(alphas, ref.estimator_weights_[: len(alphas)], rtol=1e-10)
    np.testing.assert_allclose([r.error for r in rounds], ref.estimator_errors_[: len(alphas)], rtol=1e-10)
    scores = sum(
        a * np.eye(3)[fit_predict_w] for a, fit_predict_w in zip(alphas, [e.predict(x) for e in ref.estimators_])
    )
    np.testing.assert_array_equal(scores.argmax(1), ref.predict(x))


def test_samme_weights_move_to_mistakes():
    y = np.array([0] * 8 + [1] * 2)
    alphas, rounds = samme(lambda w: np.zeros(10, dtype=int), y, 2, 1)  # always says 0: wrong on the last two
    assert rounds[0].error == pytest.approx(0.2)
    assert alphas[0] == pytest.approx(np.log(4.0))
    assert rounds[0].weight_on_mistakes == pytest.approx(0.5)  # AdaBoost: the mistakes get half the weight
    assert rounds[0].max_weight_ratio == pytest.approx(2.5)


def test_weighted_task_equals_weighted_cross_entropy():
    logits, labels = torch.randn(6, 3), torch.tensor([0, 1, 2, 2, 1, 0])
    w = torch.tensor([0.5, 1.0, 2.0, 0.1, 1.0, 3.0])
    loss = WeightedTask().loss(logits, weighted_targets(labels, w, 3))
    ref = (torch.nn.functional.cross_entropy(logits, labels, reduction="none") * w).sum() / w.sum()
    torch.testing.assert_close(loss, ref)


@pytest.fixture(scope="module")
def digits():
    return load("digits", "train"), load("digits", "val")


def _tiny(epochs=2):
    return TrainConfig(
        data="digits", model="mlp", model_options={"hidden": [16]}, epochs=epochs, lr=0.01, batch_size=64, device="cpu"
    )


def test_bagging_runs_and_soft_vote_is_at_least_a_median_member(digits):
    train, val = digits
    res = bagging(_tiny(), train, val, members=3)
    assert len(res.member_accuracy) == 3 and all(0.5 < a <= 1 for a in res.oob_accuracy)
    assert res.probs.shape == (3, len(val), 10)
    assert res.soft_accuracy == pytest.approx(float((soft_vote(res.probs) == val.labels).float().mean()))
    assert res.soft_accuracy >= sorted(res.member_accuracy)[1] - 0.03


def test_boosting_with_networks_reports_rounds(digits):
    train, val = digits
    res = boosting(_tiny(1), train, val, rounds=2)
    assert 1 <= len(res.rounds) <= 2
    r = res.rounds[0]
    assert 0 < r.error < 0.9 and r.alpha == pytest.approx(np.log((1 - r.error) / r.error) + np.log(9))
    assert r.max_weight_ratio > 1 and r.effective_sample_size < len(train)
    assert len(res.test_accuracy_per_round) == len(res.alphas)
    assert len(res.weights) == len(res.train_predictions) == len(res.test_predictions) >= len(res.alphas)
    assert np.array_equal(res.weights[0], np.full(len(train), 1 / len(train)))  # the first learner: uniform D_1


def test_vote_accuracy_per_round_is_the_weighted_vote_after_each_round():
    y = np.array([0, 1, 2])
    preds = [np.array([0, 0, 0]), np.array([1, 1, 2]), np.array([2, 2, 2])]
    assert vote_accuracy_per_round([1.0, 2.0, 0.5], preds, y, 3) == pytest.approx([1 / 3, 2 / 3, 2 / 3])
    assert vote_accuracy_per_round([1.0], preds, y, 3) == pytest.approx([1 / 3])  # a discarded learner: no vote
    assert vote_accuracy_per_round([], preds, y, 3) == []
    rng = np.random.default_rng(0)
    y, preds, alphas = rng.integers(0, 4, 50), list(rng.integers(0, 4, (6, 50))), list(rng.uniform(0.1, 2, 5))
    scores, literal = np.zeros((50, 4)), []
    for a, p in zip(alphas, preds):  # the round-by-round sum, to the last bit
        scores[np.arange(50), p] += a
        literal.append(float(np.mean(scores.argmax(1) == y)))
    assert vote_accuracy_per_round(alphas, preds, y, 4) == literal
