"""Optimizer step time on a ResNet-18-sized parameter set: dlbasic.optim vs torch vs the memory floor.

For each optimizer: ours (default path, the fused kernel where available) against torch's fastest
implementation of the same update (fused where torch has one, else the faster of foreach and the
for-loop), and against the memory-bandwidth floor: the bytes the update must read and write per
step divided by the stream bandwidth of an in-place `a += b` over as many floats (3 floats moved per
element, no write-allocate penalty: the same access pattern as an in-place update), measured in
the same round-robin.
The bytes an update must move: each state tensor and the weights are read and written once, the
gradient read once (SGD: w, g, w = 3 floats per element; Adam: w, g, m, v read, w, m, v written = 7).
AdamP and SGDP cannot do that for a weight with dim > 1: whether its update is projected depends on
sums over its rows (cosines of gradient and weight, the weight's norm, its dot product with the update
direction), so no element can be written before all of it is read. The minimum is two passes:
    AdamP  pass A reads g, w, m, v and writes m, v (6 floats); pass B reads w, m, v and writes w (4): 10;
    SGDP   pass A reads g, w, b and writes b (4); pass B reads w, b and writes w and the projected
           buffer b, which the reference keeps (4): 8 (without nesterov, the benchmarked setting).
Weights with dim <= 1 are never projected: one pass, AdamP 7 floats, SGDP 5. (The kernels run pass B
right after pass A, last rows first, so a weight that fits in the caches is not read from memory twice:
for those weights the two-pass count is an upper bound, and ours/floor can go below 1.)
AdamP/SGDP are compared with the authors' `adamp` package. Prints a table, then one JSON line.

    python benchmarks/optim_step.py [--repeats 7] [--steps 3] [--threads N] [--only adam,sgd]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from dlbasic.optim import SGD, SGDP, Adadelta, Adagrad, Adam, AdamP, AdamW, RAdam, RMSprop, _native


def resnet18_shapes() -> list[tuple[int, ...]]:
    """The 62 parameter shapes of torchvision's resnet18 (11,689,512 parameters)."""
    shapes: list[tuple[int, ...]] = [(64, 3, 7, 7), (64,), (64,)]
    c_in = 64
    for c in (64, 128, 256, 512):
        for block in range(2):
            shapes += [(c, c_in if block == 0 else c, 3, 3), (c,), (c,), (c, c, 3, 3), (c,), (c,)]
            if block == 0 and c != c_in:
                shapes += [(c, c_in, 1, 1), (c,), (c,)]  # downsample conv + bn
        c_in = c
    return [*shapes, (1000, 512), (1000,)]


def _torch_variants(cls: type, kw: dict, fused: bool) -> dict[str, Callable]:
    out = {
        "torch for-loop": lambda ps: cls(ps, foreach=False, **kw),
        "torch foreach": lambda ps: cls(ps, foreach=True, **kw),
    }
    if fused:
        out = {"torch fused": lambda ps: cls(ps, fused=True, **kw)}
    return out


# floats read+written per element per step: one count, or (weights with dim > 1, weights with dim <= 1)
Floats = int | tuple[int, int]

# name: (ours factory, reference factories, floats read+written per element per step)
OPTIMIZERS: dict[str, tuple[Callable, dict[str, Callable], Floats]] = {
    "sgd": (lambda ps: SGD(ps, lr=0.01), _torch_variants(torch.optim.SGD, dict(lr=0.01), True), 3),
    "momentum": (
        lambda ps: SGD(ps, lr=0.01, momentum=0.9),
        _torch_variants(torch.optim.SGD, dict(lr=0.01, momentum=0.9), True),
        5,
    ),
    "adagrad": (lambda ps: Adagrad(ps, lr=0.01), _torch_variants(torch.optim.Adagrad, dict(lr=0.01), True), 5),
    "adadelta": (lambda ps: Adadelta(ps), _torch_variants(torch.optim.Adadelta, {}, False), 7),
    "rmsprop": (lambda ps: RMSprop(ps, lr=1e-3), _torch_variants(torch.optim.RMSprop, dict(lr=1e-3), False), 5),
    "adam": (lambda ps: Adam(ps, lr=1e-3), _torch_variants(torch.optim.Adam, dict(lr=1e-3), True), 7),
    "adamw": (lambda ps: AdamW(ps, lr=1e-3), _torch_variants(torch.optim.AdamW, dict(lr=1e-3), True), 7),
    "radam": (lambda ps: RAdam(ps, lr=1e-3), _torch_variants(torch.optim.RAdam, dict(lr=1e-3), False), 7),
}


def _adamp_refs() -> dict[str, tuple[Callable, dict[str, Callable], Floats]]:
    try:
        import adamp
    except ImportError:
        return {}
    return {
        "adamp": (
            lambda ps: AdamP(ps, lr=1e-3, weight_decay=1e-4),
            {"adamp package": lambda ps: adamp.AdamP(ps, lr=1e-3, weight_decay=1e-4)},
            (10, 7),
        ),
        "sgdp": (
            lambda ps: SGDP(ps, lr=0.01, momentum=0.9, weight_decay=1e-4),
            {"adamp package": lambda ps: adamp.SGDP(ps, lr=0.01, momentum=0.9, weight_decay=1e-4)},
            (8, 5),
        ),
    }


