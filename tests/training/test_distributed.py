"""Data-parallel runs under torchrun (gloo, 2 CPU processes) against single-process references."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from dlbasic.training import load_checkpoint
from dlbasic.training.trainer import shard, steps_per_epoch

# the default digits split: 1,295 training images, so every epoch ends with a ragged global batch
COMMON = [
    "--data",
    "digits",
    "--model",
    "mlp",
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


def max_difference(a, b):
    return max((a[k] - b[k]).abs().max().item() for k in a)


def test_two_processes_of_32_equal_one_process_of_64(tmp_path):
    """1,295 images: 20 global batches of 64, then one of 15 that the two processes share 8 + 7. Weighting each
    process's mean loss by its share of the global batch makes DDP's gradient average the global batch's mean,
    so the run (cosine schedule with warm-up, momentum) ends on one process's weights."""
    schedule = ["--epochs", "2", "--scheduler", "cosine", "--warmup-steps", "5"]
    subprocess.run(
        single(*schedule, "--batch-size", "64", "--run-dir", str(tmp_path / "one")),
        check=True,
        capture_output=True,
        env=env(),
    )
    subprocess.run(
        torchrun(*schedule, "--batch-size", "32", "--run-dir", str(tmp_path / "two")),
        check=True,
        capture_output=True,
        env=env(),
        timeout=300,
    )
    one, two = (load_checkpoint(tmp_path / name / "checkpoint.pt") for name in ("one", "two"))
    assert two["global_step"] == 2 * 21 == one["global_step"]
    assert one["optimizer"]["param_groups"][0]["lr"] == two["optimizer"]["param_groups"][0]["lr"]
    assert two["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert max_difference(one["model"], two["model"]) <= 1e-6
    # the logged training loss is the global batch's, not a mean of the processes' means
    for a, b in zip(one["history"], two["history"], strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-6)


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_shards_deal_out_every_image_once_and_the_steps_match_one_process(world_size):
    """For any data size, N processes of batch B take the steps of one process of N x B, on the same global
    batches, shared out in runs whose sizes differ by at most one (empty ones when a batch has < N images)."""
    for size in range(1, 70):
        order = torch.randperm(size, generator=torch.Generator().manual_seed(size))
        for batch in range(1, 10):
            steps = steps_per_epoch(size, batch, world_size)
            assert steps == steps_per_epoch(size, batch * world_size)
            global_batch = min(batch * world_size, size)
            for step in range(steps):
                shares = [shard(order, step, global_batch, r, world_size) for r in range(world_size)]
                assert torch.equal(torch.cat(shares), shard(order, step, global_batch))
                assert max(map(len, shares)) - min(map(len, shares)) <= 1
            dealt = torch.cat(
                [shard(order, s, global_batch, r, world_size) for s in range(steps) for r in range(world_size)]
            )
            assert torch.equal(dealt, order)


# Tiny problems on the Trainer itself, in one process with a global batch of 4 and under torchrun with 4 // N each:
# classification with an explicit penalty (5 images: the last global batch, 1 image, leaves process 1 nothing),
# segmentation with ignored pixels (7 images: shares of 2 + 2 and 2 + 1 that count different numbers of pixels),
# and YOLO v1 without batch norm (5 images; its loss is a per-image mean), the empty share included.
PROBLEMS = r"""
import sys

import torch
from torch import nn

from dlbasic.data import ImageDataset
from dlbasic.detection.task import DetectionData, DetectionTask
from dlbasic.detection.models.yolo_v1 import YOLOv1
from dlbasic.segmentation.task import SegmentationTask
from dlbasic.training import Trainer, distributed
from dlbasic.training.assemble import start_process

device = start_process("cpu", threads=1)
rank, world = distributed.world()
g = torch.Generator().manual_seed(0)


def dataset(n, classes, masks=False):
    pixels = torch.rand(n, 1, 6, 6, generator=g)
    labels = torch.randint(0, classes, (n, 6, 6) if masks else (n,), generator=g)
    if masks:  # image i has 3 i void pixels
        for i in range(n):
            labels[i].view(-1)[: 3 * i] = 255
    return ImageDataset(pixels, labels, [str(c) for c in range(classes)], pixels.mean((0, 2, 3)), pixels.std((0, 2, 3)))


def scenes(n):
    boxes = [torch.tensor([[2.0 + i, 3.0, 14.0 + i, 13.0], [16.0, 18.0 + i, 30.0, 28.0]]) for i in range(n)]
    targets = [{"boxes": b, "labels": torch.tensor([i % 2, 1])} for i, b in enumerate(boxes)]
    return DetectionData(torch.rand(n, 1, 32, 32, generator=g), targets, ["a", "b"])


def without_batch_norm(model):
    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.BatchNorm2d):
                setattr(module, name, nn.Identity())
    return model


torch.manual_seed(0)
problems = {
    "classification": (nn.Sequential(nn.Flatten(), nn.Linear(36, 3)), dataset(5, 3), {}),
    "segmentation": (
        nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 1)),
        dataset(7, 3, masks=True),
        {"task": SegmentationTask(3)},
    ),
    "detection": (
        without_batch_norm(YOLOv1(2, 1, widths=(4, 8, 8, 8))),
        scenes(5),
        {"task": DetectionTask(), "normalize": False},
    ),
}
problems["classification"][2]["loss_terms"] = [lambda m: 0.05 * sum(p.pow(2).sum() for p in m.parameters())]
out = {}
for name, (model, data, options) in problems.items():
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    trainer = Trainer(model, opt, data, batch_size=4 // world, epochs=3, seed=1, progress=False, **options)
    history = trainer.fit()
    out[name] = {"model": model.state_dict(), "loss": [h["train_loss"] for h in history], "steps": trainer.global_step}
if rank == 0:
    torch.save(out, sys.argv[1])
distributed.cleanup()
"""


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    script = folder / "problems.py"
    script.write_text(PROBLEMS)
    launchers = {1: [], 2: ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]}
    runs = {}
    for n, launcher in launchers.items():
        done = subprocess.run(
            [sys.executable, *launcher, str(script), str(folder / f"{n}.pt")],
            capture_output=True,
            text=True,
            env=env(),
            timeout=300,  # a process left without its share must not hang the others
        )
        assert done.returncode == 0, f"{n} process(es) exited {done.returncode}:\n{done.stderr[-3000:]}"
        runs[n] = torch.load(folder / f"{n}.pt", weights_only=True)
    return runs


@pytest.mark.parametrize("problem", ["classification", "segmentation", "detection"])
def test_uneven_and_empty_shares_equal_one_process(tiny_runs, problem):
    one, two = tiny_runs[1][problem], tiny_runs[2][problem]
    assert one["steps"] == two["steps"]
    assert all(torch.isfinite(torch.tensor(two["loss"])))
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-6)
    assert max_difference(one["model"], two["model"]) <= 1e-6


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
    assert state["global_step"] < 6 * 41, "the run finished before it could be killed"
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
