"""Which images a detection run trains and tests on, and how they were chosen.

A source with official splits keeps them (`official_pair`: test on test, else val; train on trainval
when testing on test, as VOC 2007 is used, else on train); only a source without any is split 80/20
at random by a seed. Both parts share one class list, matched by name. `load_split` stacks the images
at one size as batches; `load_images` picks the images to evaluate or predict on.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from dlbasic.data.sources import check_memory
from dlbasic.detection.data.dataset import DetectionSet
from dlbasic.detection.data.sources import load_detection, official_splits
from dlbasic.detection.data.transforms import resize
from dlbasic.errors import UserError, check


@dataclass
class Split:
    """Training and test images as equal-size batches, with their classes and how they were chosen."""

    train_images: Tensor  # [N, C, H, W]
    train_targets: list[dict[str, Tensor]]
    test_images: Tensor
    test_targets: list[dict[str, Tensor]]
    classes: list[str]
    split: str = ""  # the test images: "official val split", "random 80/20 split, seed 0", ...
    train_split: str = ""  # the training images, in the same words


def as_batch(data: DetectionSet, size: int | tuple[int, int], training: bool) -> tuple[Tensor, list[dict[str, Tensor]]]:
    """Images stacked at one size (N or (H, W); 0 keeps them) with their targets. Crowd regions (COCO `iscrowd`)
    are dropped from training targets, as torchvision's references do, and kept with their areas for
    evaluation, where detections on them count neither way."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    images, targets = [], []
    for im, t in zip(data.images, data.targets):
        crowd = t.get("iscrowd", torch.zeros(len(t["boxes"]), dtype=torch.bool)).bool()
        extra = {k: t[k] for k in ("iscrowd", "area") if k in t}
        t = {"boxes": t["boxes"].float(), "labels": t["labels"].long(), **({} if training else extra)}
        if training and crowd.any():
            t = {k: v[~crowd] for k, v in t.items()}
        if all(size) and tuple(im.shape[-2:]) != size:
            im, t = resize(im, t, size)
        images.append(im)
        targets.append(t)
    sizes = {tuple(im.shape) for im in images}
    check(len(sizes) == 1, f"images have {len(sizes)} different sizes", "pass --image-size N to resize them")
    return torch.stack(images), targets


# the largest backbone stride of the detectors (YOLO v1's grid cells are 8 x 8 pixels)
MIN_IMAGE_SIZE = 8
RANDOM_SPLIT = "random 80/20 split, seed {seed}"  # where a source has no official splits


def official_pair(splits: Sequence[str]) -> tuple[str, str] | None:
    """The official (train, test) splits a run uses: test on test, else val; train on trainval when testing
    on test (as VOC 2007 is used), else on train. None when the source lacks either side."""
    test = "test" if "test" in splits else "val" if "val" in splits else None
    train = "trainval" if test == "test" and "trainval" in splits else "train" if "train" in splits else None
    return (train, test) if train and test else None


