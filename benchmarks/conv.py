"""im2col conv2d (dlbasic.nn.conv) vs F.conv2d, forward, float32 on CPU, in one process.

Round-robin over shapes and implementations for --repeats rounds (these machines drift ±30 % between
runs), medians per case; the ratio is ours / torch (goal <= 3x for the readable reference).

    python benchmarks/conv.py --repeats 7

Prints a table and, as its last line, one JSON object {"bench": "conv", ...}.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F

from dlbasic.nn.conv import conv2d

# name: (batch, in, out, side, kernel, stride, padding, groups): layers of the zoo's small and big nets
CASES = {
    "resnet 3x3 64@56": (8, 64, 64, 56, 3, 1, 1, 1),
    "alexnet conv1 11x11/4": (8, 3, 64, 224, 11, 4, 2, 1),
    "resnet 1x1 256->64 @56": (8, 256, 64, 56, 1, 1, 0, 1),
    "vgg-small 3x3 32@14": (64, 32, 64, 14, 3, 1, 1, 1),
    "alexnet_2012 conv2 5x5 g2": (8, 96, 256, 27, 5, 1, 2, 2),
    "stride 2 3x3 128@28": (8, 128, 256, 28, 3, 2, 1, 1),
}


def timed(fn, *args, **kw) -> float:
    start = time.perf_counter()
    fn(*args, **kw)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    inputs = {}
    for name, (b, c, o, n, k, s, pad, g) in CASES.items():
        x = torch.randn(b, c, n, n, generator=gen)
        w = torch.randn(o, c // g, k, k, generator=gen)
        bias = torch.randn(o, generator=gen)
        kw = dict(stride=s, padding=pad, groups=g)
        torch.testing.assert_close(conv2d(x, w, bias, **kw), F.conv2d(x, w, bias, **kw), rtol=1e-4, atol=1e-3)
        inputs[name] = (x, w, bias, kw)
    times: dict[str, dict[str, list[float]]] = {n: {"ours": [], "torch": []} for n in CASES}
    with torch.no_grad():
        for _ in range(args.repeats):  # round-robin: every case and both implementations per round
            for name, (x, w, bias, kw) in inputs.items():
                times[name]["torch"].append(timed(F.conv2d, x, w, bias, **kw))
                times[name]["ours"].append(timed(conv2d, x, w, bias, **kw))
    print(f"{'case':<28} {'torch ms':>9} {'ours ms':>9} {'ratio':>6}")
    ratios = {}
    for name, t in times.items():
        ref, ours = statistics.median(t["torch"]), statistics.median(t["ours"])
        ratios[name] = round(ours / ref, 2)
        print(f"{name:<28} {ref * 1e3:>9.2f} {ours * 1e3:>9.2f} {ratios[name]:>6.2f}")
    geomean = math.exp(statistics.fmean(math.log(r) for r in ratios.values()))
    print(
        json.dumps(
            {
                "bench": "conv",
                "repeats": args.repeats,
                "threads": torch.get_num_threads(),
                "geomean_ratio_vs_torch": round(geomean, 2),
                "worst_ratio_vs_torch": max(ratios.values()),
                "goal": 3.0,
                "ratios": ratios,
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
