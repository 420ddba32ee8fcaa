"""A segmentation run killed with SIGKILL (also while a checkpoint is being written) resumes bit-identically."""

import os
import signal
import subprocess
import sys
import time

import torch

from dlbasic.training import load_checkpoint

TINY = [
    "--data",
    "scenes:canvas=64,digits=1-2,count=48",
    "--batch-size",
    "8",
    "--threads",
    "1",
    "--no-progress",
    "--precision",
    "fp32",
]
COMMON = ["--epochs", "4", "--checkpoint-every", "1"]


def _cli(*args):
    return [sys.executable, "-m", "dlbasic.cli", "segment", "train", *TINY, *args]


def test_sigkill_then_resume_is_bit_identical(tmp_path):
    subprocess.run(_cli(*COMMON, "--run-dir", str(tmp_path / "full")), check=True, capture_output=True)
    run = tmp_path / "killed"
    proc = subprocess.Popen(_cli(*COMMON, "--run-dir", str(run)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt, deadline = run / "checkpoint.pt", time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists():
            time.sleep(0.5)  # a few steps further, possibly inside the next checkpoint write
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert load_checkpoint(ckpt)["global_step"] < load_checkpoint(tmp_path / "full" / "checkpoint.pt")["global_step"]
    subprocess.run(_cli("--run-dir", str(run), "--resume"), check=True, capture_output=True)
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    b = load_checkpoint(run / "checkpoint.pt")
    assert a["global_step"] == b["global_step"]
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
