"""`dlbasic predict`: classify image files with a trained checkpoint (top-k classes with probabilities)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from dlbasic.errors import UserError, check

if TYPE_CHECKING:
    import torch


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="classify image files with a checkpoint",
                       description="Classify images with a trained model: prints the top-k classes and "
                                   "their probabilities for every file. Images are converted to the model's "
                                   "channels and resized to its input size.",
                       epilog="example: dlbasic predict --checkpoint runs/x/best.pt digit.png --top 3")
    p.add_argument("images", nargs="+", type=Path, help="PNG/JPEG files")
    p.add_argument("--checkpoint", type=Path, required=True, help="a best.pt of dlbasic train")
    p.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    p.add_argument("--invert", action="store_true",
                   help="invert gray levels first (dark digits on white paper -> MNIST's white on black)")
    p.set_defaults(func=run)


def read_image(path: Path, channels: int, size: int, invert: bool) -> torch.Tensor:
    """One image file -> Tensor[C, size, size] in [0, 1]."""
    import torch

    x = torch.from_numpy(decode_image(path, "L" if channels == 1 else "RGB", size))
    x = x.unsqueeze(0) if x.dim() == 2 else x.permute(2, 0, 1)
    return 1.0 - x if invert else x


def decode_image(path: Path, mode: str, size: int | None = None):
    """An image file the user named as a float32 array in [0, 1] (H, W) or (H, W, 3), converted to `mode`
    ("L" or "RGB") and resized to size x size when `size` is given.

    A file that cannot be read, decoded or held in memory is one `UserError`; images over PIL's
    `Image.MAX_IMAGE_PIXELS` (decompression bombs) are refused, not decoded.
    """
    import numpy as np
    from PIL import Image

    from dlbasic.data.folder import UNREADABLE, open_image

    try:
        with open_image(path) as im:
            im = im.convert(mode)
            if size is not None:
                im = im.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise UserError(f"no such image: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, not an image", "name the image files") from None
    except MemoryError:
        raise UserError(f"image {path} is too large to hold in memory", "use a smaller image") from None
    except UNREADABLE as e:
        raise UserError(f"cannot read image {path}: {' '.join(str(e).split())}") from None


def run(args: argparse.Namespace) -> int:
    import torch

    from dlbasic.data import normalize
    from dlbasic.training.run import model_from_checkpoint

    check(args.top >= 1, f"--top must be at least 1, got {args.top}")
    model, meta = model_from_checkpoint(args.checkpoint, action="predict")
    x = torch.stack([read_image(p, meta["in_channels"], meta["input_size"], args.invert) for p in args.images])
    with torch.no_grad():
        probs = model(normalize(x, torch.tensor(meta["mean"]), torch.tensor(meta["std"]))).softmax(1)
    top = probs.topk(min(args.top, probs.shape[1]), dim=1)
    for path, p, i in zip(args.images, top.values, top.indices):
        ranked = ", ".join(f"{meta['classes'][k]} {v:.3f}" for v, k in zip(p.tolist(), i.tolist()))
        print(f"{path}: {ranked}")
    return 0
