"""Greedy NMS: our compiled kernel, our torch version (its fallback) and torchvision.ops.nms, same boxes.

Cases: the RPN's proposals of the Faster R-CNN benchmark (600 boxes per image, IoU 0.7, random boxes of 96 px
scenes), a class-aware call (batched_nms, 3,000 boxes in 10 classes, IoU 0.5) and 5,000 boxes at IoU 0.5 and 0.7.
Each case checks that the three agree (kept indices; for batched_nms, torchvision's batched_nms on whole-pixel
boxes), then times them round-robin (the order rotating each round), `--repeats` rounds of `--calls` calls each;
medians, and each time as a ratio to torchvision's measured in the same run.

    python benchmarks/nms.py [--repeats 15] [--threads 1]

torchvision is optional (without it only our two paths are timed).
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import time

import torch

from dlbasic.detection.ops import _nms_kernel
from dlbasic.detection.ops.nms import batched_nms, nms

nms_module = importlib.import_module("dlbasic.detection.ops.nms")


def boxes_for(n: int, extent: float, size: float, g: torch.Generator) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=g) * extent
    return torch.cat([xy, xy + 4 + torch.rand(n, 2, generator=g) * size], 1).round()


def torch_version(boxes, scores, classes, thr):
    """Our nms with the kernel switched off: the torch version, as without a compiler."""
    saved = _nms_kernel.keep_mask
    _nms_kernel.keep_mask = lambda *args: None
    try:
        return nms(boxes, scores, thr) if classes is None else batched_nms(boxes, scores, classes, thr)
    finally:
        _nms_kernel.keep_mask = saved


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import torchvision.ops as tv
    except ImportError:
        tv = None
    if not _nms_kernel.available():
        raise SystemExit("no NMS kernel here (no C++ compiler, or DLBASIC_NO_NATIVE=1)")
    g = torch.Generator().manual_seed(0)
    cases = {
        "rpn 600 @0.7": (boxes_for(600, 90, 40, g), None, 0.7),
        "batched 3000 x 10 classes @0.5": (boxes_for(3000, 90, 40, g), torch.randint(0, 10, (3000,), generator=g), 0.5),
        "5000 @0.5": (boxes_for(5000, 400, 60, g), None, 0.5),
        "5000 @0.7": (boxes_for(5000, 400, 60, g), None, 0.7),
    }
    rows = []
    for name, (boxes, classes, thr) in cases.items():
        scores = torch.randperm(len(boxes), generator=g).float()  # distinct
        runs = {
            "kernel": lambda b=boxes, s=scores, c=classes, t=thr: (
                nms(b, s, t) if c is None else batched_nms(b, s, c, t)
            ),
            "torch": lambda b=boxes, s=scores, c=classes, t=thr: torch_version(b, s, c, t),
        }
        if tv is not None:
            runs["torchvision"] = lambda b=boxes, s=scores, c=classes, t=thr: (
                tv.nms(b, s, t) if c is None else tv.batched_nms(b, s, c, t)
            )
        kept = {k: f() for k, f in runs.items()}
        for k, v in kept.items():
            assert torch.equal(v, kept["kernel"]), f"{name}: {k} keeps other boxes"
        times = {k: [] for k in runs}
        names = list(runs)
        for r in range(args.repeats):
            for k in names[r % len(names) :] + names[: r % len(names)]:
                start = time.perf_counter()
                for _ in range(args.calls):
                    runs[k]()
                times[k].append((time.perf_counter() - start) / args.calls)
        med = {k: statistics.median(v) for k, v in times.items()}
        ref = med.get("torchvision")
        parts = [f"{k} {1e6 * v:.0f} us" + (f" ({v / ref:.2f}x)" if ref else "") for k, v in med.items()]
        print(f"{name}: kept {len(kept['kernel'])} of {len(boxes)}; " + ", ".join(parts), flush=True)
        row = {"case": name, "kept": len(kept["kernel"]), **{f"{k}_us": round(1e6 * v, 1) for k, v in med.items()}}
        if ref:
            row.update({f"{k}_ratio": round(v / ref, 3) for k, v in med.items()})
        rows.append(row)
    print(json.dumps({"bench": "nms", "threads": args.threads, "repeats": args.repeats, "rows": rows}))


if __name__ == "__main__":
    main()
