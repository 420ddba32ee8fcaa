"""--overwrite deletes only what dlbasic wrote: the marker alone does not make a user's file dlbasic's."""

from __future__ import annotations

import pytest

from dlbasic.cli import main
from dlbasic.errors import UserError
from dlbasic.outputs import MARKER, check_dir, foreign_entries, made_by_dlbasic, open_dir

RUN_FILES = ("config.yaml", "metrics.jsonl", "checkpoint.pt", "best.pt", "curves.png", "summary.json")


def run_folder(tmp_path, command="train", files=RUN_FILES, dirs=("tensorboard",)):
    """A folder as `command` leaves it: the marker, then its files and folders."""
    folder = open_dir(tmp_path / "run", command=command)
    for name in files:
        (folder / name).write_text("x")
    for name in dirs:
        (folder / name).mkdir()
        (folder / name / "inside").write_text("x")
    return folder


def refused(folder, *expected, option="--run-dir"):
    with pytest.raises(UserError) as e:
        check_dir(folder, overwrite=True, option=option)
    message = str(e.value)
    assert "\n" not in message and "did not write" in message, message
    for text in expected:
        assert text in message, message
    return message


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_overwrite_refuses_a_marked_run_folder_holding_a_users_entry(tmp_path, kind):
    folder = run_folder(tmp_path)
    mine = folder / ("notes.txt" if kind == "file" else "data")
    if kind == "file":
        mine.write_text("mine")
    else:
        mine.mkdir()
        (mine / "thesis.tex").write_text("mine")
    refused(folder, f"({mine.name})", f"move {mine.name} out of it, or choose another --run-dir")
    with pytest.raises(UserError):
        open_dir(folder, command="train", overwrite=True)
    assert (folder / "notes.txt").read_text() == "mine" if kind == "file" else (mine / "thesis.tex").is_file()
    assert foreign_entries(folder) == [mine.name]


def test_a_dlbasic_name_of_the_wrong_kind_is_foreign(tmp_path):
    folder = run_folder(tmp_path, files=("config.yaml", "summary.json"), dirs=())
    (folder / "best.pt").mkdir()  # a user's folder, not the file dlbasic writes
    (folder / "tensorboard").write_text("a user's file")
    refused(folder, "(best.pt and 1 more)", "move best.pt and the others out of it")
    assert foreign_entries(folder) == ["best.pt", "tensorboard"]


def test_overwrite_refusal_through_the_cli_names_the_entry_and_keeps_it(tmp_path, capsys):
    folder = run_folder(tmp_path)
    (folder / "notes.txt").write_text("mine")
    rc = main(
        [
            "train",
            "--data",
            "digits",
            "--model",
            "mlp",
            "--threads",
            "1",
            "--no-progress",
            "--run-dir",
            str(folder),
            "--overwrite",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "notes.txt" in err and "did not write" in err and "move notes.txt" in err
    assert (folder / "notes.txt").read_text() == "mine" and (folder / "best.pt").is_file()


@pytest.mark.parametrize(
    ("command", "files", "dirs"),
    [
        ("train", (*RUN_FILES, "config.json"), ("tensorboard",)),
        ("segment train", (*RUN_FILES, "overlays.png"), ()),
        ("cv", ("cv.json", "cv.png"), ()),
        ("compare", ("compare.json", "compare.md", "compare.png"), ()),
        ("detect compare", ("compare.json", "compare.md", "compare.png"), ()),
        ("optim-race", ("race.png", "race.gif", "race.md", "race.json"), ()),
        ("lab", ("report.json", "report.html"), ("results", "figures", "cache")),
        ("segment predict", ("a.png", "scan 2.png", "overlays.png"), ()),
        ("detect predict", ("photo.png", "street.png", "predictions.json"), ()),
    ],
)
def test_overwrite_replaces_a_folder_of_nothing_but_what_the_command_writes(tmp_path, command, files, dirs):
    folder = run_folder(tmp_path, command, files, dirs)
    (folder / ".summary.json.abc123.tmp").write_text("a killed atomic write")  # stale, removed on open
    assert foreign_entries(folder) == [] and made_by_dlbasic(folder)
    open_dir(folder, command=command, overwrite=True)
    assert [p.name for p in folder.iterdir()] == [MARKER]


def test_names_after_the_inputs_are_dlbasics_only_in_the_predict_folders(tmp_path):
    folder = run_folder(tmp_path)  # a train run: a mask-like PNG there is the user's
    (folder / "holiday.png").write_text("mine")
    (folder / "pred_000.png").write_text("mine")
    refused(folder, "(holiday.png and 1 more)")
    masks = open_dir(tmp_path / "masks", command="segment predict")
    (masks / "a.png").write_text("x")
    (masks / "notes.txt").write_text("mine")
    (masks / "b.png").mkdir()  # a folder is never a mask
    refused(masks, "(b.png and 1 more)", option="--out")
    boxes = open_dir(tmp_path / "boxes", command="detect predict")
    (boxes / "photo.png").write_text("x")
    (boxes / "predictions.json").write_text("{}")
    (boxes / "notes.txt").write_text("mine")
    refused(boxes, "(notes.txt)", option="--out")


def test_a_reused_unstarted_folder_is_marked_by_the_command_that_now_writes_it(tmp_path):
    folder = run_folder(tmp_path, files=("config.yaml",), dirs=())  # a train run that failed before its first step
    open_dir(folder, command="segment predict", option="--out")
    assert (folder / MARKER).read_text() == "made by dlbasic segment predict\n"
    (folder / "a.png").write_text("x")
    assert foreign_entries(folder) == []
    check_dir(folder, overwrite=True, option="--out")
    open_dir(folder, command="train", resume=True)  # --resume keeps the marker
    assert (folder / MARKER).read_text() == "made by dlbasic segment predict\n"


def test_an_unmarked_folder_of_dlbasic_names_is_still_replaced_and_a_foreign_one_refused(tmp_path):
    old = tmp_path / "old"  # made before the marker existed
    old.mkdir()
    for name in RUN_FILES:
        (old / name).write_text("x")
    assert made_by_dlbasic(old)
    check_dir(old, overwrite=True)
    (old / "notes.txt").write_text("mine")
    assert not made_by_dlbasic(old)
    refused(old, "(notes.txt)")


def test_a_marked_folder_with_a_users_file_is_still_dlbasics_for_resume(tmp_path):
    folder = run_folder(tmp_path, "lab", ("report.json",), ("results",))
    (folder / "notes.txt").write_text("mine")
    assert made_by_dlbasic(folder)  # lab --resume continues it and deletes nothing
    refused(folder, "(notes.txt)", option="--out")
