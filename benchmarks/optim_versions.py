"""The cost of bumping autograd version counters after each fused step (so that a graph that saved the old
weights refuses to backward): the default path with the bump against the same path without it.

Two parameter sets of 62 tensors: ResNet-18's shapes (11.7M float32 parameters: the kernels' memory traffic
dominates) and the same count of 256-element tensors (the step's per-tensor Python and call overhead
dominates: the worst case for a per-tensor cost). "without" swaps `_native.bump` for a no-op around its own
optimizer's steps. Timed round-robin in one process; medians of --repeats samples of --steps steps each.

    python benchmarks/optim_versions.py [--repeats 9] [--threads 1] [--only adam,sgd]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch

from dlbasic.optim import SGD, Adagrad, Adam, AdamP, RAdam, _native
from optim_step import resnet18_shapes

OPTIMIZERS: dict[str, Callable[[list], torch.optim.Optimizer]] = {
    "sgd": lambda ps: SGD(ps, lr=0.01),
    "momentum": lambda ps: SGD(ps, lr=0.01, momentum=0.9),
    "adagrad": lambda ps: Adagrad(ps, lr=0.01),
    "adam": lambda ps: Adam(ps, lr=1e-3),
    "radam": lambda ps: RAdam(ps, lr=1e-3),  # no plan: every step goes the general way
    "adamp": lambda ps: AdamP(ps, lr=1e-3),
}


def _noop(tensors: list[torch.Tensor]) -> None:
    pass


def make_step(make: Callable, grads: list[torch.Tensor], bump: bool) -> Callable[[], None]:
    params = [torch.nn.Parameter(torch.randn_like(g) * 0.1) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g
    opt = make(params)
    opt.step()
    if bump:
        return opt.step
    real = _native.bump

    def step() -> None:
        _native.bump = _noop
        try:
            opt.step()
        finally:
            _native.bump = real

    return step


def bench(make: Callable, grads: list[torch.Tensor], repeats: int, steps: int) -> dict[str, float]:
    runs = {"with": make_step(make, grads, True), "without": make_step(make, grads, False)}
    samples: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for label, fn in runs.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            samples[label].append((time.perf_counter() - t0) / steps)
    return {k: statistics.median(v) for k, v in samples.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--only", default="", help="comma-separated optimizer names")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sets = {
        "resnet18": ([torch.randn(s) * 1e-2 for s in resnet18_shapes()], 3),
        "tiny": ([torch.randn(256) * 1e-2 for _ in resnet18_shapes()], 300),
    }
    names = [s for s in args.only.split(",") if s] or list(OPTIMIZERS)
    print(f"{torch.get_num_threads()} threads; fused kernels: {_native.available()}; median of {args.repeats}")
    print(f"{'optimizer':10s} {'params':9s} {'with us':>9s} {'without us':>10s} {'with/without':>12s} {'cost us':>8s}")
    results = {}
    for name in names:
        for label, (grads, steps) in sets.items():
            med = bench(OPTIMIZERS[name], grads, args.repeats, steps)
            ratio = med["with"] / med["without"]
            results[f"{name}/{label}"] = round(ratio, 4)
            print(
                f"{name:10s} {label:9s} {med['with'] * 1e6:9.1f} {med['without'] * 1e6:10.1f} {ratio:12.3f} "
                f"{(med['with'] - med['without']) * 1e6:8.1f}",
                flush=True,
            )
    print(
        json.dumps(
            {
                "bench": "optim_versions",
                "threads": torch.get_num_threads(),
                "repeats": args.repeats,
                "with_vs_without": results,
            }
        )
    )


if __name__ == "__main__":
    main()
