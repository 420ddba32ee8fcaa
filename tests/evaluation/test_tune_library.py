"""`dlbasic.evaluation.tune` is the search `dlbasic tune` runs: the same seeds give the same trials and scores."""

import optuna
import pytest

from dlbasic.cli import main
from dlbasic.config import TrainConfig
from dlbasic.errors import UserError
from dlbasic.evaluation import tune
from dlbasic.evaluation.tuning import is_dlbasic_study, parse_dimension

BASE = {"data": "digits", "model": "mlp", "model_options": {"hidden": [16]}, "epochs": 1, "device": "cpu"}
SEARCH = {"trials": 3, "folds": 2, "patience": 0, "startup_trials": 1, "sampler_seed": 7}


def test_the_library_call_gives_the_trials_of_the_command(tmp_path, capsys):
    space = [parse_dimension("lr=log:1e-3:1e-1"), parse_dimension("optimizer=choice:sgd,adam")]
    study = tune(TrainConfig(**BASE, threads=1), space, storage=str(tmp_path / "lib.log"), **SEARCH)
    argv = ["tune", "--data", "digits", "--model", "mlp", "--model-option", "hidden=[16]", "--epochs", "1"]
    argv += [
        "--device",
        "cpu",
        "--threads",
        "1",
        "--search",
        "lr=log:1e-3:1e-1",
        "--search",
        "optimizer=choice:sgd,adam",
    ]
    argv += ["--trials", "3", "--folds", "2", "--patience", "0", "--startup-trials", "1", "--sampler-seed", "7"]
    assert main([*argv, "--storage", str(tmp_path / "cli.log")]) == 0
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "cli.log")))
    theirs = optuna.load_study(study_name="dlbasic", storage=storage)
    assert [(t.params, t.value, t.state) for t in study.trials] == [(t.params, t.value, t.state) for t in theirs.trials]
    assert study.user_attrs == theirs.user_attrs and is_dlbasic_study(study)
    best = study.best_trial
    assert best.value == pytest.approx(sum(best.user_attrs["fold_accuracy"]) / 2, rel=1e-12)
    assert f"mean held-out accuracy {study.best_value:.4f}" in capsys.readouterr().out


def test_the_library_refuses_a_bad_search_before_any_trial(tmp_path):
    journal = tmp_path / "journal.log"
    with pytest.raises(UserError, match="LOW must be below HIGH"):
        tune(TrainConfig(**BASE), [("lr", "log", [0.1, 0.001])], storage=str(journal), trials=1, folds=2)
    with pytest.raises(UserError, match="KIND one of"):
        parse_dimension("lr=cube:1:2")
    assert not journal.exists()
