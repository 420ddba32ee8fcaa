"""--overwrite deletes only what dlbasic wrote: the marker alone does not make a user's file dlbasic's."""

from __future__ import annotations

import contextlib
import os

import pytest

from dlbasic.cli import main
from dlbasic.config import TrainConfig, save_config
from dlbasic.errors import UserError
from dlbasic.outputs import MARKER, check_dir, foreign_entries, made_by_dlbasic, open_dir

RUN_FILES = ("config.yaml", "metrics.jsonl", "checkpoint.pt", "best.pt", "curves.png", "summary.json")
# a file of the name dlbasic writes in each of its subfolders
INSIDE = {
    "tensorboard": "events.out.tfevents.1765000000.host.1.0",
    "results": "adam.json",
    "figures": "adam-0.png",
    "cache": "0123456789abcdef.pt",
}


def run_folder(tmp_path, command="train", files=RUN_FILES, dirs=("tensorboard",)):
    """A folder as `command` leaves it: the marker, then its files and folders."""
    folder = open_dir(tmp_path / "run", command=command)
    for name in files:
        (folder / name).write_text("x")
    for name in dirs:
        (folder / name).mkdir()
        (folder / name / INSIDE[name]).write_text("x")
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


def test_a_marked_folder_with_a_users_file_is_still_dlbasics_for_resume(tmp_path):
    folder = run_folder(tmp_path, "lab", ("report.json",), ("results",))
    (folder / "notes.txt").write_text("mine")
    assert made_by_dlbasic(folder)  # lab --resume continues it and deletes nothing
    refused(folder, "(notes.txt)", option="--out")


# ---- whose folder it is: the marker, or a run from before the marker proven by its content -------------


def digest(folder):
    """Every file under `folder` and its bytes' hash: what must come through a refused command unchanged."""
    import hashlib

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


SMALL = ["train", "--data", "digits", "--model", "mlp", "--epochs", "1", "--threads", "1", "--no-progress"]


def one_line(capsys, rc):
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "files",
    [
        {"results/mydata.csv": "a,b\n", "figures/plot.png": "x"},  # dlbasic's folder names, the user's files
        {"best.pt": "my own model", "summary.json": '{"mine": 1}'},  # dlbasic's file names, the user's content
        {"config.yaml": "model: mine\n"},  # not an unstarted run: it holds the user's file
        {"metrics.jsonl": '{"epoch": 1}\n', "checkpoint.pt": "not a torch file"},
    ],
    ids=["names-of-folders", "names-of-files", "config-only", "unproven-checkpoint"],
)
def test_a_folder_without_the_marker_is_the_users_unless_proven(tmp_path, capsys, files):
    folder = tmp_path / "proj"
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    before = digest(folder)
    assert not made_by_dlbasic(folder) and foreign_entries(folder)
    err = one_line(capsys, main([*SMALL, "--run-dir", str(folder), "--overwrite"]))
    assert "did not write" in err
    err = one_line(capsys, main([*SMALL, "--run-dir", str(folder)]))
    assert "already exists" in err
    assert digest(folder) == before and sorted(p.name for p in tmp_path.iterdir()) == ["proj"]


def test_a_marked_folder_with_a_users_file_inside_dlbasics_subfolders_is_refused(tmp_path):
    folder = run_folder(tmp_path, "lab", ("report.json", "report.html"), ("results", "figures", "cache"))
    (folder / "results" / "mydata.csv").write_text("a,b\n")
    (folder / "figures" / "plot.png").write_text("x")
    refused(folder, "(figures/plot.png and 1 more)", option="--out")
    assert foreign_entries(folder) == ["figures/plot.png", "results/mydata.csv"]


def test_a_run_from_before_the_marker_is_proven_by_its_content(tmp_path, capsys):
    run = tmp_path / "old"
    assert main([*SMALL, "--run-dir", str(run)]) == 0
    capsys.readouterr()
    (run / MARKER).unlink()  # as a run written before the marker existed
    assert made_by_dlbasic(run) and foreign_entries(run) == []
    assert main([*SMALL, "--seed", "3", "--run-dir", str(run), "--overwrite"]) == 0
    assert (run / MARKER).is_file() and "seed: 3" in (run / "config.yaml").read_text()
    (run / MARKER).unlink()
    (run / "best.pt").write_bytes(b"PK a user's zip, not a checkpoint")
    assert not made_by_dlbasic(run) and "best.pt" in foreign_entries(run)
    (run / "best.pt").unlink()
    (run / "curves.png").write_bytes(b"\x89PNG\r\n\x1a\n a picture the user drew")
    assert not made_by_dlbasic(run)
    assert "curves.png" in one_line(capsys, main([*SMALL, "--run-dir", str(run), "--overwrite"]))


def test_resume_continues_only_a_dlbasic_run(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "checkpoint.pt").write_text("the user's")
    save_config(TrainConfig(data="digits", model="mlp"), folder / "config.yaml")
    err = one_line(capsys, main(["train", "--no-progress", "--run-dir", str(folder), "--resume"]))
    assert "not a dlbasic run folder" in err and (folder / "checkpoint.pt").read_text() == "the user's"


