"""k-fold cross-validation: sklearn's folds, every candidate on every fold, and the test split read once, last."""

import numpy as np
import pytest
import torch
from sklearn.model_selection import StratifiedKFold

import dlbasic.evaluation._fit as fit_module
import dlbasic.evaluation.crossval as cv
from dlbasic.config import TrainConfig
from dlbasic.errors import UserError


def test_folds_are_sklearns_and_partition_the_pool():
    labels = torch.tensor([0, 1, 2] * 20)
    splits = cv.kfold_splits(labels, 4, seed=3)
    ref = list(StratifiedKFold(4, shuffle=True, random_state=3).split(np.zeros(60), labels.numpy()))
    for (tr, te), (rtr, rte) in zip(splits, ref):
        assert tr.tolist() == rtr.tolist() and te.tolist() == rte.tolist()
    held = torch.cat([te for _, te in splits]).sort().values
    assert held.tolist() == list(range(60))
    with pytest.raises(UserError, match="images of every class"):
        cv.kfold_splits(torch.tensor([0, 0, 0, 1]), 2)


def test_grid_is_the_cartesian_product():
    assert cv.grid({"lr": [0.1, 0.01], "weight_decay": [0.0, 1e-4]}) == [
        {"lr": 0.1, "weight_decay": 0.0},
        {"lr": 0.1, "weight_decay": 1e-4},
        {"lr": 0.01, "weight_decay": 0.0},
        {"lr": 0.01, "weight_decay": 1e-4},
    ]


def test_choice_uses_held_out_means_ties_to_first():
    folds = [
        cv.FoldResult(c, k, acc, 0.0, 1, 1, 0.0)
        for c, k, acc in [(0, 0, 0.8), (0, 1, 0.9), (1, 0, 0.85), (1, 1, 0.85), (2, 0, 0.9), (2, 1, 0.8)]
    ]
    res = cv.CVResult([{"lr": 1}, {"lr": 2}, {"lr": 3}], folds)
    assert res.best == {"lr": 1}
    assert res.summary()[0]["std"] == pytest.approx(np.std([0.8, 0.9], ddof=1))


def test_run_cv_touches_the_test_split_once_after_every_choice(monkeypatch):
    events = []
    real_load, real_fit = cv.load, cv.fit

    def counting_load(spec, split, **kw):
        events.append(f"load:{split}")
        return real_load(spec, split, **kw)

    def counting_fit(*args, **kw):
        events.append("fit")
        return real_fit(*args, **kw)

    monkeypatch.setattr(cv, "load", counting_load)
    monkeypatch.setattr(fit_module, "load", counting_load)
    monkeypatch.setattr(cv, "fit", counting_fit)
    cfg = TrainConfig(data="digits", model="mlp", model_options={"hidden": [16]}, epochs=2, batch_size=64, device="cpu")
    res = cv.run_cv(cfg, cv.grid({"lr": [1e-3, 3e-2]}), folds=2, patience=1)
    assert events.count("load:test") == 1
    assert events[-1] == "load:test"  # after the 2 x 2 fold fits and the final retraining
    assert events.count("fit") == 2 * 2 + 1
    assert len(res.folds) == 4 and res.best in res.candidates
    assert res.final["train_images"] == 1295 + 143 and res.final["test_images"] == 359
    assert 0.5 < res.final["test_accuracy"] <= 1 and res.model is not None
    assert res.best == {"lr": 3e-2}  # a 30x smaller step cannot catch up in 2 epochs
