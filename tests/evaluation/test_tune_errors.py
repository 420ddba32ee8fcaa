"""`dlbasic tune` refuses bad input in one line, before any trial, and never replaces a study without --overwrite."""

import logging
import os

import optuna
import pytest

from dlbasic.cli import main
from dlbasic.errors import UserError

TINY = [
    "--data",
    "digits",
    "--model",
    "mlp",
    "--model-option",
    "hidden=[16]",
    "--epochs",
    "1",
    "--device",
    "cpu",
    "--folds",
    "2",
    "--trials",
    "1",
    "--patience",
    "0",
]


def one_line_error(capfd, *expected: str) -> str:
    err = capfd.readouterr().err
    assert "Traceback" not in err and "failed" not in err.lower(), err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dlbasic tune: error: "), err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def trials(journal) -> list:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    return optuna.load_study(study_name="dlbasic", storage=storage).trials


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--search", "lr=log:1e-1:1e-4"], ["LOW must be below HIGH", "lr=log:0.0001:0.1"]),
        (["--search", "lr=float:0.1:0.1"], ["LOW must be below HIGH"]),
        (["--search", "lr=log:0:1"], ["log range needs LOW > 0"]),
        (["--search", "optimizer=choice:adam,,sgd"], ["empty choice"]),
        (["--search", "epochs=int:1.5:3"], ["whole numbers"]),
        (["--search", "lrr=log:1e-4:1e-1"], ["unknown config key 'lrr'", "did you mean 'lr'"]),
        (["--search", "optimizer=choice:sgd,adma"], ["unknown optimizer 'adma'", "did you mean 'adam'"]),
        (["--search", "weight_decay=float:-1:1"], ["weight decay must be non-negative"]),
        (["--search", "lr=log:1e-4:1e-1", "--search", "lr=float:0.1:0.2"], ["searched twice"]),
        (["--search", "data=choice:digits,mnist5k"], ["same data"]),
        (["--optimizer", "sgdd"], ["unknown optimizer 'sgdd'", "did you mean 'sgd'"]),
        (["--trials", "0"], ["--trials must be at least 1"]),
        (["--folds", "1"], ["--folds must be at least 2"]),
        (["--folds", "1000"], ["1000 folds need at least 1000 images of every class"]),
    ],
)
def test_bad_options_are_one_line_before_any_trial(tmp_path, capfd, argv, expected):
    journal = tmp_path / "journal.log"
    assert main(["tune", *TINY, "--storage", str(journal), *argv]) == 2
    one_line_error(capfd, *expected)
    assert not journal.exists()


@pytest.mark.parametrize(
    "storage,expected",
    [
        ("foo://x", "cannot open --storage foo://x"),
        ("sqlite:////nonexistent/folder/study.db", "unable to open database file"),
        ("sqlite:/study.db", "unknown --storage 'sqlite:/study.db'"),
    ],
)
def test_unknown_storage_is_one_line(capfd, storage, expected):
    assert main(["tune", *TINY, "--storage", storage]) == 2
    one_line_error(capfd, expected, "sqlite:///")


def test_storage_that_is_a_folder_or_under_a_file_is_one_line(tmp_path, capfd):
    assert main(["tune", *TINY, "--storage", str(tmp_path)]) == 2
    one_line_error(capfd, "is a folder, not a journal file")
    (tmp_path / "f").write_text("mine")
    assert main(["tune", *TINY, "--storage", str(tmp_path / "f" / "journal.log")]) == 2
    one_line_error(capfd, "is a file")
    assert (tmp_path / "f").read_text() == "mine"


@pytest.mark.parametrize(
    "content",
    [
        os.urandom(256),
        b'{"op_code": 0, "worker_id": "w", "study_name": "dlbasic", "directions": [1]}\nnot json at all\n',
        b'{"op_code": 0}\n{"a": 1}\n',
        b'{"op_code": 0, "worker_id": "w", "study_name": "dlbasic", "directions": [1]}\n{"op_co',
    ],
    ids=["random-bytes", "non-json-line", "not-a-record", "unfinished-line"],
)
def test_corrupt_journal_is_one_line_naming_the_file_and_kept(tmp_path, capfd, content):
    journal = tmp_path / "journal.log"
    journal.write_bytes(content)
    assert main(["tune", *TINY, "--storage", str(journal)]) == 2
    one_line_error(capfd, str(journal), "not a readable Optuna journal")
    assert journal.read_bytes() == content


def test_user_error_in_a_trial_is_our_line_only(tmp_path, capfd, monkeypatch):
    import dlbasic.evaluation.crossval as crossval

    def broken(*args, **kwargs):
        raise UserError("the model does not fit", "use a smaller one")

    monkeypatch.setattr(crossval, "cross_validate", broken)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("optuna").addHandler(handler)
    try:
        assert main(["tune", *TINY, "--storage", str(tmp_path / "journal.log")]) == 2
    finally:
        logging.getLogger("optuna").removeHandler(handler)
    assert one_line_error(capfd) == "dlbasic tune: error: the model does not fit (use a smaller one)"
    assert not [r for r in records if r.levelno >= logging.WARNING], [r.getMessage() for r in records]


def test_a_study_is_continued_or_replaced_only_with_overwrite(tmp_path, capfd):
    journal = tmp_path / "tune" / "journal.log"
    assert main(["tune", *TINY, "--storage", str(journal)]) == 0
    assert (tmp_path / "tune" / ".dlbasic").is_file()  # the folder dlbasic made is marked
    assert len(trials(journal)) == 1
    # the same settings: another worker, or more trials; the study grows
    assert main(["tune", *TINY, "--storage", str(journal)]) == 0
    assert "continuing study 'dlbasic'" in capfd.readouterr().out
    assert len(trials(journal)) == 2
    # other settings would mix incomparable scores: refused, nothing written
    size = journal.stat().st_size
    assert main(["tune", *TINY, "--storage", str(journal), "--epochs", "2"]) == 2
    one_line_error(capfd, "was run with other settings (epochs)", "--overwrite")
    assert journal.stat().st_size == size and len(trials(journal)) == 2
    # --overwrite starts the study again
    assert main(["tune", *TINY, "--storage", str(journal), "--epochs", "2", "--overwrite"]) == 0
    assert "deleted study 'dlbasic'" in capfd.readouterr().out
    assert [t.number for t in trials(journal)] == [0]


def test_overwrite_refuses_a_study_dlbasic_did_not_make(tmp_path, capfd):
    journal = tmp_path / "journal.log"
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    study = optuna.create_study(study_name="dlbasic", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert main(["tune", *TINY, "--storage", str(journal)]) == 2
    one_line_error(capfd, "no record of their settings")
    assert main(["tune", *TINY, "--storage", str(journal), "--overwrite"]) == 2
    one_line_error(capfd, "was not made by dlbasic tune")
    assert len(trials(journal)) == 1
