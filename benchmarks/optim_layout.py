"""Optimizer step time on channels-last weights against contiguous ones: the fused kernels take any dense layout.

ResNet-18's 62 parameter shapes; "channels-last" converts its 4-D weights with
`.to(memory_format=torch.channels_last)` (as `--precision auto` does to conv nets on CPU), and the
gradients and state follow them. Per optimizer, timed round-robin in one process (medians of --repeats
samples of --steps steps each):
    contiguous        the default path on contiguous weights (the reference of the ratios);
    channels-last     the default path on channels-last weights;
    contiguous-only   channels-last weights through kernels that take contiguous tensors only, the loop for
                      the others: how the default path handled them before it took any dense layout.
Prints a table of ms per step and ratios to contiguous, then one JSON line.

    python benchmarks/optim_layout.py [--repeats 9] [--steps 3] [--threads 1] [--only adam,sgd]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch

from dlbasic.optim import SGD, SGDP, Adadelta, Adagrad, Adam, AdamP, AdamW, RAdam, RMSprop, _native
from optim_step import resnet18_shapes

OPTIMIZERS: dict[str, Callable[[list], torch.optim.Optimizer]] = {
    "adam": lambda ps, **kw: Adam(ps, lr=1e-3, **kw),
    "adamw": lambda ps, **kw: AdamW(ps, lr=1e-3, **kw),
    "sgd": lambda ps, **kw: SGD(ps, lr=0.01, **kw),
    "momentum": lambda ps, **kw: SGD(ps, lr=0.01, momentum=0.9, **kw),
    "adagrad": lambda ps, **kw: Adagrad(ps, lr=0.01, **kw),
    "adadelta": lambda ps, **kw: Adadelta(ps, **kw),
    "rmsprop": lambda ps, **kw: RMSprop(ps, lr=1e-3, **kw),
    "radam": lambda ps, **kw: RAdam(ps, lr=1e-3, **kw),
    "adamp": lambda ps, **kw: AdamP(ps, lr=1e-3, weight_decay=1e-4, **kw),
    "sgdp": lambda ps, **kw: SGDP(ps, lr=0.01, momentum=0.9, weight_decay=1e-4, **kw),
}


def contiguous_only(opt: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """Route `opt`'s non-contiguous tensors to its loop, as the kernels' old eligibility test did."""
    fusable = opt._fusable
    opt._fusable = lambda p, g, state: p.is_contiguous() and fusable(p, g, state)
    return opt


def make_step(
    make: Callable, grads: list[torch.Tensor], channels_last: bool, wrap: Callable = lambda opt: opt
) -> Callable[[], None]:
    params = []
    for g in grads:
        p = torch.nn.Parameter(torch.randn_like(g) * 0.1)
        if channels_last and g.dim() == 4:
            p.data = p.data.to(memory_format=torch.channels_last)
        p.grad = g.to(memory_format=torch.channels_last) if channels_last and g.dim() == 4 else g
        params.append(p)
    opt = wrap(make(params))
    opt.step()  # creates the state (preserve_format: laid out as the weights) and the plan
    return opt.step


def bench(make: Callable, grads: list[torch.Tensor], repeats: int, steps: int) -> dict[str, float]:
    runs = {
        "contiguous": make_step(make, grads, False),
        "channels-last": make_step(make, grads, True),
        "contiguous-only": make_step(make, grads, True, contiguous_only),
    }
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
    ap.add_argument("--steps", type=int, default=3, help="steps per timed sample")
    ap.add_argument("--only", default="", help="comma-separated optimizer names")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    grads = [torch.randn(s) * 1e-2 for s in resnet18_shapes()]
    conv = sum(g.numel() for g in grads if g.dim() == 4)
    names = [s for s in args.only.split(",") if s] or list(OPTIMIZERS)
    print(
        f"{len(grads)} tensors, {sum(g.numel() for g in grads):,} float32 params ({conv:,} in 4-D weights); "
        f"{torch.get_num_threads()} threads; fused kernels: {_native.available()}; median of {args.repeats}"
    )
    print(
        f"{'optimizer':10s} {'contig ms':>9s} {'NHWC ms':>8s} {'NHWC/contig':>11s} {'before ms':>9s} "
        f"{'before/contig':>13s}"
    )
    results = {}
    for name in names:
        med = bench(OPTIMIZERS[name], grads, args.repeats, args.steps)
        row = dict(
            contiguous_ms=med["contiguous"] * 1e3,
            channels_last_ms=med["channels-last"] * 1e3,
            contiguous_only_ms=med["contiguous-only"] * 1e3,
            channels_last_vs_contiguous=med["channels-last"] / med["contiguous"],
            contiguous_only_vs_contiguous=med["contiguous-only"] / med["contiguous"],
        )
        results[name] = row
        print(
            f"{name:10s} {row['contiguous_ms']:9.1f} {row['channels_last_ms']:8.1f} "
            f"{row['channels_last_vs_contiguous']:11.2f} {row['contiguous_only_ms']:9.1f} "
            f"{row['contiguous_only_vs_contiguous']:13.2f}",
            flush=True,
        )
    print("NHWC: 4-D weights channels-last, default path; before: the same through contiguous-only kernels + loop")
    print(
        json.dumps(
            {
                "bench": "optim_layout",
                "threads": torch.get_num_threads(),
                "repeats": args.repeats,
                "channels_last_vs_contiguous": {
                    k: round(r["channels_last_vs_contiguous"], 3) for k, r in results.items()
                },
                "before_vs_contiguous": {k: round(r["contiguous_only_vs_contiguous"], 3) for k, r in results.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
