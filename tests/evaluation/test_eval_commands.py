"""The cv, tune and ensemble commands end to end on tiny problems; two tune workers share one journal."""

import json
import os
import subprocess
import sys

import optuna
import pytest

from dlbasic.cli import main
from dlbasic.commands.tune import search

TINY = ["--data", "digits", "--model", "mlp", "--model-option", "hidden=[16]", "--epochs", "1", "--device", "cpu"]


def test_cv_command_writes_results(tmp_path, capsys):
    assert main(["cv", *TINY, "--folds", "2", "--vary", "lr=1e-3,3e-2", "--out", str(tmp_path)]) == 0
    out = json.loads((tmp_path / "cv.json").read_text())
    assert len(out["folds"]) == 4 and out["best"] in out["candidates"]
    assert 0 < out["final"]["test_accuracy"] <= 1 and (tmp_path / "cv.png").stat().st_size > 0
    assert "the only test evaluation" in capsys.readouterr().out


def test_cv_without_vary_is_a_user_error(capsys):
    assert main(["cv", *TINY]) == 2
    assert "--vary" in capsys.readouterr().err


def test_search_space_parsing():
    assert search("lr=log:1e-4:1e-1") == ("lr", "log", [1e-4, 0.1])
    assert search("optimizer=choice:sgd,adam") == ("optimizer", "choice", ["sgd", "adam"])
    with pytest.raises(Exception, match="KIND"):
        search("lr=cube:1:2")


@pytest.mark.parametrize("kind,extra", [("bagging", ["--members", "2"]), ("boosting", ["--rounds", "2"])])
def test_ensemble_commands(tmp_path, kind, extra):
    out = tmp_path / "e.json"
    assert main(["ensemble", kind, *TINY, *extra, "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    if kind == "bagging":
        assert len(res["member_accuracy"]) == 2 and 0 < res["soft_accuracy"] <= 1
    else:
        assert 1 <= len(res["rounds"]) <= 2


def test_two_tune_workers_share_one_study(tmp_path):
    journal = tmp_path / "journal.log"
    cmd = [
        sys.executable,
        "-m",
        "dlbasic.cli",
        "tune",
        *TINY,
        "--folds",
        "2",
        "--trials",
        "3",
        "--patience",
        "0",
        "--study-name",
        "shared",
        "--storage",
        str(journal),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)
    ]
    logs = [w.communicate(timeout=300)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), logs
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    trials = optuna.load_study(study_name="shared", storage=storage).trials
    assert sorted(t.number for t in trials) == list(range(6))  # none lost, none duplicated
    assert len({t._trial_id for t in trials}) == 6
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    assert all(t.state in finished for t in trials)
    by_worker = {}
    for t in trials:
        by_worker.setdefault(t.user_attrs["worker"], []).append(t.number)
    assert sorted(len(v) for v in by_worker.values()) == [3, 3]
    assert sorted(w.pid for w in workers) == sorted(by_worker)
