"""The CPU speed defaults against plain fp32 in contiguous memory.

For each model and seed, `dlbasic.training.run.train` runs three times on the same data, seed and
schedule: plain fp32 (`precision="fp32", channels_last=False`); fp32 with the default memory format
(`channels_last=None`: NHWC for conv nets on a CPU); and the full defaults (`precision="auto",
channels_last=None`: bf16 autocast on a CPU with AVX512-BF16 or AMX, fp32 elsewhere; NHWC for conv
nets). Prints training images/s of plain fp32 (median over seeds), each default's speed-up over it,
and its test-accuracy difference, which counts as unchanged when it is within 0.005 or within two
standard errors (seed-to-seed spread).

    python benchmarks/precision.py [--models simple_cnn,resnet18,mnist_fast,mlp] [--seeds 0,1,2] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics

import torch

from dlbasic.config import TrainConfig
from dlbasic.training.device import native_bf16
from dlbasic.training.run import train

MODES = {
    "fp32": dict(precision="fp32", channels_last=False),
    "fp32-nhwc": dict(precision="fp32", channels_last=None),  # the fp32 default: NHWC for conv nets on a CPU
    "auto": dict(precision="auto", channels_last=None),
}


def run(model: str, seed: int, epochs: int, data: str, mode: str) -> dict:
    cfg = TrainConfig(
        data=data,
        model=model,
        optimizer="adam",
        lr=1e-3,
        epochs=epochs,
        batch_size=64,
        scheduler="cosine",
        seed=seed,
        device="cpu",
        **MODES[mode],
    )
    s = train(cfg, None, progress=False)
    return {
        "accuracy": s["test_accuracy"],
        "images_per_s": s["images_per_second"],
        "precision": s["precision"],
        "channels_last": s["channels_last"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="simple_cnn,resnet18,mnist_fast,mlp")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--data", default="mnist5k")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"native bf16 on this CPU: {native_bf16(torch.device('cpu'))}; {torch.get_num_threads()} threads")
    print(f"{'':<11} {'fp32':>8}   {'fp32 default (NHWC for conv nets)':<34} {'--precision auto':<34}")
    print(f"{'model':<11} {'img/s':>8}   " + "   ".join([f"{'=':<12} {'speed':>6} {'acc diff':>8} {'same':>5}"] * 2))
    results = {}
    for model in [m for m in args.models.split(",") if m]:
        runs = {mode: [run(model, s, args.epochs, args.data, mode) for s in seeds] for mode in MODES}
        speed = {m: statistics.median(r["images_per_s"] for r in rs) for m, rs in runs.items()}
        acc = {m: [r["accuracy"] for r in rs] for m, rs in runs.items()}
        row = {"fp32_images_per_s": round(speed["fp32"], 1), "fp32_accuracy": acc["fp32"]}
        cells = []
        for mode in ("fp32-nhwc", "auto"):
            diff = statistics.mean(acc[mode]) - statistics.mean(acc["fp32"])
            se = math.sqrt(sum(statistics.pvariance(acc[m]) / len(seeds) for m in (mode, "fp32")))
            first = runs[mode][0]
            row[mode] = {
                "resolved": f"{first['precision']}{' + NHWC' if first['channels_last'] else ''}",
                "images_per_s": round(speed[mode], 1),
                "speedup": round(speed[mode] / speed["fp32"], 3),
                "accuracy": acc[mode],
                "accuracy_diff": round(diff, 4),
                "unchanged": abs(diff) <= max(0.005, 2 * se),
            }
            r = row[mode]
            cells.append(f"{r['resolved']:<12} {r['speedup']:5.2f}x {diff:+8.4f} {r['unchanged']!s:>5}")
        results[model] = row
        print(f"{model:<11} {speed['fp32']:8.0f}   " + "   ".join(cells), flush=True)
    print(
        json.dumps(
            {
                "bench": "precision",
                "epochs": args.epochs,
                "seeds": seeds,
                "data": args.data,
                "threads": torch.get_num_threads(),
                "native_bf16": native_bf16(torch.device("cpu")),
                "models": results,
            }
        )
    )


if __name__ == "__main__":
    main()