def floats_moved(floats: Floats, grads: list[torch.Tensor]) -> int:
    """Floats the update must read and write per step, summed over the tensors."""
    if isinstance(floats, int):
        return floats * sum(g.numel() for g in grads)
    return sum((floats[0] if g.dim() > 1 else floats[1]) * g.numel() for g in grads)


def _time(fn: Callable[[], None], steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def bench_one(
    make_ours: Callable, refs: dict[str, Callable], grads: list[torch.Tensor], repeats: int, steps: int
) -> dict[str, float]:
    """Median seconds per step of ours, each reference and a stream (a += b) over as many floats."""
    runs: dict[str, Callable[[], None]] = {}
    for label, make in {"ours": make_ours, **refs}.items():
        params = [torch.nn.Parameter(torch.randn_like(g) * 0.1) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g
        opt = make(params)
        opt.step()  # creates the state (and, for ours, builds or loads the kernels)
        runs[label] = opt.step
    a, b = torch.randn(sum(g.numel() for g in grads)), torch.randn(sum(g.numel() for g in grads))
    runs["stream"] = lambda: a.add_(b)  # reads a and b, writes a in place, as the optimizers do
    samples: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for label, fn in runs.items():
            samples[label].append(_time(fn, steps))
    return {k: statistics.median(v) for k, v in samples.items()}


def cold_build_seconds() -> float | None:
    """Seconds to compile the kernels into an empty cache (the first-use cost on a new machine)."""
    compiler = _native._compiler()
    if compiler is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        _native._build(compiler, Path(tmp) / "k.so")
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=3, help="steps per timed sample")
    ap.add_argument("--only", default="", help="comma-separated optimizer names")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    grads = [torch.randn(s) * 1e-2 for s in resnet18_shapes()]
    n = sum(g.numel() for g in grads)
    t0 = time.perf_counter()
    native = _native.available()
    load_s = time.perf_counter() - t0
    cold = cold_build_seconds() if native else None
    table = {**OPTIMIZERS, **_adamp_refs()}
    names = [s for s in args.only.split(",") if s] or list(table)
    cold_txt = "n/a" if cold is None else f"{cold:.2f} s"
    print(
        f"{len(grads)} tensors, {n:,} float32 params; {torch.get_num_threads()} threads; "
        f"fused kernels: {native} (first use in this process {load_s:.2f} s, cold compile {cold_txt})"
    )
    print(
        f"{'optimizer':10s} {'ours ms':>8s} {'torch ms':>9s} {'(impl)':16s} {'floor ms':>8s} "
        f"{'ours/torch':>10s} {'ours/floor':>10s} {'torch/floor':>11s}  floats/element"
    )
    results = {}
    for name in names:
        make_ours, refs, floats = table[name]
        med = bench_one(make_ours, refs, grads, args.repeats, args.steps)
        bandwidth = 3 * 4 * n / med["stream"]  # bytes read + written per second
        floor = floats_moved(floats, grads) * 4 / bandwidth
        best = min(refs, key=lambda k: med[k])
        row = dict(
            ours_ms=med["ours"] * 1e3,
            torch_ms=med[best] * 1e3,
            torch_impl=best,
            floor_ms=floor * 1e3,
            bandwidth_GBps=bandwidth / 1e9,
            vs_torch=med["ours"] / med[best],
            vs_floor=med["ours"] / floor,
            torch_vs_floor=med[best] / floor,
        )
        results[name] = row
        moved = str(floats) if isinstance(floats, int) else f"{floats[0]} (dim>1), {floats[1]}"
        print(
            f"{name:10s} {row['ours_ms']:8.1f} {row['torch_ms']:9.1f} {best:16s} {row['floor_ms']:8.1f} "
            f"{row['vs_torch']:10.2f} {row['vs_floor']:10.2f} {row['torch_vs_floor']:11.2f}  {moved}",
            flush=True,
        )
    print(
        "floor: the floats an update must read and write, x 4 bytes / stream bandwidth. AdamP and SGDP read a "
        "weight with dim > 1 twice:\n       its projection test sums over the whole weight before any element "
        "can be written (pass A: state + sums, pass B: project, write)."
    )
    summary = {
        "bench": "optim_step",
        "params": n,
        "tensors": len(grads),
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "fused_kernels": native,
        "kernel_cold_compile_s": cold,
        "median_bandwidth_GBps": round(statistics.median(r["bandwidth_GBps"] for r in results.values()), 2),
        "worst_ratio_vs_torch": max(r["vs_torch"] for r in results.values()),
        "worst_ratio_vs_floor": max(r["vs_floor"] for r in results.values()),
        "ratios_vs_torch": {k: round(r["vs_torch"], 3) for k, r in results.items()},
        "ratios_vs_floor": {k: round(r["vs_floor"], 3) for k, r in results.items()},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
