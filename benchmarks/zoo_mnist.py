"""Every small-input zoo variant trained on mnist5k for 3 epochs on CPU: test accuracy, seconds, images/s.

The bar (issue 5) is test accuracy >= 0.95 for each model. A plain loop on purpose: Adam, linear
warm-up over the first 10 % of the steps, then cosine decay to 0, batch 64, seed 0, train-split
statistics for normalization. Each model trains once per learning rate in --lrs (default 1e-3 and
3e-3: 50-152-layer ResNets need the larger, the paper's GoogLeNet without batch norm the smaller);
the run with the higher accuracy on the validation split (400 digits held out of training; ties:
lower training loss over the last epoch) is reported, so the choice never sees the test set.
Every run's validation and test accuracy is in the JSON line. `--device cuda` runs the same recipe
on a GPU to check it quickly (the bar is measured on CPU).

    python benchmarks/zoo_mnist.py                      # every family
    python benchmarks/zoo_mnist.py --threads 1 --jobs 2  # two models at a time, one thread each
    python benchmarks/zoo_mnist.py --models resnet18,vgg11_bn --lrs 1e-3

Prints a table and, as its last line, one JSON object {"bench": "zoo_mnist", ...}.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from dlbasic.data import load
from dlbasic.errors import UserError, did_you_mean
from dlbasic.models import create_model, list_models
from dlbasic.nn.summary import summarize
from dlbasic.training.device import resolve_device

BAR = 0.95


def mnist5k_splits(device: str = "cpu") -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """train (3,600), val (400) and test (1,000) images (N, 1, 28, 28) and labels (N,), on `device`.

    Every split is normalized with the train split's mean and std.
    """
    splits = {s: load("mnist5k", s) for s in ("train", "val", "test")}
    return {s: (splits["train"].normalize(d.images).to(device), d.labels.to(device)) for s, d in splits.items()}


def train_and_test(name: str, epochs: int, batch_size: int, lr: float, seed: int, device: str = "cpu") -> dict:
    data = mnist5k_splits(device)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data["train"], data["val"], data["test"]
    torch.manual_seed(seed)
    model = create_model(name, num_classes=10, in_channels=1, input_size=28)
    macs = summarize(model, 28, in_channels=1).macs
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    start = time.perf_counter()
    last_loss = fit(model, opt, x_train, y_train, epochs, batch_size, seed)
    seconds = time.perf_counter() - start
    return {
        "lr": lr,
        "train_loss": round(last_loss, 4),
        "val_accuracy": accuracy(model, x_val, y_val),
        "accuracy": accuracy(model, x_test, y_test),
        "seconds": round(seconds, 1),
        "images_per_s": round(epochs * len(x_train) / seconds, 1),
        "params": sum(p.numel() for p in model.parameters()),
        "mmacs": round(macs / 1e6, 1),
    }


def fit(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    batch_size: int,
    seed: int,
    warmup: float = 0.1,
) -> float:
    """Train with linear warm-up over the first `warmup` of the steps, then cosine decay to 0.

    Returns the mean training loss over the last epoch (inf if it diverged).
    """
    steps = epochs * math.ceil(len(x) / batch_size)
    warm = max(1, int(steps * warmup))  # plain 16- and 19-layer VGGs diverge early without warm-up

    def factor(t: int) -> float:
        return (t + 1) / warm if t < warm else 0.5 * (1 + math.cos(math.pi * (t - warm) / (steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen).to(x.device)  # the same order on every device
        loss_sum = 0.0
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
    return loss_sum / len(x) if math.isfinite(loss_sum) else math.inf


def train_at_each_lr(
    name: str, lrs: list[float], epochs: int, batch_size: int, seed: int, threads: int, device: str
) -> list[dict]:
    if threads:  # again: a worker process starts with torch's default
        torch.set_num_threads(threads)
    return [train_and_test(name, epochs, batch_size, lr, seed, device) for lr in lrs]


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> float:
    model.eval()
    correct = sum(
        (model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum().item()
        for i in range(0, len(x), batch_size)
    )
    return round(correct / len(x), 4)


def main() -> None:
    others = ("mlp", "simple_cnn", "tiny_cnn", "mnist_fast")  # not zoo families
    families = [n for n in list_models() if n not in others and not n.startswith("fcn")]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(families), help="comma-separated names (default: all families)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lrs", default="1e-3,3e-3", help="learning rates to try (highest validation accuracy wins)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--jobs", type=int, default=1, help="models trained at once, each in its own process")
    p.add_argument("--device", default="cpu", help="cpu (the bar's), or cuda to check a recipe quickly")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lrs = [float(v) for v in args.lrs.split(",")]
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    for name in names:
        if name not in list_models():
            p.error(f"unknown model {name!r}; {did_you_mean(name, list_models())}")
    try:
        resolve_device(args.device)
    except UserError as e:
        p.error(str(e))
    task = partial(
        train_at_each_lr,
        lrs=lrs,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        threads=args.threads,
        device=args.device,
    )
    results = {}
    print(
        f"{'model':<14} {'params':>10} {'MMACs':>7} {'lr':>6} {'loss':>7} {'val acc':>8} {'test acc':>9} "
        f"{'seconds':>8} {'images/s':>9}  other lrs"
    )
    with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) if args.jobs > 1 else nullcontext() as pool:
        for name, runs in zip(names, pool.map(task, names) if pool else map(task, names)):
            r = min(runs, key=lambda run: (-run["val_accuracy"], run["train_loss"]))
            results[name] = {
                **r,
                "runs": [{k: run[k] for k in ("lr", "train_loss", "val_accuracy", "accuracy")} for run in runs],
            }
            others = ", ".join(f"{run['lr']:g}: {run['accuracy']:.4f}" for run in runs if run is not r)
            flag = "" if r["accuracy"] >= BAR else f"  below {BAR}"
            print(
                f"{name:<14} {r['params']:>10,} {r['mmacs']:>7} {r['lr']:>6g} {r['train_loss']:>7.4f} "
                f"{r['val_accuracy']:>8.4f} {r['accuracy']:>9.4f} {r['seconds']:>8} {r['images_per_s']:>9}  "
                f"{others}{flag}",
                flush=True,
            )
    accs = [r["accuracy"] for r in results.values()]
    print(
        json.dumps(
            {
                "bench": "zoo_mnist",
                "epochs": args.epochs,
                "lrs": lrs,
                "bar": BAR,
                "min_accuracy": min(accs),
                "all_pass": min(accs) >= BAR,
                "threads": torch.get_num_threads(),
                "jobs": args.jobs,
                "device": args.device,
                "seed": args.seed,
                "batch_size": args.batch_size,
                "torch": torch.__version__,
                "models": results,
            }
        )
    )


if __name__ == "__main__":
    main()
