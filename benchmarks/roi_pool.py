"""RoI max pooling and RoI Align, forward + backward: ours (pure PyTorch) vs torchvision.ops (C++ kernels).

The inputs: 16 feature maps of 1,024 channels at 12 x 12 cells (a stride-8 backbone on 96 px images, at a
ResNet's width), 128 regions of 8-48 pixels, 4 x 4 bins. Round-robin, medians of
--repeats; needs torchvision for the reference (install the torch/torchvision pair that matches; without it
only our times are printed).

    python benchmarks/roi_pool.py [--threads 1] [--repeats 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from dlbasic.nn.pooling import roi_align, roi_pool


def inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 1024, 12, 12, generator=g).clamp(min=0)  # ReLU features: many ties at 0
    xy = torch.rand(128, 2, generator=g) * 70
    wh = torch.rand(128, 2, generator=g) * 40 + 8
    rois = torch.cat([torch.randint(0, 16, (128, 1), generator=g).float(), xy, xy + wh], 1)
    return x, rois


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import torchvision.ops as tv
    except ImportError:
        tv = None
    x, rois = inputs()
    ops = {"roi_pool": {"ours": lambda t: roi_pool(t, rois, 4, 1 / 8)}, "roi_align": {}}
    ops["roi_align"]["ours"] = lambda t: roi_align(t, rois, 4, 1 / 8, 2)
    if tv is not None:
        ops["roi_pool"]["torchvision"] = lambda t: tv.roi_pool(t, rois, 4, 1 / 8)
        ops["roi_align"]["torchvision"] = lambda t: tv.roi_align(t, rois, 4, 1 / 8, 2)
    upstream = torch.randn(128, 1024, 4, 4, generator=torch.Generator().manual_seed(1))

    def step(fn):
        t = x.clone().requires_grad_()
        out = fn(t)
        out.backward(upstream)
        return out.detach(), t.grad

    record = {"bench": "roi_pool", "threads": args.threads}
    print(f"forward + backward, x {tuple(x.shape)}, {len(rois)} regions, 4x4 bins, {args.threads} thread(s)")
    for op, impls in ops.items():
        if len(impls) == 2:
            (a, ga), (b, gb) = (step(f) for f in impls.values())
            record[f"{op}_max_difference"] = max((a - b).abs().max().item(), (ga - gb).abs().max().item())
        times: dict[str, list[float]] = {k: [] for k in impls}
        for r in range(args.repeats + 1):
            for k, fn in impls.items():
                start = time.perf_counter()
                step(fn)
                if r:  # the first round warms up
                    times[k].append((time.perf_counter() - start) * 1e3)
        ms = {k: statistics.median(v) for k, v in times.items()}
        line = f"{op:10} ours {ms['ours']:7.1f} ms"
        if "torchvision" in ms:
            ratio = ms["ours"] / ms["torchvision"]
            line += f"   torchvision {ms['torchvision']:7.1f} ms   ours / torchvision {ratio:5.2f}"
            line += f"   max |difference| {record[f'{op}_max_difference']:.1e}"
            record[f"{op}_ratio"] = round(ratio, 3)
        print(line)
        record |= {f"{op}_ms_{k}": round(v, 2) for k, v in ms.items()}
    print(json.dumps(record))


if __name__ == "__main__":
    main()
