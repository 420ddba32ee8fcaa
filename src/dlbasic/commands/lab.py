"""`dlbasic lab`: the main job. Until the studies land it runs a short training run on the embedded digits."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lab", help="run the lab and write its report",
                       description="Run the lab: measured studies of the course notebook's claims.")
    p.add_argument("--out", type=Path, default=None, help="results folder (default runs/lab-<time>)")
    p.add_argument("--epochs", type=int, default=3, help="epochs of the training run (default 3)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dlbasic.config import TrainConfig
    from dlbasic.training.run import train

    out = args.out or Path("runs") / f"lab-{time.strftime('%Y%m%d-%H%M%S')}"
    cfg = TrainConfig(data="mnist5k", model="simple_cnn", optimizer="adam", lr=1e-3, epochs=args.epochs)
    summary = train(cfg, out)
    print(f"test accuracy {summary['test_accuracy']:.4f} after {summary['epochs']} epochs "
          f"({summary['seconds']:.0f} s, {summary['images_per_second']:.0f} images/s)")
    print(f"results in {out}/ (summary.json, curves.png, metrics.jsonl, best.pt)")
    return 0
