"""Detection data in one representation, and what the readers of every format share.

Every reader returns a `DetectionSet`: images as float Tensor[C, H, W] in [0, 1] (sizes may differ),
and per image a target dict with `boxes` float32 Tensor[K, 4] xyxy in continuous pixel coordinates
(0 = left edge of the first pixel) and `labels` int64 Tensor[K] indexing `classes`.

Boxes that overlap the image but reach past its edges are clipped to it (as torchvision and
Ultralytics do). A box that lies entirely outside its image, has no width or height, has coordinates
that are not numbers, or names an undefined class is a `UserError` naming the file and the line (YOLO),
the object (VOC) or the annotation id (COCO).

An image that cannot be decoded completely (a truncated JPEG, for instance) is loaded as far as it
goes, with a warning naming the file; one that cannot be opened at all (or that is over PIL's
`Image.MAX_IMAGE_PIXELS` decompression-bomb limit) is skipped, warned about, and listed in
`DetectionSet.skipped`.

File names inside annotations (COCO's `file_name`, VOC's `<filename>` and split ids, the entries of a YOLO
list file) stay inside the dataset: an absolute path or a `..` that leaves the folder they are relative to is
refused before any file is opened (`check_inside`). Paths the user writes (a spec, `images=`, a dataset
YAML's `path:`) are the user's choice.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import UnidentifiedImageError
from torch import Tensor

from dlbasic.data.images import IMAGE_SUFFIXES, UNREADABLE, decode
from dlbasic.errors import UserError

SPLIT_NAMES = ("train", "val", "trainval", "test")  # the official splits a source can have


@dataclass
class DetectionSet:
    """Images with boxes and labels.

    Attributes:
        images: one float Tensor[C, H, W] in [0, 1] per image.
        targets: one dict per image: `boxes` Tensor[K, 4] xyxy pixels, `labels` int64 Tensor[K], and
            format-specific extras (`difficult`, `iscrowd`, `masks`).
        classes: class names; labels index this list.
        names: file name (or index) of each image.
        skipped: "path: reason" for each image that could not be read.
    """

    images: list[Tensor]
    targets: list[dict[str, Tensor]]
    classes: list[str]
    names: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)


def read_image(path: Path) -> Tensor | None:
    """Image file -> float Tensor[3, H, W] in [0, 1] (RGB); truncated files warn; None if unreadable."""
    try:
        try:
            array = decode(path, "RGB")
        except UnidentifiedImageError:
            raise
        except OSError as e:
            if "image file is truncated" not in str(e):  # PIL's words for a JPEG cut short
                raise
            warnings.warn(f"{path}: {e}; loaded the decodable part, the rest is grey", stacklevel=2)
            array = decode(path, "RGB", allow_truncated=True)
    except UNREADABLE as e:
        warnings.warn(f"{path}: cannot read image ({e}); skipped", stacklevel=2)
        return None
    return torch.from_numpy(array).permute(2, 0, 1).float().div_(255.0)


def one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def finite_number(value: object, where: str) -> float:
    """A finite float from annotation text or a JSON number; a `UserError` naming `where` otherwise."""
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{where} is {value!r}, not a number") from None
    if not math.isfinite(number):
        raise UserError(f"{where} is {value!r}, not a finite number")
    return number


def clip_to_image(
    boxes: list[list[float]], where: list[str], image: Tensor, name: str, hint: str | None = None
) -> Tensor:
    """Pixel xyxy boxes clipped to the image; a box with nothing inside it is a `UserError` naming its `where`."""
    h, w = image.shape[-2:]
    out = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    out[:, 0::2] = out[:, 0::2].clamp(0, w)
    out[:, 1::2] = out[:, 1::2].clamp(0, h)
    outside = ((out[:, 2] <= out[:, 0]) | (out[:, 3] <= out[:, 1])).nonzero().flatten().tolist()
    if outside:
        x1, y1, x2, y2 = boxes[outside[0]]
        raise UserError(
            f"{where[outside[0]]}: box at x {x1:g}..{x2:g}, y {y1:g}..{y2:g} (pixels) lies outside "
            f"the {w}x{h} image {name}",
            hint,
        )
    return out


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file") from None


def check_inside(name: str, where: str, folder: str = "the dataset folder") -> str:
    """`name`, a path relative to a dataset folder, unless it is absolute or its `..` parts leave the folder:
    then a `UserError` naming `where` (the file and the field that holds it)."""
    leaves = os.path.isabs(name) or bool(os.path.splitdrive(name)[0])
    depth = 0
    for part in name.replace("\\", "/").split("/"):
        depth += -1 if part == ".." else part not in ("", ".")
        leaves = leaves or depth < 0
    if leaves:
        raise UserError(
            f"{where}: {name!r} lies outside {folder}",
            "file names in annotations are relative to the dataset's folders; absolute paths and '..' are refused",
        )
    return name


def split_kind(token: str) -> str | None:
    """The official split a folder or file token names: 'train2017' -> 'train', 'valid' -> 'val', else None."""
    word = re.sub(r"[\d_\-]+$", "", token.lower())
    word = {"valid": "val", "validation": "val"}.get(word, word)
    return word if word in SPLIT_NAMES else None


def images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
