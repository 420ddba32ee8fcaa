"""FCN's fixed bilinear upsampler on channels-last bf16 activations: grouped kernel vs the dense form.

FCN's last upsampling is fixed and per channel (a transposed convolution with groups = C). oneDNN has no fast
grouped transposed convolution in NHWC, so `DepthwiseUpsample` runs it there as a dense one with a diagonal
weight. This compares, round-robin in one process (medians of --repeats), on the FCN-8s of
`benchmarks/fcn_scenes.py` (vgg11 at 1/4 width, backbone stride 8, 11 classes, 96x96, batch 32) trained as
`--precision auto` trains it on a bf16-capable CPU (bf16 autocast, channels-last):

1. the upsampler alone, forward + backward, on the activations it gets in the model;
2. a whole training step (forward, loss, backward, Adam) of the model with each upsampler.

    python benchmarks/fcn_upsample.py [--threads 2] [--repeats 15]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from dlbasic.models import create_model


def grouped_copy(model: nn.Module) -> nn.Module:
    """`model` with its fixed upsampler as a plain grouped `nn.ConvTranspose2d` holding the same weight."""
    other = copy.deepcopy(model)
    up = other.upsample
    plain = nn.ConvTranspose2d(
        up.in_channels, up.out_channels, up.kernel_size, up.stride, up.padding, groups=up.groups, bias=False
    )
    plain.weight = up.weight
    other.upsample = plain
    return other


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ours = create_model("fcn8s_vgg11", 11, 1, 96, stride=8)
    nets = {"grouped": grouped_copy(ours), "dense_nhwc": ours}
    nets = {k: n.to(memory_format=torch.channels_last) for k, n in nets.items()}
    x = torch.rand(32, 1, 96, 96).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 11, (32, 96, 96))

    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        outs = {k: n.eval()(x).float() for k, n in nets.items()}
    same = (outs["grouped"] - outs["dense_nhwc"]).abs().max().item()

    seen = {}
    hook = ours.upsample.register_forward_hook(lambda m, i, o: seen.setdefault("x", i[0].detach()))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours(x)
    hook.remove()
    activ = seen["x"]

    opts = {k: torch.optim.Adam(n.parameters(), 1e-3) for k, n in nets.items()}
    up_ms: dict[str, list[float]] = {k: [] for k in nets}
    step_ms: dict[str, list[float]] = {k: [] for k in nets}
    for r in range(args.repeats + 1):
        for k, n in nets.items():
            a = activ.clone().requires_grad_()
            t = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = n.upsample(a)
            out.float().sum().backward()
            if r:
                up_ms[k].append((time.perf_counter() - t) * 1e3)
            n.train()
            t = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = F.cross_entropy(n(x).float(), y)
            opts[k].zero_grad()
            loss.backward()
            opts[k].step()
            if r:  # the first round warms up
                step_ms[k].append((time.perf_counter() - t) * 1e3)
    up = {k: statistics.median(v) for k, v in up_ms.items()}
    step = {k: statistics.median(v) for k, v in step_ms.items()}
    print(f"FCN-8s, batch 32 at 96x96, bf16 autocast, channels-last, {args.threads} threads, medians of {args.repeats}")
    print(f"upsampler input {tuple(activ.shape)} {activ.dtype}; outputs of the two models differ by {same:.1e}")
    print(f"{'':12} {'grouped':>9} {'dense NHWC':>11} {'ratio':>7}")
    print(f"{'upsampler':12} {up['grouped']:8.1f}ms {up['dense_nhwc']:10.1f}ms {up['dense_nhwc'] / up['grouped']:7.2f}")
    print(
        f"{'train step':12} {step['grouped']:8.1f}ms {step['dense_nhwc']:10.1f}ms "
        f"{step['dense_nhwc'] / step['grouped']:7.2f}"
    )
    record = {"bench": "fcn_upsample", "threads": args.threads, "max_output_difference": same}
    record |= {f"upsampler_ms_{k}": round(v, 2) for k, v in up.items()}
    record |= {f"step_ms_{k}": round(v, 2) for k, v in step.items()}
    record["step_ratio"] = round(step["dense_nhwc"] / step["grouped"], 3)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
