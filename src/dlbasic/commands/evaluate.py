"""`dlbasic eval`: test a trained checkpoint on a data split; metrics and a confusion-matrix plot."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from dlbasic.errors import check


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a checkpoint: accuracy, loss, confusion matrix",
                       description="Evaluate a trained model on a split of a data source. Prints accuracy and "
                                   "loss, and writes a confusion-matrix PNG.",
                       epilog="example: dlbasic eval --checkpoint runs/x/best.pt --data mnist5k --split test")
    p.add_argument("--checkpoint", type=Path, required=True, help="a best.pt or checkpoint.pt of dlbasic train")
    p.add_argument("--data", default=None, metavar="SPEC", help="data source (default: the one it was trained on)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="which split (default test)")
    p.add_argument("--seed", type=int, default=None, help="split seed (default: the training run's)")
    p.add_argument("--out", type=Path, default=None,
                   help="confusion-matrix PNG (default: confusion-<split>.png next to the checkpoint)")
    p.set_defaults(func=run)


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Tensor[K, K] counts; rows are true classes, columns predicted ones."""
    return torch.bincount(labels * num_classes + predictions, minlength=num_classes**2).view(num_classes, -1)


def run(args: argparse.Namespace) -> int:
    from dlbasic.data import load, normalize
    from dlbasic.report.plots import plot_confusion
    from dlbasic.training.run import model_from_checkpoint

    model, meta = model_from_checkpoint(args.checkpoint)
    cfg = meta.get("config", {})
    spec = args.data or meta.get("data", "mnist5k")
    data = load(spec, args.split, seed=cfg.get("seed", 0) if args.seed is None else args.seed,
                val_fraction=cfg.get("val_fraction", 0.1), test_fraction=cfg.get("test_fraction", 0.2),
                image_size=meta["input_size"])
    check(data.in_channels == meta["in_channels"],
          f"{spec} has {data.in_channels}-channel images but the model expects {meta['in_channels']}")
    check(data.num_classes <= meta["num_classes"],
          f"{spec} has {data.num_classes} classes but the model predicts {meta['num_classes']}")
    mean, std = torch.tensor(meta["mean"]), torch.tensor(meta["std"])  # the training run's statistics
    predictions, losses = [], []
    with torch.no_grad():
        for i in range(0, len(data), 1000):
            logits = model(normalize(data.images[i : i + 1000], mean, std))
            y = data.labels[i : i + 1000]
            losses.append(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
            predictions.append(logits.argmax(1))
    pred = torch.cat(predictions)
    matrix = confusion_matrix(data.labels, pred, meta["num_classes"])
    result = {"data": spec, "split": args.split, "images": len(data),
              "accuracy": (pred == data.labels).float().mean().item(),
              "loss": (torch.stack(losses).sum() / len(data)).item(),
              "per_class_accuracy": {c: (matrix[k, k] / matrix[k].sum().clamp(min=1)).item()
                                     for k, c in enumerate(meta["classes"])}}
    out = args.out or args.checkpoint.parent / f"confusion-{args.split}.png"
    plot_confusion(matrix.numpy(), meta["classes"], out, f"{meta['model']} on {spec} ({args.split})")
    print(json.dumps(result, indent=2))
    print(f"confusion matrix: {out}")
    return 0
