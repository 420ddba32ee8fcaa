"""A segmentation run killed with SIGKILL (also while a checkpoint is being written) resumes bit-identically, on
synthetic scenes and on real micrographs."""

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


def test_killed_in_a_write_on_membranes_is_bit_identical(shared_data, kill_resume):
    """The ISBI electron micrographs, augmented: SIGKILL during an atomic write, continued by a plain --resume,
    ends as the uninterrupted run, bit for bit; also where torch's default thread count differs when resuming
    (the run's config.yaml records the count it used)."""
    data = f"segfolder:{shared_data / 'isbi2012-membrane'},invert=1"
    options = ["--data", data, "--image-size", "48", "--batch-size", "4", "--epochs", "2", "--augment", "flip,crop"]
    options += ["--checkpoint-every", "2", "--precision", "fp32"]
    kill_resume(
        ["segment", "train"], options, [("write", 2)], env={"OMP_NUM_THREADS": "1"}, resume_env={"OMP_NUM_THREADS": "2"}
    )
