"""Data-parallel runs under torchrun (gloo, 2 CPU processes) against single-process references."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from dlbasic.training import load_checkpoint

# 1,280 training digits: 20 steps of 64 per epoch, so no ragged last batch
COMMON = [
    "--data",
    "digits",
    "--model",
    "mlp",
    "--train-subset",
    "1280",
    "--optimizer",
    "momentum",
    "--lr",
    "0.05",
    "--threads",
    "1",
    "--precision",
    "fp32",
    "--no-progress",
]


def single(*args):
    return [sys.executable, "-m", "dlbasic.cli", "train", *COMMON, *args]


def torchrun(*args):
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "dlbasic.cli",
        "train",
        *COMMON,
        *args,
    ]


def env():
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def weights(run):
    return load_checkpoint(run / "checkpoint.pt")["model"]


@pytest.mark.parametrize(
    "schedule",
    [[], ["--epochs", "2", "--scheduler", "cosine", "--warmup-steps", "5"]],
    ids=["constant lr", "cosine with warm-up"],
)
def test_two_processes_of_32_equal_one_process_of_64(tmp_path, schedule):
    """The schedule counts the steps the run takes (global batches), so it ends where one process's does."""
    subprocess.run(
        single("--epochs", "1", "--batch-size", "64", *schedule, "--run-dir", str(tmp_path / "one")),
        check=True,
        capture_output=True,
        env=env(),
    )
    subprocess.run(
        torchrun("--epochs", "1", "--batch-size", "32", *schedule, "--run-dir", str(tmp_path / "two")),
        check=True,
        capture_output=True,
        env=env(),
    )
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    one, two = (load_checkpoint(tmp_path / name / "checkpoint.pt") for name in ("one", "two"))
    assert two["global_step"] == 20 * (2 if schedule else 1) == one["global_step"]
    assert one["optimizer"]["param_groups"][0]["lr"] == two["optimizer"]["param_groups"][0]["lr"]
    if schedule:
        assert two["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.0, abs=1e-12)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)


def test_killed_distributed_run_resumes_identically(tmp_path):
    common = ["--epochs", "6", "--batch-size", "16", "--checkpoint-every", "7", "--optimizer", "adam", "--lr", "1e-3"]
    subprocess.run(torchrun(*common, "--run-dir", str(tmp_path / "full")), check=True, capture_output=True, env=env())
    run = tmp_path / "killed"
    proc = subprocess.Popen(
        torchrun(*common, "--run-dir", str(run)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env(),
        start_new_session=True,
    )
    ckpt, deadline = run / "checkpoint.pt", time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists():
            time.sleep(0.5)
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    state = load_checkpoint(ckpt)
    assert state["global_step"] < 6 * 40, "the run finished before it could be killed"
    subprocess.run(torchrun(*common, "--run-dir", str(run), "--resume"), check=True, capture_output=True, env=env())
    a, b = weights(tmp_path / "full"), weights(run)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def detect(*args, processes: int = 1):
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] if processes > 1 else []
    common = ["--model", "yolo_v1", "--data", "scenes:canvas=64,digits=1-2,count=48", "--threads", "1"]
    common += ["--precision", "fp32", "--no-progress", "--epochs", "2", "--scheduler", "cosine", "--warmup-steps", "3"]
    return [sys.executable, *launcher, "-m", "dlbasic.cli", "detect", "train", *common, *args]


def test_detection_under_torchrun_shares_the_images_and_the_schedule(tmp_path):
    """2 processes of 8 images take the steps of one process of 16 (48 scenes: 3 an epoch; processes that did not
    join the group would take 6 each), end at the same learning rate, and write one run folder. (Batch norm
    sees 8 images per process, so the weights are not those of one process of 16.)"""
    subprocess.run(
        detect("--batch-size", "16", "--run-dir", str(tmp_path / "one")), check=True, capture_output=True, env=env()
    )
    two = subprocess.run(
        detect("--batch-size", "8", "--run-dir", str(tmp_path / "two"), processes=2),
        check=True,
        capture_output=True,
        env=env(),
        text=True,
    )
    a, b = (load_checkpoint(tmp_path / name / "checkpoint.pt") for name in ("one", "two"))
    assert a["global_step"] == b["global_step"] == 2 * 3
    assert a["optimizer"]["param_groups"][0]["lr"] == b["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0)
    assert two.stdout.count('"status": "finished"') == 2  # each process reports; only the main one writes
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
