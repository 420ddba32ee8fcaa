"""In-memory labelled images and deterministic stratified splits."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class ImageDataset:
    """One split of a labelled image set, held as tensors.

    Attributes:
        images: Tensor[N, C, H, W] float32 in [0, 1].
        labels: Tensor[N] int64 class ids.
        classes: class names, `classes[label]`.
        mean, std: Tensor[C] per-channel statistics of the *train* split (whatever split this is),
            so every split is normalized the same way without looking at validation or test data.
        name: the source spec; split: "train", "val" or "test".
    """

    images: Tensor
    labels: Tensor  # Tensor[N] class ids (or Tensor[N, H, W] masks for segmentation)
    classes: list[str]
    mean: Tensor
    std: Tensor
    name: str = ""
    split: str = ""
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.labels.shape[0]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    def normalize(self, x: Tensor) -> Tensor:
        """(x - mean) / std per channel; x is Tensor[B, C, H, W] in [0, 1]."""
        return normalize(x, self.mean, self.std)

    def subset(self, index: Tensor) -> ImageDataset:
        """The same dataset restricted to `index` (statistics unchanged)."""
        return ImageDataset(self.images[index], self.labels[index], self.classes, self.mean, self.std,
                            self.name, self.split, self.info)


def normalize(x: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    return (x - mean.view(1, -1, 1, 1).to(x)) / std.view(1, -1, 1, 1).to(x)


def channel_stats(images: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and standard deviation of Tensor[N, C, H, W], computed in float64."""
    x = images.transpose(0, 1).reshape(images.shape[1], -1).double()
    return x.mean(1).float(), x.std(1).clamp_min(1e-6).float()


def stratified_split(labels: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Split indices into (rest, part) with `fraction` of every class in `part`.

    Deterministic for a seed: a random order within each class, then the first
    round(fraction * class size) of each class go to `part`.
    """
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(labels.numel(), generator=g)
    order = perm[torch.argsort(labels[perm], stable=True)]  # grouped by class, random within
    sorted_labels = labels[order]
    counts = torch.bincount(sorted_labels)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(order.numel()) - starts[sorted_labels]  # position within its class
    take = rank < torch.round(counts.double() * fraction).long()[sorted_labels]
    return order[~take].sort().values, order[take].sort().values


def stratified_subset(labels: Tensor, n: int, seed: int) -> Tensor:
    """Exactly `n` indices (sorted), each class represented in proportion to its size.

    Samples are ranked within their class in a seeded random order; the first n by relative rank
    (rank / class size) are kept, so every prefix of the order is as close to stratified as possible.
    """
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(labels.numel(), generator=g)
    order = perm[torch.argsort(labels[perm], stable=True)]
    sorted_labels = labels[order]
    counts = torch.bincount(sorted_labels)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(order.numel()) - starts[sorted_labels]
    key = (rank.double() + 0.5) / counts[sorted_labels].double()
    return order[torch.argsort(key, stable=True)[:n]].sort().values