def random_split(n: int, seed: int) -> tuple[list[int], list[int]]:
    """Indices of the training 80 % and test 20 % of n images, by a permutation seeded with `seed`."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    cut = max(1, int(0.8 * n))
    return perm[:cut], perm[cut:]


def _subset(data: DetectionSet, idx: Sequence[int]) -> DetectionSet:
    names = [data.names[i] for i in idx] if data.names else []
    return DetectionSet([data.images[i] for i in idx], [data.targets[i] for i in idx], list(data.classes), names)


def _random_parts(spec: str, seed: int) -> tuple[DetectionSet, DetectionSet]:
    """The training and test parts of the random 80/20 split of every image of a source."""
    full = load_detection(spec)
    check(len(full) >= 2, f"{spec} has {len(full)} images; need at least 2 to split")
    train, test = random_split(len(full), seed)
    return _subset(full, train), _subset(full, test)


def _official_test(spec: str, splits: Sequence[str], limit: int) -> tuple[str, str, DetectionSet]:
    """(train split, test split, test images) of a source with official splits. A test split without any
    box (unlabelled, as COCO test-dev) gives way to train and val."""
    train, test = official_pair(splits)
    data = load_detection(spec, limit or None, test)
    if test == "test" and not sum(len(t["boxes"]) for t in data.targets) and {"train", "val"} <= set(splits):
        warnings.warn(
            f"the official test split of {spec} has no labelled box; training on train and testing on val instead",
            stacklevel=3,
        )
        train, test = "train", "val"
        data = load_detection(spec, limit or None, test)
    return train, test, data


def _relabel(data: DetectionSet, classes: list[str]) -> DetectionSet:
    """`data` with labels indexing `classes` (matched by name; every one of data's classes is in it)."""
    if list(data.classes) == list(classes):
        return data
    lut = torch.tensor([classes.index(c) for c in data.classes], dtype=torch.long)
    targets = [{**t, "labels": lut[t["labels"]]} for t in data.targets]
    return DetectionSet(data.images, targets, list(classes), data.names, data.skipped)


def test_source(test_data: str, limit: int) -> tuple[str, DetectionSet]:
    """(how chosen, images) of a `test_data` source: its official test split (else val), else all of its images."""
    splits = official_splits(test_data)
    name = "test" if "test" in splits else "val" if "val" in splits else None
    if name is None:
        return f"all images of {test_data}", load_detection(test_data, limit or None)
    return f"official {name} split of {test_data}", load_detection(test_data, limit or None, name)


def load_parts(
    spec: str,
    seed: int = 0,
    train_limit: int | None = None,
    test_limit: int | None = None,
    test_data: str | None = None,
) -> tuple[DetectionSet, DetectionSet, str, str]:
    """Training and test images of a source, with one class list, and how each was chosen.

    A source's official splits are used (`official_pair`; the files that define them are listed in
    `dlbasic.detection.data.voc`, `coco` and `yolo`); only a source with none is split 80/20 at random by `seed`. With
    `test_data`, the test images are that source's (`test_source`) and `spec` trains on its official trainval
    or train split, else on all of its images.
    """
    splits = official_splits(spec)
    if test_data:
        test_name, test = test_source(test_data, test_limit)
        train_name = next((s for s in ("trainval", "train") if s in splits), None)
        train = load_detection(spec, train_limit or None, train_name)
        train_how = f"official {train_name} split" if train_name else "all images"
        return _merge(spec, train, test, train_how, test_name, train_name or "training", test_data, overlap=False)
    if official_pair(splits) is None:
        how = RANDOM_SPLIT.format(seed=seed)
        return *_random_parts(spec, seed), how, how
    train_name, test_name, test = _official_test(spec, splits, test_limit)
    train = load_detection(spec, train_limit or None, train_name)
    return _merge(
        spec, train, test, f"official {train_name} split", f"official {test_name} split", train_name, test_name
    )


def _merge(
    spec: str,
    train: DetectionSet,
    test: DetectionSet,
    train_how: str,
    test_how: str,
    train_name: str,
    test_name: str,
    overlap: bool = True,
) -> tuple[DetectionSet, DetectionSet, str, str]:
    """Both parts with one class list (the training classes, then those only in the test part), warning about
    classes never trained on and, with `overlap` (splits of one source), about images in both."""
    extra = [c for c in test.classes if c not in train.classes]
    if extra and sum(len(t["boxes"]) for t in test.targets):
        warnings.warn(
            f"{spec}: classes only in the {test_name} split, never trained on: {', '.join(extra)}", stacklevel=2
        )
    classes = list(train.classes) + extra
    shared = set(train.names) & set(test.names) if overlap else set()
    if shared:
        warnings.warn(
            f"{spec}: {len(shared)} of the {len(test)} {test_name} images are also {train_name} images "
            "(its official splits overlap)",
            stacklevel=2,
        )
    return _relabel(train, classes), _relabel(test, classes), train_how, test_how


def load_images(spec: str, which: str = "all", seed: int = 0, limit: int = 0) -> tuple[DetectionSet, str]:
    """Images of a source to evaluate or predict on, and how they were chosen.

    Args:
        which: "all" (every image; scenes: its test split), "heldout" (the test images of a training run
            by `load_parts`), or an official split; on a source without official splits "train" and "test"
            name the parts of the random 80/20 split by `seed`.
        limit: the first `limit` images of those (0: all).
    """
    if which == "all" and spec.partition(":")[0] != "scenes":
        return load_detection(spec, limit or None), "all images"
    splits = official_splits(spec)
    official = official_pair(splits) is not None
    if which == "heldout" and official:
        _, test, data = _official_test(spec, splits, limit)
        return data, f"official {test} split"
    if which in splits:
        return load_detection(spec, limit or None, which), f"official {which} split"
    if which == "all":  # scenes: its own test split
        return load_detection(spec, limit or None, "test"), "official test split"
    which = "test" if which == "heldout" else which
    if not official and which in ("train", "test"):
        data = _random_parts(spec, seed)[which == "test"]
        return _subset(
            data, range(min(limit or len(data), len(data)))
        ), f"{which} part of the {RANDOM_SPLIT.format(seed=seed)}"
    hint = (
        f"its official splits: {', '.join(splits)}"
        if splits
        else "it has no official splits; train and test name the parts of its random 80/20 split"
    )
    raise UserError(f"{spec} has no {which} split", hint)


def load_split(
    spec: str,
    image_size: int | None = None,
    train_limit: int | None = None,
    test_limit: int | None = None,
    seed: int = 0,
    test_data: str | None = None,
) -> Split:
    """A source's training and test images (`load_parts`, `test_data` its test source) at one size (None or 0:
    their own), as batches; None or 0 limits take all."""
    train, test, train_how, test_how = load_parts(spec, seed, train_limit, test_limit, test_data)
    check(
        bool(train.classes),
        f"{spec} has no labelled objects, so there is nothing to detect",
        "annotate the images with boxes and class names",
    )
    if image_size:
        check_memory(len(train) + len(test), train.images[0].shape[0], image_size)
    x, y = as_batch(train, image_size or 0, training=True)
    check(
        min(x.shape[-2:]) >= MIN_IMAGE_SIZE,
        f"the images are {x.shape[-1]}x{x.shape[-2]} pixels; the detectors "
        f"need at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE}",
        f"pass --image-size {MIN_IMAGE_SIZE} or more",
    )
    check(len(test) > 0, f"the {test_how} of {spec} has no image")
    xt, yt = as_batch(test, tuple(x.shape[-2:]), training=False)
    n, m = train_limit or len(x), test_limit or len(xt)
    return Split(x[:n], y[:n], xt[:m], yt[:m], list(train.classes), test_how, train_how)
