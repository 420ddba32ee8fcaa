"""Image folders: one sub-folder per class of PNG/JPEG files (`DIR/train`, `DIR/test` when present).

Files that cannot be read (empty, truncated, not an image, or over PIL's `Image.MAX_IMAGE_PIXELS`
decompression-bomb limit) are skipped with a warning naming them.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from dlbasic.data.sources import RawSource, require_path, sources
from dlbasic.errors import UserError, check

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
# what opening or decoding a bad image file raises inside `open_image`
UNREADABLE = (UnidentifiedImageError, OSError, Image.DecompressionBombError, Image.DecompressionBombWarning)


@contextlib.contextmanager
def open_image(path: Path) -> Iterator[Image.Image]:
    """`Image.open`, but an image over PIL's `MAX_IMAGE_PIXELS` raises (PIL only warns up to twice the limit)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            yield im


def class_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_image(path: Path, mode: str, size: int) -> np.ndarray | None:
    """Load, convert to `mode` ('L' or 'RGB') and resize to size x size; None (with a warning) if unreadable."""
    try:
        with open_image(path) as im:
            im = im.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except UNREADABLE as e:
        warnings.warn(f"skipping unreadable image {path}: {e}", stacklevel=2)
        return None


def read_folder(root: Path, classes: list[str], size: int, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for label, name in enumerate(classes):
        d = root / name
        if not d.is_dir():
            continue
        for p in sorted(d.iterdir()):
            if p.suffix.lower() in IMAGE_SUFFIXES and (a := read_image(p, mode, size)) is not None:
                images.append(a)
                labels.append(label)
    check(bool(images), f"no readable images under {root}", "expected DIR/<class>/<image>.png")
    x = torch.from_numpy(np.stack(images))
    x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)
    return x.contiguous().float().div_(255.0), torch.tensor(labels, dtype=torch.long)


def _mode(root: Path) -> str:
    """'L' when every sampled image is grayscale, else 'RGB'."""
    sample = [p for d in class_folders(root) for p in sorted(d.iterdir())[:5] if p.suffix.lower() in IMAGE_SUFFIXES]
    modes = set()
    for p in sample:
        try:
            with open_image(p) as im:
                modes.add(im.mode)
        except UNREADABLE:
            pass
    return "L" if modes and modes <= {"L", "1", "I", "I;16"} else "RGB"


@sources.register("folder")
def folder(arg: str | None, image_size: int = 32) -> RawSource:
    """`folder:DIR`: classes are DIR's sub-folders (or DIR/train's, with DIR/test as the test set)."""
    root = Path(require_path("folder", arg, "folder", "data/pets")).expanduser()
    check(root.is_dir(), f"no such folder: {root}")
    train_root = root / "train" if (root / "train").is_dir() else root
    classes = [p.name for p in class_folders(train_root)]
    if not classes:
        raise UserError(f"{train_root} has no class sub-folders", "expected DIR/<class>/<image>.png")
    mode = _mode(train_root)
    pools = {"train": read_folder(train_root, classes, image_size, mode)}
    found = [classes[i] for i in pools["train"][1].unique().tolist()]
    check(len(found) >= 2, f"{train_root}: only the class {found[0]!r} has images, so there is nothing to classify",
          "put each class's images in a sub-folder of its own, DIR/<class>/<image>.png, two classes at least")
    if train_root is not root and (root / "test").is_dir():
        pools["test"] = read_folder(root / "test", classes, image_size, mode)
    return RawSource(pools, classes)
