"""RoI max pooling and RoI Align: ours compiled (native), ours in torch ops (reference) and torchvision.ops (C++).

Cases (float32, ReLU-like features with many ties at 0):

* issue: 16 maps of 1,024 channels at 12 x 12 cells (a stride-8 backbone on 96 px images, at a ResNet's width),
  128 regions of 8-48 pixels, 4 x 4 bins, spatial scale 1/8; roi_align with 2 x 2 samples, aligned=False.
* train: a Fast/Faster R-CNN training step of benchmarks/detectors.py: 16 images of 96 px, `SmallBackbone`
  (64 channels, stride 4: 24 x 24 cells), 64 sampled regions per image (1,024), 4 x 4 bins, scale 1/4;
  roi_align as `RoIPooler("align")` calls it (2 x 2 samples, aligned=True).
* fast_infer / faster_infer: one image at a time, as detectors.py times inference: 300 selective-search
  proposals (Fast R-CNN) or the RPN's 50 (Faster R-CNN) on one 64 x 24 x 24 map.

Each case is timed forward + backward (`fwd+bwd`) and, for the inference ones, forward alone under no_grad
(`fwd`), at each of --threads. Round-robin over the implementations in one process, --repeats samples each
(a sample repeats a call until it lasts --sample-ms), medians. torchvision only where it imports (install the
torch/torchvision pair that matches); the bar is native / torchvision <= 1.2.

    python benchmarks/roi_pool.py [--threads 1,2] [--repeats 9] [--sample-ms 20]

The last line is one JSON object: milliseconds per call, ratios and the largest differences to the reference.
Measured on a shared 2-core AMD EPYC under load (torch 2.14.1, torchvision 0.29.1, --repeats 9, two runs): native
/ torchvision 0.09-0.62 at 1 thread (worst: the issue's roi_pool), 0.02-0.50 at 2; roi_pool equal bit for bit.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable

import torch

from dlbasic.nn import _roi_kernels
from dlbasic.nn.pooling import roi_align, roi_align_torch, roi_pool, roi_pool_torch


def features(n: int, c: int, size: int, g: torch.Generator) -> torch.Tensor:
    return torch.randn(n, c, size, size, generator=g).clamp(min=0)  # ReLU features: many ties at 0


def regions(k: int, images: int, image_px: float, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    wh = torch.rand(k, 2, generator=g) * (hi - lo) + lo
    xy = torch.rand(k, 2, generator=g) * (image_px - wh)
    batch = torch.arange(k) * images // k  # sorted by image, as a list of per-image boxes gives them
    return torch.cat([batch[:, None].float(), xy, xy + wh], 1)


CASES = {  # name: (x, rois, spatial scale, roi_align's aligned, modes)
    "issue": lambda g: (features(16, 1024, 12, g), regions(128, 16, 96, 8, 48, g), 1 / 8, False, ("fwd+bwd",)),
    "train": lambda g: (features(16, 64, 24, g), regions(1024, 16, 96, 8, 64, g), 1 / 4, True, ("fwd+bwd",)),
    "fast_infer": lambda g: (features(1, 64, 24, g), regions(300, 1, 96, 8, 64, g), 1 / 4, True, ("fwd+bwd", "fwd")),
    "faster_infer": lambda g: (features(1, 64, 24, g), regions(50, 1, 96, 8, 64, g), 1 / 4, True, ("fwd+bwd", "fwd")),
}


def implementations(tv) -> dict[str, dict[str, Callable]]:
    ops = {
        "roi_pool": {"native": roi_pool, "torch": roi_pool_torch},
        "roi_align": {"native": roi_align, "torch": roi_align_torch},
    }
    if tv is not None:
        ops["roi_pool"]["torchvision"] = tv.roi_pool
        ops["roi_align"]["torchvision"] = tv.roi_align
    return ops


def runner(op: str, fn: Callable, x, rois, scale, aligned, mode, upstream) -> Callable[[], tuple]:
    leaf = x.clone().requires_grad_()
    args = (4, scale) if op == "roi_pool" else (4, scale, 2, aligned)

    def fwd_bwd() -> tuple:
        leaf.grad = None
        out = fn(leaf, rois, *args)
        out.backward(upstream)
        return out.detach(), leaf.grad

    def fwd() -> tuple:
        with torch.no_grad():
            return fn(x, rois, *args), None

    return fwd_bwd if mode == "fwd+bwd" else fwd


def max_difference(a: tuple, b: tuple) -> float:
    return max((u - v).abs().max().item() for u, v in zip(a, b) if u is not None)


def time_round_robin(runs: dict[str, Callable], repeats: int, sample_ms: float) -> dict[str, float]:
    """Median milliseconds per call of each run; a sample repeats a call until it lasts about `sample_ms`."""
    inner = {}
    for name, fn in runs.items():
        fn()  # warm-up (and the kernels' first-use build)
        start = time.perf_counter()
        fn()
        inner[name] = max(1, math.ceil(sample_ms / 1e3 / max(time.perf_counter() - start, 1e-6)))
    samples: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            samples[name].append((time.perf_counter() - start) * 1e3 / inner[name])
    return {k: statistics.median(v) for k, v in samples.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--sample-ms", type=float, default=20.0)
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    args = p.parse_args()
    try:
        import torchvision.ops as tv
    except ImportError:
        tv = None
    if not _roi_kernels.available():
        print("the compiled RoI kernels are unavailable here: 'native' runs the torch versions")
    threads = [int(t) for t in args.threads.split(",")]
    record: dict = {"bench": "roi_pool", "threads": threads, "repeats": args.repeats, "torch": torch.__version__}
    record["torchvision"] = tv is not None
    head = f"{'case':13}{'op':10}{'mode':8}{'thr':>4}{'native ms':>11}{'torch ms':>10}{'tv ms':>9}"
    print(head + f"{'native/tv':>11}{'torch/native':>14}")
    ratios = []
    for case in args.cases.split(","):
        x, rois, scale, aligned, modes = CASES[case](torch.Generator().manual_seed(0))
        for op, impls in implementations(tv).items():
            for mode in modes:
                upstream = torch.randn(len(rois), x.shape[1], 4, 4, generator=torch.Generator().manual_seed(1))
                runs = {k: runner(op, fn, x, rois, scale, aligned, mode, upstream) for k, fn in impls.items()}
                key = f"{case}_{op}_{mode.replace('+', '_')}"
                results = {k: fn() for k, fn in runs.items()}
                record[f"{key}_max_diff_torch"] = max_difference(results["native"], results["torch"])
                if "torchvision" in results:
                    record[f"{key}_max_diff_tv"] = max_difference(results["native"], results["torchvision"])
                for nt in threads:
                    torch.set_num_threads(nt)
                    ms = time_round_robin(runs, args.repeats, args.sample_ms)
                    line = f"{case:13}{op:10}{mode:8}{nt:4d}{ms['native']:11.3f}{ms['torch']:10.3f}"
                    line += f"{ms['torchvision']:9.3f}" if "torchvision" in ms else f"{'-':>9}"
                    entry = {f"ms_{k}": round(v, 4) for k, v in ms.items()}
                    if "torchvision" in ms:
                        entry["native_over_tv"] = round(ms["native"] / ms["torchvision"], 3)
                        ratios.append(entry["native_over_tv"])
                        line += f"{entry['native_over_tv']:11.2f}"
                    else:
                        line += f"{'-':>11}"
                    entry["torch_over_native"] = round(ms["torch"] / ms["native"], 2)
                    print(line + f"{entry['torch_over_native']:14.1f}", flush=True)
                    record[f"{key}_t{nt}"] = entry
    if ratios:
        record["worst_native_over_tv"] = max(ratios)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
