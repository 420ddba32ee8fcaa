"""`dlbasic predict`: classify image files with a trained checkpoint (top-k classes with probabilities)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from dlbasic.errors import check

if TYPE_CHECKING:
    pass


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `dlbasic predict` sub-command and its options to `sub`."""
    p = sub.add_parser(
        "predict",
        help="classify image files with a checkpoint",
        description="Classify images with a trained model: prints the top-k classes and "
        "their probabilities for every file. Images are converted to the model's "
        "channels and resized to its input size.",
        epilog="example: dlbasic predict --checkpoint runs/x/best.pt digit.png --top 3",
    )
    p.add_argument("images", nargs="+", type=Path, help="PNG/JPEG files")
    p.add_argument("--checkpoint", type=Path, required=True, help="a best.pt of dlbasic train")
    p.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    p.add_argument(
        "--invert",
        action="store_true",
        help="invert gray levels first (dark digits on white paper -> MNIST's white on black)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """`dlbasic predict`: print the top-k classes with probabilities for each image file; returns 0."""
    import torch

    from dlbasic.data import normalize
    from dlbasic.data.images import read_user_image
    from dlbasic.training.kinds import model_from_checkpoint

    check(args.top >= 1, f"--top must be at least 1, got {args.top}")
    model, meta = model_from_checkpoint(args.checkpoint, action="predict")
    x = torch.stack([read_user_image(p, meta["in_channels"], meta["input_size"], args.invert) for p in args.images])
    with torch.no_grad():
        probs = model(normalize(x, torch.tensor(meta["mean"]), torch.tensor(meta["std"]))).softmax(1)
    top = probs.topk(min(args.top, probs.shape[1]), dim=1)
    for path, p, i in zip(args.images, top.values, top.indices):
        ranked = ", ".join(f"{meta['classes'][k]} {v:.3f}" for v, k in zip(p.tolist(), i.tolist()))
        print(f"{path}: {ranked}")
    return 0
