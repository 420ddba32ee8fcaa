"""Data sources by name, and `load(spec, split)`: deterministic train/val/test splits in memory.

A spec is a source name, optionally with an argument after a colon: `mnist5k`, `digits`,
`idx:DIR`, `cifar10:DIR`, `folder:DIR`. Sources with an official test set keep it as the test
split; the others hold out a stratified `test_fraction`. The validation split is always a
stratified `val_fraction` of what remains for training. The splits are rows of one pool of pixels
(uint8 for 8-bit sources), so splitting copies no image.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from dlbasic.data.dataset import ImageDataset, channel_stats, stratified_split, to_float
from dlbasic.errors import UserError, check
from dlbasic.registry import Registry

SPLITS = ("train", "val", "test")


@dataclass
class RawSource:
    """What a source reader returns: pools of (images, labels) by name ("train", maybe "test").

    Images are Tensor[N, C, H, W]: uint8 (value / 255) for 8-bit sources, else float32 in [0, 1].
    """

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


def load(
    spec: str = "mnist5k",
    split: str = "train",
    seed: int = 0,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    image_size: int | None = None,
    allow_empty: bool = False,
    test_data: str | None = None,
) -> ImageDataset:
    """Load one split of a labelled image source as tensors.

    Args:
        spec: source name and argument, e.g. "mnist5k", "idx:data/mnist", "folder:photos".
        split: "train", "val" or "test".
        seed: seed of the stratified splits (the same seed always gives the same split).
        val_fraction: share of the training pool held out for validation.
        test_fraction: share held out for test when the source has no test set of its own.
        image_size: resize images to this square size (bilinear, antialiased); None keeps them.
        allow_empty: return an empty split rather than refusing it (a fraction too small for the data).
        test_data: another source whose images are the test split (its official test set, else all of its
            images), classes matched by name; `spec` then gives up no images to a test hold-out.

    Returns:
        An `ImageDataset` whose `mean`/`std` come from the train split only.
    """
    check(split in SPLITS, f"unknown split {split!r}", "choices: " + ", ".join(SPLITS))
    for what, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        check(0.0 <= f < 1.0, f"{what} must be in [0, 1), got {f}")
    check(image_size is None or image_size > 0, f"image_size must be positive, got {image_size}")
    check(isinstance(seed, int) and abs(seed) < 2**62, f"seed {seed} is out of range", "use a seed in 0..4294967295")
    splits = _splits(spec, seed, val_fraction, test_fraction, image_size, test_data or None)
    pixels, rows, labels, classes, mean, std, info = splits[split]
    if not allow_empty and len(labels) == 0:
        if split == "train":
            raise UserError(
                f"the train split of {spec} has no images",
                "lower --val-fraction or --test-fraction, or use more images",
            )
        if split == "test" and "official" in info.get("test", ""):
            raise UserError(
                f"the test set of {spec} has no images of its training classes",
                "its test images go in sub-folders named like the training classes",
            )
        option, fraction = ("--val-fraction", val_fraction) if split == "val" else ("--test-fraction", test_fraction)
        raise UserError(
            f"the {split} split of {spec} has no images ({option} {fraction:g} of each class, rounded)",
            f"raise {option}, or use more images",
        )
    return ImageDataset(pixels, labels, classes, mean, std, spec, split, info, rows=rows)


@functools.lru_cache(maxsize=4)
def _raw(spec: str, image_size: int | None) -> RawSource:
    _import_readers()
    name, arg = parse_spec(spec)
    reader = sources.get(name)
    if image_size is not None:
        check_memory(1, 3, image_size)
    raw = reader(arg) if name != "folder" else reader(arg, image_size=image_size or 32)
    if image_size is not None:  # pools resized below become float copies; those of that size already do not
        resized = [x for x, _ in raw.pools.values() if x.shape[-2:] != (image_size, image_size)]
        check_memory(sum(x.shape[0] for x in resized), max((x.shape[1] for x in resized), default=1), image_size)
        raw = RawSource({k: (resize(x, image_size), y) for k, (x, y) in raw.pools.items()}, raw.classes)
    return raw


def _labelled(spec: str, image_size: int | None) -> RawSource:
    raw = _raw(spec, image_size)
    if "train" not in raw.pools:
        raise UserError(
            f"{spec!r} is not a labelled image classification source",
            "use it with `dlbasic detect` or `dlbasic segment`",
        )
    return raw


def test_source(test_data: str, classes: list[str], shape: tuple, image_size: int | None) -> tuple[Tensor, Tensor, str]:
    """(images, labels indexing `classes`, how chosen) of a `--test-data` source: its official test set, else all
    of its images; a class `classes` lacks, or images of another `shape` (C, H, W), is a `UserError`."""
    raw = _labelled(test_data, image_size)
    if "test" in raw.pools:
        (x, y), how = raw.pools["test"], f"official test set of {test_data}"
    else:
        pools = [raw.pools[k] for k in ("train", "val") if k in raw.pools]
        x, y = pools[0] if len(pools) == 1 else (torch.cat([a for a, _ in pools]), torch.cat([b for _, b in pools]))
        how = f"all images of {test_data}"
    unknown = [str(c) for c in raw.classes if str(c) not in map(str, classes)]
    check(
        not unknown,
        f"--test-data {test_data}: classes not in the training data: {', '.join(unknown[:5])}",
        f"the training classes: {', '.join(map(str, classes[:10]))}",
    )
    check(
        tuple(x.shape[1:]) == tuple(shape),
        f"--test-data {test_data} has images of {' x '.join(map(str, x.shape[1:]))} (channels x height x width); "
        f"the training data's are {' x '.join(map(str, shape))}",
        "pass --image-size N to resize both",
    )
    lut = torch.tensor([list(map(str, classes)).index(str(c)) for c in raw.classes], dtype=torch.long)
    return x, lut[y] if len(lut) else y, how


@functools.lru_cache(maxsize=8)
def _splits(
    spec: str,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    image_size: int | None,
    test_data: str | None = None,
):
    raw = _labelled(spec, image_size)
    x, y = raw.pools["train"]  # each split below is (pixels, its rows of them or None for all, labels)
    if test_data is not None:
        x_test, y_test, how = test_source(test_data, raw.classes, tuple(x.shape[1:]), image_size)
        rest, test = torch.arange(len(y)), (x_test, None, y_test)
        info = {"test": how}
    elif "test" in raw.pools:
        x_test, y_test = raw.pools["test"]
        rest, test = torch.arange(len(y)), (x_test, None, y_test)
        info = {"test": "official test set"}
    else:
        rest, held = stratified_split(y, test_fraction, seed)
        test = (x, held, y[held])
        info = {"test": f"stratified {test_fraction:.0%} hold-out (seed {seed})"}
    if "val" in raw.pools:
        x_val, y_val = raw.pools["val"]
        train, val = rest, (x_val, None, y_val)
        info["val"] = "official validation set"
    else:
        train, val = stratified_split(y[rest], val_fraction, seed + 1)
        train, val = rest[train], (x, rest[val], y[rest[val]])
        info["val"] = f"stratified {val_fraction:.0%} of the training pool (seed {seed + 1})"
    mean, std = channel_stats(x, train)
    parts = {"train": (x, train, y[train]), "val": val, "test": test}
    return {k: (xi, rows, yi, raw.classes, mean, std, info) for k, (xi, rows, yi) in parts.items()}


def check_memory(count: int, channels: int, size: int, option: str = "--image-size") -> None:
    """Refuse, before any is made, `count` float32 images of size x size that would not fit in this machine's memory."""
    import os

    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: let the allocation decide
        return
    need = count * channels * size * size * 4
    if need > total:
        what = (
            f"one image of {size}x{size} pixels needs" if count == 1 else f"{count} images of {size}x{size} pixels need"
        )
        raise UserError(
            f"{what} {need / 2**30:,.1f} GiB of memory; this machine has {total / 2**30:,.1f} GiB",
            f"choose a smaller {option}",
        )


def resize(images: Tensor, size: int) -> Tensor:
    """Resize Tensor[N, C, H, W] to (size, size), bilinear with antialiasing, clamped to [0, 1].

    Images of that size already are returned as they are (uint8 stays uint8); others come back as float32.
    """
    if images.shape[-2:] == (size, size):
        return images
    out = F.interpolate(to_float(images), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.clamp_(0.0, 1.0)


def _import_readers() -> None:
    """The readers register themselves on import."""
    from dlbasic.data import box_sources, cifar, embedded, folder, idx, scenes, subset  # noqa: F401


def to_pixels(array, channels_last: bool = True) -> Tensor:
    """uint8 array (N, H, W) or (N, H, W, C) -> uint8 Tensor[N, C, H, W] (contiguous)."""
    t = torch.as_tensor(array)
    if t.dim() == 3:
        t = t.unsqueeze(-1)
    if channels_last:
        t = t.permute(0, 3, 1, 2)
    return t.contiguous()
