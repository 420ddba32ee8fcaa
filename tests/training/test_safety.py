"""Safe by default: no file we load runs code, nothing the user had is lost, mistakes are one line."""

import json
import os
import resource
import subprocess
import sys

import pytest
import torch
from PIL import Image

from dlbasic.cli import main
from dlbasic.config import TrainConfig, save_config
from dlbasic.outputs import MARKER
from dlbasic.segmentation.train import segmentation_config
from dlbasic.training import atomic_save, load_checkpoint

SMALL = ["--data", "digits", "--model", "mlp", "--threads", "1", "--no-progress"]


class Payload:
    """Unpickling this calls `function(*args)`: what a hostile checkpoint does."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def crafted_checkpoint(path, marker, function=os.system):
    """A file that looks like a checkpoint and whose unpickling would create `marker`."""
    args = (f"touch {marker}",) if function is os.system else (f"open({str(marker)!r}, 'w').close()",)
    torch.save({"model": {"w": torch.zeros(2)}, "meta": Payload(function, *args), "epoch": 0}, path)
    return path


def one_line_error(capsys, rc, code=2):
    err = capsys.readouterr().err.strip()
    assert rc == code, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "digit.png"
    Image.new("L", (8, 8), 128).save(path)
    return path


LOADERS = {
    "eval": lambda ck, tmp, img: ["eval", "--checkpoint", str(ck)],
    "predict": lambda ck, tmp, img: ["predict", "--checkpoint", str(ck), str(img)],
    "heatmap": lambda ck, tmp, img: [
        "heatmap",
        "--checkpoint",
        str(ck),
        "--image",
        str(img),
        "--out",
        str(tmp / "h.png"),
    ],
    "segment eval": lambda ck, tmp, img: ["segment", "eval", "--checkpoint", str(ck)],
    "segment predict": lambda ck, tmp, img: [
        "segment",
        "predict",
        "--checkpoint",
        str(ck),
        str(img),
        "--out",
        str(tmp / "masks"),
    ],
    "detect eval": lambda ck, tmp, img: ["detect", "eval", "--checkpoint", str(ck)],
    "detect predict": lambda ck, tmp, img: ["detect", "predict", "--checkpoint", str(ck), "--out", str(tmp / "d")],
}


@pytest.mark.parametrize("command", sorted(LOADERS))
@pytest.mark.parametrize("function", [os.system, eval], ids=["os.system", "eval"])
def test_every_loader_refuses_a_crafted_checkpoint(tmp_path, capsys, image, command, function):
    marker = tmp_path / "payload-ran"
    ckpt = crafted_checkpoint(tmp_path / "evil.pt", marker, function)
    err = one_line_error(capsys, main(LOADERS[command](ckpt, tmp_path, image)))
    assert not marker.exists(), "the payload ran"
    assert "refused to load" in err and str(ckpt) in err


@pytest.mark.parametrize("segment", [False, True], ids=["train", "segment train"])
def test_resume_refuses_a_crafted_checkpoint(tmp_path, capsys, segment):
    run, marker = tmp_path / "run", tmp_path / "payload-ran"
    run.mkdir()
    (run / MARKER).write_text("made by dlbasic train\n")  # a run folder of ours whose checkpoint was replaced
    cfg = (
        segmentation_config(data="scenes:canvas=64,digits=1-2,count=48")
        if segment
        else TrainConfig(data="digits", model="mlp")
    )
    save_config(cfg, run / "config.yaml")
    crafted_checkpoint(run / "checkpoint.pt", marker)
    argv = ["segment", "train"] if segment else ["train"]
    err = one_line_error(capsys, main([*argv, "--run-dir", str(run), "--resume", "--no-progress"]))
    assert not marker.exists() and "refused to load" in err


@pytest.mark.parametrize("content", [b"", os.urandom(4096)], ids=["empty", "random"])
def test_corrupt_checkpoints_are_one_line(tmp_path, capsys, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    err = one_line_error(capsys, main(["eval", "--checkpoint", str(path)]))
    assert "not a readable checkpoint" in err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "run"
    assert main(["train", *SMALL, "--epochs", "1", "--run-dir", str(run)]) == 0
    return run


def test_what_we_save_loads_as_weights_only(finished_run):
    for name in ("checkpoint.pt", "best.pt"):
        state = torch.load(finished_run / name, weights_only=True)
        assert "model" in state
    assert (finished_run / MARKER).is_file()


def test_truncated_checkpoint_is_one_line(finished_run, tmp_path, capsys):
    data = (finished_run / "checkpoint.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    err = one_line_error(capsys, main(["eval", "--checkpoint", str(tmp_path / "cut.pt")]))
    assert "not a readable checkpoint" in err


def _copy_run(src, dst):
    dst.mkdir()
    for p in src.iterdir():
        if p.is_file():
            (dst / p.name).write_bytes(p.read_bytes())
    return dst


def snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_overwrite_keeps_the_old_run_when_the_new_one_cannot_start(finished_run, tmp_path, capsys):
    run = _copy_run(finished_run, tmp_path / "run")
    before = snapshot(run)
    err = one_line_error(
        capsys, main(["train", *SMALL[2:], "--data", "folder:/nonexistent", "--run-dir", str(run), "--overwrite"])
    )
    assert "nonexistent" in err and snapshot(run) == before
    err = one_line_error(capsys, main(["train", *SMALL, "--model", "nosuchnet", "--run-dir", str(run), "--overwrite"]))
    assert "nosuchnet" in err and snapshot(run) == before


def test_overwrite_replaces_a_dlbasic_run_but_not_a_users_file_in_it(finished_run, tmp_path, capsys):
    run = _copy_run(finished_run, tmp_path / "run")
    (run / "notes.txt").write_text("written by the user into a run folder")
    err = one_line_error(
        capsys, main(["train", *SMALL, "--epochs", "1", "--seed", "1", "--run-dir", str(run), "--overwrite"])
    )
    assert "notes.txt" in err and (run / "notes.txt").read_text() == "written by the user into a run folder"
    (run / "notes.txt").unlink()
    assert main(["train", *SMALL, "--epochs", "1", "--seed", "1", "--run-dir", str(run), "--overwrite"]) == 0
    assert yaml_seed(run) == 1
    assert not any(p.name.startswith(f".{run.name}.replaced") for p in run.parent.iterdir())


def yaml_seed(run):
    import yaml

    return yaml.safe_load((run / "config.yaml").read_text())["seed"]


def test_overwrite_refuses_a_folder_dlbasic_did_not_make(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("months of work")
    err = one_line_error(capsys, main(["train", *SMALL, "--run-dir", str(folder), "--overwrite"]))
    assert "did not write" in err and (folder / "thesis.tex").read_text() == "months of work"
    err = one_line_error(capsys, main(["train", *SMALL, "--run-dir", str(folder)]))
    assert "already exists" in err


def test_run_dir_that_is_a_file(tmp_path, capsys):
    path = tmp_path / "file"
    path.write_text("x")
    err = one_line_error(capsys, main(["train", *SMALL, "--run-dir", str(path)]))
    assert "is a file" in err and path.read_text() == "x"


def test_a_run_that_fails_before_its_first_step_leaves_no_folder(tmp_path, capsys, monkeypatch):
    from dlbasic.training.trainer import Trainer

    def broken(self, x, y):
        raise RuntimeError("failure inside the first step")

    monkeypatch.setattr(Trainer, "train_step", broken)
    run = tmp_path / "new"
    with pytest.raises(RuntimeError, match="first step"):
        main(["train", *SMALL, "--run-dir", str(run)])
    # the folder holds nothing but the marker and config.yaml: a retry may reuse it without --overwrite
    assert not run.exists() or {p.name for p in run.iterdir()} <= {MARKER, "config.yaml"}
    monkeypatch.undo()
    assert main(["train", *SMALL, "--epochs", "1", "--run-dir", str(run)]) == 0


def test_overwrite_puts_the_old_run_back_when_the_new_one_fails_before_any_result(finished_run, tmp_path, monkeypatch):
    from dlbasic.training.trainer import Trainer

    def broken(self, x, y):
        raise RuntimeError("failure inside the first step")

    run = _copy_run(finished_run, tmp_path / "run")
    before = snapshot(run)
    monkeypatch.setattr(Trainer, "train_step", broken)
    with pytest.raises(RuntimeError, match="first step"):
        main(["train", *SMALL, "--seed", "1", "--run-dir", str(run), "--overwrite"])
    assert snapshot(run) == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_stale_temporary_files_are_removed_at_the_next_start(finished_run, tmp_path):
    run = _copy_run(finished_run, tmp_path / "run")
    stale = run / ".checkpoint.pt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    assert main(["train", *SMALL, "--run-dir", str(run), "--resume", "--epochs", "2", "--allow-changes", "epochs"]) == 0
    assert not stale.exists() and load_checkpoint(run / "checkpoint.pt")["epoch"] == 2


def test_compare_does_not_replace_earlier_results(tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare", *SMALL[:-1], "--epochs", "1", "--vary", "lr=0.01,0.1", "--out", str(out)]
    assert main(args) == 0
    before = snapshot(out)
    capsys.readouterr()
    err = one_line_error(capsys, main(args))
    assert "already exists" in err and snapshot(out) == before
    assert main([*args, "--overwrite"]) == 0


def exit_code(argv):
    try:
        return main(argv)
    except SystemExit as e:  # argparse's own mistakes
        return e.code


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "--epochs", "x"], "invalid int value: 'x' (see 'dlbasic train --help')"),
        (["train", "--optimizer"], "expected one argument"),
        (["train", "--no-such-option"], "unrecognized arguments"),
        (["train", "--no-progrss"], "did you mean --no-progress? (see 'dlbasic train --help')"),
        (["segment", "train", "--epohcs", "2"], "did you mean --epochs? (see 'dlbasic segment train --help')"),
        (["trian"], "invalid choice"),
        (["train", *SMALL, "--lr", "inf"], "lr must be a finite number"),
        (["train", *SMALL, "--lr", "nan"], "lr must be"),
        (["train", *SMALL, "--threads", "-1"], "threads must be at least 1"),
        (["train", *SMALL, "--val-fraction", "1.5"], "val_fraction"),
        (["train", *SMALL, "--allow-changes", "lr"], "only with --resume"),
    ],
)
def test_mistakes_are_one_line_with_exit_2(argv, words, capsys, tmp_path):
    run = tmp_path / "r"
    err = one_line_error(capsys, exit_code([*argv, "--run-dir", str(run)] if argv[0] == "train" else argv))
    assert words in err and "usage:" not in err
    assert not run.exists()


def test_resume_names_each_difference_and_refuses(finished_run, tmp_path, capsys):
    run = _copy_run(finished_run, tmp_path / "run")
    before = snapshot(run)
    err = one_line_error(
        capsys, main(["train", "--run-dir", str(run), "--resume", "--lr", "0.5", "--model", "cnn", "--no-progress"])
    )
    assert "lr None -> 0.5" in err and "model 'mlp' -> 'cnn'" in err and snapshot(run) == before
    err = one_line_error(capsys, main(["train", "--run-dir", str(run), "--resume", "--epochs", "3", "--no-progress"]))
    assert "--allow-changes epochs" in err
    err = one_line_error(
        capsys,
        main(
            ["train", "--run-dir", str(run), "--resume", "--model", "cnn", "--allow-changes", "model", "--no-progress"]
        ),
    )
    assert "'model' cannot change" in err and snapshot(run) == before


def test_allowed_lr_change_applies_on_resume(finished_run, tmp_path):
    run = _copy_run(finished_run, tmp_path / "run")
    assert (
        main(
            [
                "train",
                "--run-dir",
                str(run),
                "--resume",
                "--epochs",
                "2",
                "--lr",
                "0.0123",
                "--allow-changes",
                "epochs,lr",
                "--no-progress",
            ]
        )
        == 0
    )
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["epoch"] == 2 and state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.0123)


def test_resume_refuses_a_checkpoint_of_another_run(finished_run, tmp_path, capsys):
    run = _copy_run(finished_run, tmp_path / "run")
    other = tmp_path / "other"
    assert main(["train", *SMALL, "--model-option", "hidden=[16]", "--epochs", "1", "--run-dir", str(other)]) == 0
    (run / "checkpoint.pt").write_bytes((other / "checkpoint.pt").read_bytes())
    capsys.readouterr()
    err = one_line_error(capsys, main(["train", "--run-dir", str(run), "--resume", "--no-progress"]))
    assert "other settings (model_options)" in err
    state = load_checkpoint(other / "checkpoint.pt")  # the same config, but weights of another shape
    state["meta"]["config"] = load_checkpoint(finished_run / "checkpoint.pt")["meta"]["config"]
    atomic_save(state, run / "checkpoint.pt")
    err = one_line_error(capsys, main(["train", "--run-dir", str(run), "--resume", "--no-progress"]))
    assert "does not fit this run's model" in err


def test_a_full_disk_keeps_the_last_checkpoint_and_says_so_in_one_line(finished_run, tmp_path):
    """A file-size limit makes every write past it fail (EFBIG), as a full disk does (ENOSPC)."""
    run = _copy_run(finished_run, tmp_path / "run")
    before = (run / "checkpoint.pt").read_bytes()
    limit = 4096  # smaller than a checkpoint, larger than config and metrics files

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dlbasic.cli",
            "train",
            "--run-dir",
            str(run),
            "--resume",
            "--epochs",
            "2",
            "--allow-changes",
            "epochs",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        preexec_fn=limited,
        timeout=300,
    )
    err = proc.stderr.strip()
    assert proc.returncode == 2, err
    assert len(err.splitlines()) == 1 and "could not write" in err and "previous file is kept" in err, err
    assert (run / "checkpoint.pt").read_bytes() == before
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_a_read_only_folder_is_one_line(tmp_path, capsys, monkeypatch):
    """Root ignores permission bits, so the failing write is simulated (EROFS, as on a read-only mount)."""
    import errno

    from dlbasic import checkpoint

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(checkpoint.tempfile, "mkstemp", read_only)
    err = one_line_error(capsys, main(["train", *SMALL, "--epochs", "1", "--run-dir", str(tmp_path / "r")]))
    assert "Read-only file system" in err


def test_summary_of_a_finished_run(finished_run):
    summary = json.loads((finished_run / "summary.json").read_text())
    assert summary["status"] == "finished"
