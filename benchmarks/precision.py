"""The CPU speed defaults (`--precision auto`: bf16 autocast + channels-last) against plain fp32.

For each model and seed, `dlbasic.training.run.train` runs twice on the same data, seed and
schedule: once with `precision="fp32", channels_last=False` and once with the defaults
(`precision="auto", channels_last=None`, which resolve to bf16 + channels-last for conv nets on
a CPU with AVX512-BF16 or AMX, and to fp32 elsewhere). Prints training images/s (median over
seeds), the speed-up, and test accuracy (mean and spread over seeds). The accuracy counts as
unchanged when the mean difference is within 0.005 or within two standard errors of the
difference (seed-to-seed spread).

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

MODES = {"fp32": dict(precision="fp32", channels_last=False), "auto": dict(precision="auto", channels_last=None)}


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
    print(
        f"{'model':<11} {'auto =':<16} {'fp32 img/s':>10} {'auto img/s':>10} {'speed-up':>8} "
        f"{'fp32 acc':>14} {'auto acc':>14} {'unchanged':>9}"
    )
    results = {}
    for model in [m for m in args.models.split(",") if m]:
        runs = {mode: [run(model, s, args.epochs, args.data, mode) for s in seeds] for mode in MODES}
        speed = {m: statistics.median(r["images_per_s"] for r in rs) for m, rs in runs.items()}
        acc = {m: [r["accuracy"] for r in rs] for m, rs in runs.items()}
        diff = statistics.mean(acc["auto"]) - statistics.mean(acc["fp32"])
        se = math.sqrt(sum(statistics.pvariance(a) / len(a) for a in acc.values())) if len(seeds) > 1 else 0.0
        same = abs(diff) <= max(0.005, 2 * se)
        resolved = f"{runs['auto'][0]['precision']}{' + NHWC' if runs['auto'][0]['channels_last'] else ''}"
        row = {
            "resolved": resolved,
            "fp32_images_per_s": round(speed["fp32"], 1),
            "auto_images_per_s": round(speed["auto"], 1),
            "speedup": round(speed["auto"] / speed["fp32"], 3),
            "fp32_accuracy": acc["fp32"],
            "auto_accuracy": acc["auto"],
            "accuracy_diff": round(diff, 4),
            "unchanged": same,
        }
        results[model] = row
        fmt = lambda a: f"{statistics.mean(a):.4f}±{(statistics.stdev(a) if len(a) > 1 else 0):.4f}"  # noqa: E731
        print(
            f"{model:<11} {resolved:<16} {speed['fp32']:10.0f} {speed['auto']:10.0f} {row['speedup']:8.2f} "
            f"{fmt(acc['fp32']):>14} {fmt(acc['auto']):>14} {same!s:>9}",
            flush=True,
        )
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
