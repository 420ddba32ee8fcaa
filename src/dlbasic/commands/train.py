"""`dlbasic train`: train a classifier on a data source and write a run folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dlbasic.commands._options import add_run_folder_options, run_config, training_parser
from dlbasic.config import TrainConfig

EXAMPLES = """examples:
  dlbasic train                                     # simple_cnn on the embedded MNIST digits, 5 epochs
  dlbasic train --optimizer sgd --lr 0.1 --batch-size full   # batch gradient descent
  dlbasic train --data idx:data/mnist --epochs 3 --run-dir runs/mnist
  dlbasic train --run-dir runs/mnist --resume       # continue an interrupted run exactly
  dlbasic train --run-dir runs/mnist --resume --epochs 10 --allow-changes epochs   # ... and extend it
exit codes: 0 done, 2 a mistake in the input (one line says which), 3 training diverged (the last finite
checkpoint is kept), 130 interrupted (a checkpoint is saved)
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `dlbasic train` sub-command and its options to `sub`."""
    p = training_parser(
        sub,
        "train",
        help="train a classifier and write a run folder",
        description="Train a classifier. Writes runs/<name>/ with config.yaml, metrics.jsonl, "
        "checkpoint.pt, best.pt, curves.png and summary.json.",
        epilog=EXAMPLES,
    )
    g = p.add_argument_group("run folder")
    g.add_argument("--run-dir", type=Path, default=None, help="where results go (default runs/<model>-<data>-<time>)")
    add_run_folder_options(g)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """`dlbasic train`: train (or `--resume`) a classifier into its run folder and print the summary; returns 0."""
    from dlbasic.preflight import check_classifier
    from dlbasic.training import distributed
    from dlbasic.training.run import default_run_dir, train

    cfg = run_config(args)
    check_classifier(cfg)
    run_dir = args.run_dir or default_run_dir(cfg)
    if not args.run_dir:  # every process of a torchrun launch must agree on the folder
        run_dir = distributed.broadcast(run_dir) if distributed.setup(torch_device(cfg)) else run_dir
    try:
        summary = train(
            cfg, run_dir, resume=args.resume, overwrite=args.overwrite, progress=False if args.no_progress else None
        )
    finally:
        distributed.cleanup()
    if distributed.is_main():
        shown = {k: v for k, v in summary.items() if k not in ("history", "model")}
        print(json.dumps(shown, indent=2))
        print(f"results in {run_dir}/ (summary.json, curves.png, best.pt)")
    return 0


def torch_device(cfg: TrainConfig):
    """The torch device `cfg.device` resolves to ('auto' picks the best available)."""
    from dlbasic.training.device import resolve_device

    return resolve_device(cfg.device)
