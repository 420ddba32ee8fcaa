"""Labelled images, 8-bit ones kept as uint8 and converted batch by batch, and deterministic stratified splits."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

CHUNK = 4096  # images per step when a whole set is converted or reduced


@dataclass
class ImageDataset:
    """One split of a labelled image set.

    Attributes:
        pixels: the stored images, Tensor[M, C, H, W]: uint8 (value / 255) for 8-bit sources, else float32
            in [0, 1]. The splits of one source share it, and it may be memory-mapped from a cache file.
        labels: Tensor[N] int64 class ids.
        classes: class names, `classes[label]`.
        mean, std: Tensor[C] per-channel statistics of the *train* split (whatever split this is),
            so every split is normalized the same way without looking at validation or test data.
        name: the source spec; split: "train", "val" or "test".
        rows: Tensor[N], the rows of `pixels` this dataset holds, in order; None: all of them.

    `batch(index)` reads float32 images batch by batch; `images` is the whole set as float32 in [0, 1].
    """

    pixels: Tensor
    labels: Tensor  # Tensor[N] class ids (or Tensor[N, H, W] masks for segmentation)
    classes: list[str]
    mean: Tensor
    std: Tensor
    name: str = ""
    split: str = ""
    info: dict = field(default_factory=dict)
    rows: Tensor | None = None
    _images: Tensor | None = field(default=None, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return self.labels.shape[0]

    @property
    def num_classes(self) -> int:
        """The number of classes, `len(classes)`."""
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        """The channels C of the stored images."""
        return self.pixels.shape[1]

    @property
    def image_size(self) -> int:
        """The width W of the stored images (their side, for square images)."""
        return self.pixels.shape[-1]

    @property
    def images(self) -> Tensor:
        """The whole set, Tensor[N, C, H, W] float32 in [0, 1].

        Unless the storage is float32 already and `rows` is None, the first access materializes a float copy
        (4 bytes a pixel, kept with the dataset); loops over batches should use `batch` instead.
        """
        if self._images is None:
            if self.rows is None and self.pixels.dtype == torch.float32:
                return self.pixels
            n = len(self)
            out = torch.empty((n, *self.pixels.shape[1:]), dtype=torch.float32, device=self.pixels.device)
            for i in range(0, n, CHUNK):
                out[i : i + CHUNK] = to_float(self._read(slice(i, i + CHUNK)))
            self._images = out
        return self._images

    def batch(self, index: Tensor | slice) -> tuple[Tensor, Tensor]:
        """(images Tensor[B, C, H, W] float32 in [0, 1], labels) of `index`: indices (on any device) or a slice."""
        if isinstance(index, Tensor):
            labels = self.labels[index.to(self.labels.device)]
        else:
            labels = self.labels[index]
        return to_float(self._read(index)), labels

    def subset(self, index: Tensor) -> ImageDataset:
        """The same dataset restricted to `index` (statistics unchanged), sharing its pixels."""
        index = torch.as_tensor(index)
        if index.dtype == torch.bool:
            index = index.nonzero().squeeze(1)
        index = index.cpu()
        rows = index if self.rows is None else self.rows[index]
        return ImageDataset(
            self.pixels,
            self.labels[index.to(self.labels.device)],
            self.classes,
            self.mean,
            self.std,
            self.name,
            self.split,
            self.info,
            rows=rows,
        )

    def normalize(self, x: Tensor) -> Tensor:
        """(x - mean) / std per channel; x is Tensor[B, C, H, W] in [0, 1]."""
        return normalize(x, self.mean, self.std)

    def _read(self, index: Tensor | slice) -> Tensor:
        """The stored pixels (uint8 or float) of dataset positions `index`."""
        if self.rows is not None:
            index = self.rows[index.cpu() if isinstance(index, Tensor) else index]
        if isinstance(index, Tensor):
            return self.pixels[index.to(self.pixels.device)]
        return self.pixels[index]


def to_float(pixels: Tensor) -> Tensor:
    """uint8 pixels -> float32 value / 255 (as `.float().div_(255.0)` always gave); float tensors as they are."""
    if pixels.dtype == torch.uint8:
        return pixels.float().div_(255.0)
    return pixels


def normalize(x: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """Standardize images per channel, (x - mean) / std, for x Tensor[B, C, H, W] and mean, std Tensor[C]
    (cast to x's dtype and device)."""
    return (x - mean.view(1, -1, 1, 1).to(x)) / std.view(1, -1, 1, 1).to(x)


def channel_stats(images: Tensor, rows: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Per-channel mean and standard deviation of `images[rows]` (Tensor[N, C, H, W], uint8 read as value / 255,
    or float), accumulated in float64 a chunk at a time: no float copy of the whole set is made."""
    n = images.shape[0] if rows is None else rows.numel()
    channels = images.shape[1]

    def chunks():
        for i in range(0, n, CHUNK):
            part = images[i : i + CHUNK] if rows is None else images[rows[i : i + CHUNK]]
            yield part.transpose(0, 1).reshape(channels, -1)  # (C, pixels of the chunk)

    if images.dtype == torch.uint8:  # a histogram of the 256 values is exact, whatever the order of the sum
        counts = torch.zeros(channels, 256, dtype=torch.int64)
        for part in chunks():
            for c in range(channels):
                counts[c] += torch.bincount(part[c], minlength=256)
        return histogram_stats(counts)
    else:  # two passes, the second over deviations from the mean, as torch's own std does
        total = torch.zeros(channels, dtype=torch.float64)
        for part in chunks():
            total += part.double().sum(1)
        count = n * images[0, 0].numel() if n else 0
        mean = total / count
        squares = torch.zeros(channels, dtype=torch.float64)
        for part in chunks():
            squares += (part.double() - mean[:, None]).pow(2).sum(1)
        var = squares / (count - 1)
    return mean.float(), var.sqrt().clamp_min(1e-6).float()


def histogram_stats(counts: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and standard deviation of uint8 images (value / 255) from their histograms
    Tensor[C, 256] (how many pixels of each channel hold each value), in float64: exact, whatever the order."""
    values = to_float(torch.arange(256, dtype=torch.uint8)).double()
    counts = counts.double()
    total = counts.sum(1)
    mean = (counts * values).sum(1) / total
    var = (counts * (values - mean[:, None]) ** 2).sum(1) / (total - 1)
    return mean.float(), var.sqrt().clamp_min(1e-6).float()


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