def test_overwrite_through_a_symbolic_link_replaces_its_target_and_keeps_the_link(tmp_path, capsys):
    real = tmp_path / "real"
    assert main([*SMALL, "--run-dir", str(real)]) == 0
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    assert main([*SMALL, "--seed", "5", "--run-dir", str(link), "--overwrite"]) == 0
    assert link.is_symlink() and link.resolve() == real.resolve() and "seed: 5" in (real / "config.yaml").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]  # nothing .replaced- left behind


# ---- one naming rule for files written per input -----------------------------------------------------


def test_output_names_never_collide_and_are_stable():
    from dlbasic.outputs import output_names

    names = ["a/x.png", "b/x_2.png", "c/x.png", "d/X.jpg", "e/x~2.png", "f/overlays.png", "g/..png", "h/a:b.png"]
    out = output_names(names, reserved=("overlays.png",))
    assert out == ["x.png", "x_2.png", "x~2.png", "X~3.png", "x_2~2.png", "overlays~2.png", "image.png", "a_b.png"]
    assert len({n.casefold() for n in out}) == len(out)
    assert output_names(names, reserved=("overlays.png",)) == out
    assert output_names(["x.png", "x.png", "x~2.png", "x~2.png"]) == ["x.png", "x~2.png", "x_2.png", "x_2~2.png"]


# ---- one process at a time in a folder ----------------------------------------------------------------


@contextlib.contextmanager
def held_by_another_process(folder):
    """A process that holds `folder` (`folder_lock.owned`) until the block ends; yields it."""
    import subprocess
    import sys

    code = f"import time\nfrom dlbasic.folder_lock import owned\nwith owned({str(folder)!r}):\n"
    code += "    print('held', flush=True)\n    time.sleep(120)\n"
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def test_a_held_folder_is_refused_with_its_holder_and_a_killed_holder_leaves_no_lock(tmp_path):
    from dlbasic.folder_lock import LOCK, owned

    folder = tmp_path / "run"
    folder.mkdir()
    with held_by_another_process(folder) as holder:
        with pytest.raises(UserError) as e, owned(folder):
            pass
        assert f"in use by process {holder.pid}" in str(e.value) and "\n" not in str(e.value)
        with pytest.raises(UserError, match="in use by"):
            open_dir(folder, command="train", resume=True)
    assert (folder / LOCK).exists()  # the killed holder's file stays, its lock does not
    with owned(folder) as lock, owned(folder):  # re-entrant within a process
        assert lock.fd is not None and (folder / LOCK).read_text().strip() == str(os.getpid())
    assert not (folder / LOCK).exists()


@pytest.mark.parametrize(
    "argv",
    [
        SMALL,
        ["segment", "train", "--data", "scenes:canvas=64,digits=1-2,count=48", "--epochs", "1", "--no-progress"],
        ["detect", "train", "--model", "yolo_v1", "--epochs", "1", "--no-progress"],
        ["lab", "--only", "conv-shapes"],
    ],
    ids=["train", "segment train", "detect train", "lab"],
)
def test_every_command_that_works_in_a_folder_refuses_one_another_process_holds(tmp_path, capsys, argv):
    folder = tmp_path / "run"
    folder.mkdir()
    option = "--out" if argv[0] == "lab" else "--run-dir"
    with held_by_another_process(folder) as holder:
        err = one_line(capsys, main([*argv, option, str(folder)]))
    assert f"{folder} is in use by process {holder.pid}" in err
    assert sorted(p.name for p in folder.iterdir()) == [".dlbasic.lock"]  # nothing written


def _cli(*args):
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "dlbasic.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_two_resumes_started_together_train_once_and_a_killed_run_leaves_no_lock(tmp_path, capsys):
    import signal
    import time

    from dlbasic.folder_lock import LOCK
    from dlbasic.training.restore import load_checkpoint

    run = tmp_path / "run"
    assert main([*SMALL, "--run-dir", str(run)]) == 0
    capsys.readouterr()
    more = ["train", "--run-dir", str(run), "--resume", "--allow-changes", "epochs", "--no-progress"]
    both = [_cli(*more, "--epochs", "40"), _cli(*more, "--epochs", "40")]
    results = [(p.returncode, *out) for p in both if (out := p.communicate(timeout=300))]
    assert sorted(rc for rc, _, _ in results) == [0, 2], results
    err = next(e for rc, _, e in results if rc == 2)
    lines = err.strip().splitlines()
    winner = next(p for p, r in zip(both, results) if r[0] == 0)
    assert len(lines) == 1 and "Traceback" not in err and f"in use by process {winner.pid}" in lines[0], err
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 40
    # killed while it holds the folder: the next start is not blocked
    victim = _cli(*more, "--epochs", "400")
    deadline = time.monotonic() + 120
    while not ((run / LOCK).is_file() and (run / LOCK).read_text().strip() == str(victim.pid)):
        assert victim.poll() is None and time.monotonic() < deadline, victim.communicate()
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert (run / LOCK).exists()
    assert main([*more, "--epochs", "41"]) == 0
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] >= 41 and not (run / LOCK).exists()
