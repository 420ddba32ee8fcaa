"""`dlbasic detect train` on the Trainer: the run folder, exact resume after SIGKILL, refused changes."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from dlbasic.cli import main
from dlbasic.outputs import MARKER
from dlbasic.training import load_checkpoint

DATA = "scenes:canvas=64,digits=1-2,count=48"
TINY = [
    "--data",
    DATA,
    "--model",
    "yolo_v1",
    "--batch-size",
    "8",
    "--threads",
    "1",
    "--device",
    "cpu",
    "--warmup-steps",
    "2",
    "--no-progress",
]


def _cli(*args):
    return [sys.executable, "-m", "dlbasic.cli", "detect", "train", *TINY, *args]


def test_run_folder_like_train(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["detect", "train", *TINY, "--epochs", "2", "--test-limit", "4", "--run-dir", str(run)]) == 0
    for name in ("config.yaml", "metrics.jsonl", "checkpoint.pt", "curves.png", "summary.json", MARKER):
        assert (run / name).is_file(), name
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and all("train_loss_coord" in r for r in rows)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["meta"]["kind"] == "detection" and state["global_step"] == 2 * 6  # 48 scenes, batch 8
    assert json.loads((run / "summary.json").read_text())["status"] == "finished"
    capsys.readouterr()
    assert main(["detect", "eval", "--checkpoint", str(run / "checkpoint.pt"), "--test-limit", "4"]) == 0
    out = capsys.readouterr().out
    result = json.JSONDecoder().raw_decode(out)[0]
    assert 0.0 <= result["map_50"] <= 1.0 and result["images"] == 4 and result["split"] == "official test split"
    assert out.rstrip().endswith(f"scored 4 images of {DATA} (official test split)")


def test_sigkill_then_resume_is_bit_identical(tmp_path):
    common = ["--epochs", "5", "--checkpoint-every", "2", "--test-limit", "2"]
    subprocess.run(_cli(*common, "--run-dir", str(tmp_path / "full")), check=True, capture_output=True)
    run = tmp_path / "killed"
    proc = subprocess.Popen(_cli(*common, "--run-dir", str(run)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt, deadline = run / "checkpoint.pt", time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists():
            time.sleep(0.3)
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert load_checkpoint(ckpt)["global_step"] < 5 * 6
    subprocess.run(_cli(*common, "--run-dir", str(run), "--resume"), check=True, capture_output=True)
    a, b = (load_checkpoint(p / "checkpoint.pt") for p in (tmp_path / "full", run))
    assert a["global_step"] == b["global_step"] == 5 * 6
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


def test_resume_refuses_other_settings(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["detect", "train", *TINY, "--epochs", "1", "--test-limit", "2", "--run-dir", str(run)]) == 0
    capsys.readouterr()
    assert main(["detect", "train", "--run-dir", str(run), "--resume", "--lr", "0.5", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "lr 0.0 -> 0.5" in err and "--allow-changes lr" in err and len(err.splitlines()) == 1
    assert (
        main(
            [
                "detect",
                "train",
                "--run-dir",
                str(run),
                "--resume",
                "--epochs",
                "2",
                "--allow-changes",
                "epochs",
                "--no-progress",
            ]
        )
        == 0
    )
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 2


def test_rcnn_checkpoints_after_its_svm_stage(tmp_path):
    run = tmp_path / "rcnn"
    argv = [
        "detect",
        "train",
        "--data",
        DATA,
        "--model",
        "rcnn",
        "--batch-size",
        "8",
        "--train-limit",
        "16",
        "--test-limit",
        "2",
        "--epochs",
        "1",
        "--proposals",
        "single",
        "--max-proposals",
        "30",
        "--device",
        "cpu",
        "--no-progress",
        "--run-dir",
        str(run),
    ]
    assert main(argv) == 0
    state = load_checkpoint(run / "checkpoint.pt")
    assert bool(state["model"]["fitted"]) and state["model"]["svm_weight"].abs().sum() > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
def test_detect_train_on_cuda(tmp_path):
    run = tmp_path / "cuda"
    argv = [
        "detect",
        "train",
        "--data",
        DATA,
        "--model",
        "faster_rcnn",
        "--batch-size",
        "8",
        "--epochs",
        "1",
        "--test-limit",
        "4",
        "--device",
        "cuda",
        "--no-progress",
        "--run-dir",
        str(run),
    ]
    assert main(argv) == 0
    assert load_checkpoint(run / "checkpoint.pt")["global_step"] == 6


def test_gradient_clipping_and_channels_last(tmp_path):
    """--grad-clip bounds every step (SGD: a step moves the weights by lr x the clipped norm at most);
    --channels-last trains NHWC weights. Both are saved in the run's config."""
    runs = {
        "start": ["--epochs", "0"],
        "plain": ["--epochs", "1"],
        "clipped": ["--epochs", "1", "--grad-clip", "1e-6"],
        "nhwc": ["--epochs", "1", "--channels-last"],
    }
    for name, args in runs.items():
        opts = [
            "--optimizer",
            "sgd",
            "--lr",
            "0.01",
            "--weight-decay",
            "0",
            "--scheduler",
            "none",
            "--warmup-steps",
            "0",
        ]
        assert (
            main(["detect", "train", *TINY, *opts, *args, "--test-limit", "2", "--run-dir", str(tmp_path / name)]) == 0
        )
    w = {name: load_checkpoint(tmp_path / name / "checkpoint.pt")["model"] for name in runs}

    def moved(name):  # the largest change of a learned weight (batch-norm statistics follow the data, not the steps)
        keys = [k for k in w[name] if w[name][k].is_floating_point() and "running_" not in k]
        return max((w[name][k] - w["start"][k]).abs().max().item() for k in keys)

    assert moved("plain") > 1e-4
    assert moved("clipped") <= 6 * 0.01 * 1e-6 * 1.001  # 6 steps of lr x norm at most (+ float rounding)
    convs = [v for v in w["nhwc"].values() if v.dim() == 4]
    assert convs and all(v.is_contiguous(memory_format=torch.channels_last) for v in convs)
    assert any(not v.is_contiguous() for v in convs)  # (1x1 and one-channel kernels are both at once)
    assert all(v.is_contiguous() for v in w["plain"].values())
    config = (tmp_path / "clipped" / "config.yaml").read_text()
    assert "grad_clip: 1.0e-06" in config and "channels_last: true" in (tmp_path / "nhwc" / "config.yaml").read_text()
