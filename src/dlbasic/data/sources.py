"""Data sources by name, and `load(spec, split)`: deterministic train/val/test splits in memory.

A spec is a source name, optionally with an argument after a colon: `mnist5k`, `digits`,
`idx:DIR`, `cifar10:DIR`, `folder:DIR`. Sources with an official test set keep it as the test
split; the others hold out a stratified `test_fraction`. The validation split is always a
stratified `val_fraction` of what remains for training.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from dlbasic.data.dataset import ImageDataset, channel_stats, stratified_split
from dlbasic.errors import UserError, check
from dlbasic.registry import Registry

SPLITS = ("train", "val", "test")


@dataclass
class RawSource:
    """What a source reader returns: pools of (images in [0, 1], labels) by name ("train", maybe "test")."""

    pools: dict[str, tuple[Tensor, Tensor]]
    classes: list[str]


sources: Registry[Callable[..., RawSource]] = Registry("data source")


def parse_spec(spec: str) -> tuple[str, str | None]:
    """'idx:/data/mnist' -> ('idx', '/data/mnist'); 'mnist5k' -> ('mnist5k', None)."""
    name, sep, arg = spec.partition(":")
    return name, (arg if sep else None)


def require_path(name: str, arg: str | None, what: str, example: str) -> str:
    """The path after `name:`; a `UserError` with an example when there is none (`name`, `name:`, `name: `)."""
    if arg is None or not arg.strip():
        raise UserError(f"the {name} source needs a {what} after '{name}:'", f"e.g. {name}:{example}")
    return arg


def list_sources() -> list[str]:
    """Names of the registered sources (`scenes` and the detection formats included)."""
    _import_readers()
    return sources.names()


def load(spec: str = "mnist5k", split: str = "train", seed: int = 0, *, val_fraction: float = 0.1,
         test_fraction: float = 0.2, image_size: int | None = None) -> ImageDataset:
    """Load one split of a labelled image source as tensors.

    Args:
        spec: source name and argument, e.g. "mnist5k", "idx:data/mnist", "folder:photos".
        split: "train", "val" or "test".
        seed: seed of the stratified splits (the same seed always gives the same split).
        val_fraction: share of the training pool held out for validation.
        test_fraction: share held out for test when the source has no test set of its own.
        image_size: resize images to this square size (bilinear, antialiased); None keeps them.

    Returns:
        An `ImageDataset` whose `mean`/`std` come from the train split only.
    """
    check(split in SPLITS, f"unknown split {split!r}", "choices: " + ", ".join(SPLITS))
    for what, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        check(0.0 <= f < 1.0, f"{what} must be in [0, 1), got {f}")
    check(image_size is None or image_size > 0, f"image_size must be positive, got {image_size}")
    splits = _splits(spec, seed, val_fraction, test_fraction, image_size)
    images, labels, classes, mean, std, info = splits[split]
    return ImageDataset(images, labels, classes, mean, std, spec, split, info)


@functools.lru_cache(maxsize=4)
def _raw(spec: str, image_size: int | None) -> RawSource:
    _import_readers()
    name, arg = parse_spec(spec)
    reader = sources.get(name)
    raw = reader(arg) if name != "folder" else reader(arg, image_size=image_size or 32)
    if image_size is not None:
        raw = RawSource({k: (resize(x, image_size), y) for k, (x, y) in raw.pools.items()}, raw.classes)
    return raw


@functools.lru_cache(maxsize=8)
def _splits(spec: str, seed: int, val_fraction: float, test_fraction: float, image_size: int | None):
    raw = _raw(spec, image_size)
    if "train" not in raw.pools:
        raise UserError(f"{spec!r} is not a labelled image classification source",
                        "use it with `dlbasic detect` or `dlbasic segment`")
    x, y = raw.pools["train"]
    if "test" in raw.pools:
        x_test, y_test = raw.pools["test"]
        info = {"test": "official test set"}
    else:
        rest, test = stratified_split(y, test_fraction, seed)
        x_test, y_test, x, y = x[test], y[test], x[rest], y[rest]
        info = {"test": f"stratified {test_fraction:.0%} hold-out (seed {seed})"}
    train, val = stratified_split(y, val_fraction, seed + 1)
    x_train, y_train = x[train], y[train]
    mean, std = channel_stats(x_train)
    parts = {"train": (x_train, y_train), "val": (x[val], y[val]), "test": (x_test, y_test)}
    return {k: (xi, yi, raw.classes, mean, std, info) for k, (xi, yi) in parts.items()}


def resize(images: Tensor, size: int) -> Tensor:
    """Resize Tensor[N, C, H, W] to (size, size), bilinear with antialiasing, clamped to [0, 1]."""
    if images.shape[-2:] == (size, size):
        return images
    out = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.clamp_(0.0, 1.0)


def _import_readers() -> None:
    """The readers register themselves on import."""
    from dlbasic.data import cifar, detection_sources, embedded, folder, idx, scenes  # noqa: F401


def to_tensor_images(array, channels_last: bool = True) -> Tensor:
    """uint8 array (N, H, W) or (N, H, W, C) -> float32 Tensor[N, C, H, W] in [0, 1]."""
    t = torch.as_tensor(array)
    if t.dim() == 3:
        t = t.unsqueeze(-1)
    if channels_last:
        t = t.permute(0, 3, 1, 2)
    return t.contiguous().float().div_(255.0)
