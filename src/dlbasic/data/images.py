"""Reading image files: the one reader behind every source and command.

`decode` opens a file with PIL, converts it to a mode and optionally resizes it, returning a uint8
array (H, W) or (H, W, 3). Images over PIL's `Image.MAX_IMAGE_PIXELS` (decompression bombs) are
refused, not decoded; PIL itself only warns up to twice that limit. Sources that skip bad files
catch `UNREADABLE`; `read_user_image` is the same reader for a file the user named, where every
failure is one `UserError`.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from dlbasic.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")  # in the order tried
# what opening or decoding a bad image file raises inside `open_image`
UNREADABLE = (UnidentifiedImageError, OSError, Image.DecompressionBombError, Image.DecompressionBombWarning)
GRAY_MODES = ("L", "1", "I", "I;16")  # PIL modes of single-channel images
RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "nearest": Image.Resampling.NEAREST}


@contextlib.contextmanager
def open_image(path: str | Path) -> Iterator[Image.Image]:
    """`Image.open`, but an image over PIL's `MAX_IMAGE_PIXELS` raises (PIL only warns up to twice the limit)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            yield im


def gray_or_rgb(im: Image.Image) -> str:
    """'L' for a single-channel image, else 'RGB': the mode a dataset of such images is read in."""
    return "L" if im.mode in GRAY_MODES else "RGB"


def decode(
    path: str | Path,
    mode: str | None = "RGB",
    size: int | None = None,
    *,
    resample: str = "bilinear",
    allow_truncated: bool = False,
) -> np.ndarray:
    """uint8 (H, W) for mode 'L' or (H, W, 3) for 'RGB' (None: 'L' or 'RGB' as the file is), resized to
    size x size when `size` is given; raises one of `UNREADABLE`.

    `allow_truncated` decodes what a file cut short holds (PIL fills the rest with grey). PIL's warnings
    (such as "Palette images with Transparency ...") are warned again once each, prefixed with the file's path.
    """
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = allow_truncated
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with open_image(path) as im:
                im = im.convert(mode or gray_or_rgb(im))
                if size is not None:
                    im = im.resize((size, size), RESAMPLE[resample])
                array = np.array(im, dtype=np.uint8)  # a writable copy
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
    for category, text in dict.fromkeys((w.category, " ".join(str(w.message).split())) for w in caught):
        warnings.warn(f"{path}: {text}", category, stacklevel=2)
    return array


def channels_first(array: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, C) -> (C, H, W)."""
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def read_user_image(path: str | Path, channels: int, size: int | None = None, invert: bool = False):
    """An image file the user named as float Tensor[C, H, W] in [0, 1] with the model's `channels`
    (1: gray, 3: RGB), resized bilinearly to size x size when `size` is given; `invert` flips gray levels
    (dark digits on white paper -> MNIST's white on black). Every failure is one `UserError`.
    """
    import torch

    path = Path(path)
    try:
        array = decode(path, "L" if channels == 1 else "RGB", size)
    except FileNotFoundError:
        raise UserError(f"no such image: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, not an image", "name the image files") from None
    except MemoryError:
        raise UserError(f"image {path} is too large to hold in memory", "use a smaller image") from None
    except UNREADABLE as e:
        raise UserError(f"cannot read image {path}: {' '.join(str(e).split())}") from None
    x = torch.from_numpy(channels_first(array)).float().div_(255.0)
    return 1.0 - x if invert else x
