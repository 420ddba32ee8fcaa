"""Segmentation data as `ImageDataset`s whose `labels` are masks Tensor[N, H, W] int64.

Specs:
    `scenes[:canvas=96,digits=1-4,...]`: digits pasted on a canvas (`dlbasic.data.load_scenes`);
        pixel class = digit + 1, background 0, so 11 classes.
    `segfolder:DIR[,images=NAME,masks=NAME,mode=auto|ids|binary|rgb,invert=1,threshold=127,size=N,
        classes=N,ignore=255]`: image/mask pairs matched by file stem. The image and mask sub-folders
        are found among common names (image/label, images/masks, img/mask, train/trainannot,
        JPEGImages/SegmentationClass ...) in DIR, DIR/train, DIR/val and DIR/test, or named with
        `images=`/`masks=` (relative to DIR). Masks are PNGs holding class ids (grayscale or palette
        "P" mode, whose indices are the ids), RGB colours (each distinct colour a class, ordered), or
        binary (exactly two values, e.g. 0/255; `invert=1` makes the dark value the foreground class 1). Mask value
        `ignore` (default 255) marks void pixels, skipped by the loss and the metrics.
        Class names: a `classes.txt` (or `labels.txt`, or `names=FILE`) in DIR names the id masks' classes,
        one per line, line k for id k. A class named void, ignore, unlabelled or unlabeled (CamVid's id 11,
        for one) is void; ids above the named ones are void too, with a warning saying how many pixels.
Splits without their own folder are held out at random (seeded) from the training pairs.
Images without a mask are skipped with a warning naming them, and so are pairs whose image or mask
cannot be read (including images over PIL's `Image.MAX_IMAGE_PIXELS` decompression-bomb limit).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dlbasic.data import ImageDataset, channel_stats, load_scenes, parse_spec
from dlbasic.data.images import IMAGE_SUFFIXES, UNREADABLE, decode, open_image
from dlbasic.data.sources import require_path
from dlbasic.errors import UserError, check
from dlbasic.overrides import options
from dlbasic.segmentation.metrics import IGNORE_INDEX

PAIR_NAMES = [
    ("image", "label"),
    ("images", "masks"),
    ("images", "labels"),
    ("image", "mask"),
    ("img", "mask"),
    ("imgs", "masks"),
    ("images", "annotations"),
    ("JPEGImages", "SegmentationClass"),
]
SPLITS = ("train", "val", "test")
EXAMPLE = "data/isbi,invert=1"


@dataclass(frozen=True)
class FolderOptions:
    root: Path
    images: str | None = None  # image sub-folder (relative to root); None: search common names
    masks: str | None = None
    mode: str = "auto"  # auto, ids, binary, rgb
    invert: bool = False  # binary masks: the dark value is the foreground
    threshold: int = 127  # binary masks: values above are the bright class
    size: int | None = None  # resize images (bilinear) and masks (nearest) to size x size
    classes: int | None = None  # number of classes; None: largest id + 1
    ignore: int = IGNORE_INDEX
    names: str | None = None  # file of class names, one per line (default: classes.txt or labels.txt in root)


def parse_folder_spec(arg: str | None) -> FolderOptions:
    """'DIR,images=image,masks=label,invert=1' -> FolderOptions."""
    root, *items = require_path("segfolder", arg, "folder", EXAMPLE).split(",")
    check(bool(root.strip()), f"segfolder:{arg} names no folder before its options", f"e.g. segfolder:{EXAMPLE}")
    values = options(items, FolderOptions, "segfolder")
    check("root" not in values, f"segfolder:{arg}: the folder comes first, not as root=", f"e.g. segfolder:{EXAMPLE}")
    opts = FolderOptions(Path(root).expanduser(), **values)
    check(opts.root.is_dir(), f"no such folder: {opts.root}")
    check(
        opts.size is None or opts.size >= 1,
        f"segfolder option size={opts.size} must be at least 1",
        "or leave it out to keep the images' size",
    )
    check(
        opts.classes is None or opts.classes >= 2,
        f"segfolder option classes={opts.classes} must be at least 2",
        "background and one class or more",
    )
    check(
        opts.mode in ("auto", "ids", "binary", "rgb"),
        f"unknown mask mode {opts.mode!r}",
        "choices: auto, ids, binary, rgb",
    )
    return opts


def _stems(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def _listing(paths: list[Path], most: int = 3) -> str:
    return ", ".join(p.name for p in paths[:most]) + (f" and {len(paths) - most} more" if len(paths) > most else "")


def find_pairs(opts: FolderOptions) -> dict[str, list[tuple[Path, Path]]]:
    """(image, mask) paths per split, matched by file stem; images without a mask are skipped with a warning."""
    found: dict[str, tuple[Path, Path]] = {}
    if opts.images or opts.masks:
        check(bool(opts.images and opts.masks), "give both images= and masks= sub-folders")
        found["train"] = (opts.root / str(opts.images), opts.root / str(opts.masks))
    else:
        for split in SPLITS:  # CamVid style: DIR/train + DIR/trainannot
            if (opts.root / split).is_dir() and (opts.root / f"{split}annot").is_dir():
                found[split] = (opts.root / split, opts.root / f"{split}annot")
        for base, split in [(opts.root, "train"), *((opts.root / s, s) for s in SPLITS)]:
            for a, b in PAIR_NAMES:
                if split not in found and (base / a).is_dir() and (base / b).is_dir():
                    found[split] = (base / a, base / b)
    check(
        "train" in found,
        f"no image/mask sub-folders found in {opts.root}",
        "name them with images=NAME,masks=NAME (e.g. segfolder:DIR,images=train/image,masks=train/label)",
    )
    pairs = {}
    for split, (img_dir, mask_dir) in found.items():
        check(img_dir.is_dir() and mask_dir.is_dir(), f"missing folder {img_dir} or {mask_dir}")
        images, masks = _stems(img_dir), _stems(mask_dir)
        check(bool(images), f"no images in {img_dir}", "expected PNG/JPEG files: " + ", ".join(sorted(IMAGE_SUFFIXES)))
        check(bool(masks), f"no masks in {mask_dir}", "expected one PNG per image, with the image's file name")
        common = sorted(set(images) & set(masks), key=lambda s: (len(s), s))
        check(bool(common), f"no image in {img_dir} has a mask of the same name in {mask_dir}")
        unpaired = [images[s] for s in sorted(set(images) - set(masks))]
        if unpaired:
            warnings.warn(
                f"{img_dir}: {len(unpaired)} image(s) have no mask in {mask_dir}, skipped: {_listing(unpaired)}",
                stacklevel=2,
            )
        pairs[split] = [(images[s], masks[s]) for s in common]
    return pairs


def _read_mask(path: Path) -> np.ndarray:
    with open_image(path) as im:
        if im.mode in ("P", "L", "I", "I;16", "1"):
            return np.asarray(im.convert("L") if im.mode == "1" else im).astype(np.int64)
        return np.asarray(im.convert("RGB")).astype(np.int64)  # (H, W, 3)


def encode_masks(raw: list[np.ndarray], opts: FolderOptions) -> tuple[list[np.ndarray], int, str]:
    """Raw mask arrays -> class-id arrays, the class count, and how they were read (in words), by `opts.mode`."""
    mode = opts.mode
    if mode == "auto":
        if raw[0].ndim == 3:
            mode = "rgb"
        else:
            values = np.unique(np.concatenate([np.unique(m) for m in raw]))
            mode = "binary" if len(values) == 2 and values.max() > 1 else "ids"  # e.g. {0, 255}
    if mode == "binary":
        out = [((m > opts.threshold) != opts.invert).astype(np.int64) for m in raw]
        foreground = "values up to" if opts.invert else "values above"
        return out, 2, f"binary masks: {foreground} {opts.threshold} are class 1"
    if mode == "rgb":
        check(raw[0].ndim == 3, "mode=rgb needs colour masks")
        codes = [m[..., 0] * 65536 + m[..., 1] * 256 + m[..., 2] for m in raw]
        palette = np.unique(np.concatenate([np.unique(c) for c in codes]))  # every colour, in order
        return [np.searchsorted(palette, c) for c in codes], len(palette), f"RGB masks: {len(palette)} colours"
    check(raw[0].ndim == 2, "mode=ids needs single-channel masks (grayscale or palette PNG)")
    top = max(int(m[m != opts.ignore].max(initial=0)) for m in raw)
    check(
        opts.classes is None or top < opts.classes,
        f"the masks in {opts.root} hold class id {top}, but "
        f"classes={opts.classes} allows 0 to {(opts.classes or 1) - 1}",
        f"raise classes= to {top + 1} or more, or leave it out",
    )
    return raw, opts.classes or top + 1, f"class-id masks: ids 0 to {top}, {opts.ignore} is void"


NAME_FILES = ("classes.txt", "labels.txt")
VOID_NAMES = ("void", "ignore", "unlabelled", "unlabeled")


def name_file(opts: FolderOptions) -> Path | None:
    """The class names file: names=, else classes.txt or labels.txt in the folder, else None."""
    if opts.names:
        return opts.root / opts.names
    return next((opts.root / n for n in NAME_FILES if (opts.root / n).is_file()), None)


def class_names(opts: FolderOptions) -> list[str] | None:
    """The names of a names file (line k names id k), or None when the folder has none."""
    path = name_file(opts)
    if path is None:
        return None
    check(path.is_file(), f"no class names file {path}", "one class name per line, line k for mask id k")
    try:
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read class names from {path}: {' '.join(str(e).split())}") from None
    while names and not names[-1]:
        names.pop()
    check(bool(names) and all(names), f"{path} must name one class per line, with no empty line")
    return names


def apply_names(
    masks: list[np.ndarray], names: list[str], ignore: int, where: Path
) -> tuple[list[np.ndarray], list[str]]:
    """Id masks renumbered to the named classes: void classes and ids past the names become `ignore`."""
    keep = [k for k, n in enumerate(names) if n.lower() not in VOID_NAMES]
    top = max(int(m[m != ignore].max(initial=0)) for m in masks)
    lut = np.full(max(top, len(names) - 1) + 1, ignore, dtype=np.int64)
    lut[keep] = np.arange(len(keep))
    extra = sum(int(((m >= len(names)) & (m != ignore)).sum()) for m in masks)
    if extra:
        warnings.warn(
            f"the masks in {where} hold {extra} pixels of ids {len(names)}..{top}, beyond the "
            f"{len(names)} named classes; they are void (skipped by the loss and the metrics)",
            stacklevel=3,
        )
    return [np.where(m == ignore, ignore, lut[np.minimum(m, len(lut) - 1)]) for m in masks], [names[k] for k in keep]


def outside_names(masks: list[np.ndarray], names: list[str], ignore: int) -> str | None:
    """In words, the ids of `masks` past the named classes (not `ignore`) with their share of the mask pixels and
    the option that declares one void, as `dlbasic data show` reports them; None when there are none."""
    counts: dict[int, int] = {}
    for m in masks:
        ids, n = np.unique(m[(m >= len(names)) & (m != ignore)], return_counts=True)
        for i, c in zip(ids.tolist(), n.tolist()):
            counts[i] = counts.get(i, 0) + c
    if not counts:
        return None
    total = sum(m.size for m in masks)
    top = sorted(counts, key=lambda i: (-counts[i], i))
    shown = ", ".join(f"{i} ({counts[i] / total:.2%} of pixels)" for i in top[:8])
    more = f" and {len(top) - 8} more ids" if len(top) > 8 else ""
    return (
        f"labels outside the {len(names)} named classes: {shown}{more}; they are void; "
        f"ignore={top[0]} makes {top[0]} the void value (now {ignore})"
    )


def _resize(images: Tensor, masks: Tensor, size: int | None) -> tuple[Tensor, Tensor]:
    if size is None or images.shape[-2:] == (size, size):
        return images, masks
    images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    masks = F.interpolate(masks[:, None].float(), size=(size, size), mode="nearest")[:, 0].long()
    return images.clamp_(0, 1), masks


class SegFolder(NamedTuple):
    pools: dict[str, tuple[Tensor, Tensor]]  # split -> (images Tensor[N, C, H, W] in [0, 1], masks Tensor[N, H, W])
    classes: list[str]
    ignore: int  # the void label
    conventions: list[str]  # what was found, in words: folders, mask encoding, names file


def read_segfolder(arg: str, size: int | None = None) -> SegFolder:
    """Every image/mask pair of a `segfolder:` spec, by split, with its classes and conventions."""
    return _read_segfolder(arg, size)[0]


def compact(mask: Tensor) -> Tensor:
    """A mask of class ids in the smallest integer type that holds them (uint8 for ids up to 255)."""
    return mask.to(torch.uint8) if mask.numel() == 0 or (mask.min() >= 0 and mask.max() < 256) else mask.int()


@functools.lru_cache(maxsize=4)
def _read_segfolder(arg: str, size: int | None = None) -> tuple[SegFolder, dict[str, list[Tensor]]]:
    """`read_segfolder`, and per split the masks at their own resolution where they were resized (`compact`)."""
    opts = parse_folder_spec(arg)
    size = opts.size or size
    pairs = find_pairs(opts)
    mode = None  # the first readable training image's: "L" for grayscale, else "RGB"
    order, raw_images, raw_masks = [], [], []
    skipped: list[str] = []  # warned about once some pair is known to be readable
    for split in sorted(pairs, key=SPLITS.index):
        for img_path, mask_path in pairs[split]:
            try:
                image = decode(img_path, mode)
                mode = mode or ("L" if image.ndim == 2 else "RGB")
            except UNREADABLE as e:
                skipped.append(f"skipping unreadable image {img_path}: {e}")
                continue
            try:
                mask = _read_mask(mask_path)
            except UNREADABLE as e:
                skipped.append(f"skipping {img_path.name}: unreadable mask {mask_path}: {e}")
                continue
            if image.shape[:2] != mask.shape[:2]:
                raise UserError(
                    f"{mask_path}: the mask is {mask.shape[1]}x{mask.shape[0]} but its image "
                    f"{img_path.name} is {image.shape[1]}x{image.shape[0]}",
                    "a mask must have its image's size",
                )
            order.append(split)
            raw_images.append(image)
            raw_masks.append(mask)
    if "train" not in order:
        first = f" (e.g. {skipped[0].removeprefix('skipping ')})" if skipped else ""
        raise UserError(
            f"no readable image/mask pairs in {opts.root}{first}",
            "images and masks are PNG/JPEG files, each mask named like its image",
        )
    for message in skipped:
        warnings.warn(message, stacklevel=2)
    check(
        len({m.ndim for m in raw_masks}) == 1,
        f"the masks in {opts.root} mix colour and single-channel images",
        "save them all as grayscale/palette PNGs of class ids, or all as RGB colours",
    )
    masks, num_classes, encoding = encode_masks(raw_masks, opts)
    classes = [str(i) for i in range(num_classes)]
    names = class_names(opts)
    conventions = [f"{split}: images in {p[0][0].parent}, masks in {p[0][1].parent}" for split, p in pairs.items()]
    void = [n for n in names or [] if n.lower() in VOID_NAMES]
    conventions += [
        encoding,
        "no class names file: classes are numbered"
        if names is None
        else f"class names from {name_file(opts)}" + (f" (void: {', '.join(void)})" if void else ""),
    ]
    if names is not None:
        check(
            masks[0].ndim == 2 and opts.mode in ("auto", "ids"),
            "a class names file applies to id masks",
            "use mode=ids, or remove the names file",
        )
        outside = outside_names(masks, names, opts.ignore)
        conventions += [outside] if outside else []
        masks, classes = apply_names(masks, names, opts.ignore, opts.root)
        num_classes = len(classes)
    present: set[int] = set()
    for m in masks:  # stops at the second class found
        present.update(np.unique(m[m != opts.ignore]).tolist())
        if len(present) >= 2:
            break
    check(
        bool(present),
        f"every mask pixel in {opts.root} is the ignore value {opts.ignore}",
        "void pixels are skipped by the loss, so there is nothing to learn; check ignore= and the masks",
    )
    check(
        num_classes >= 2 and len(present) >= 2,
        f"the masks in {opts.root} hold a single class, so there is nothing to segment",
        "masks need background and at least one other class (binary masks: two values such as 0 and 255)",
    )
    pools: dict[str, tuple[list, list]] = {}
    for split, image, mask in zip(order, raw_images, masks):
        pools.setdefault(split, ([], []))
        pools[split][0].append(image)
        pools[split][1].append(mask)
    out, originals = {}, {}
    for split, (images, ms) in pools.items():
        check(
            len({a.shape for a in images}) == 1 or size is not None,
            f"the {split} images differ in size",
            "resize them with size=N",
        )
        x = [torch.from_numpy(a).float().div(255) for a in images]
        x = [t[None] if t.dim() == 2 else t.permute(2, 0, 1) for t in x]
        y = [torch.from_numpy(m.astype(np.int64)) for m in ms]
        pairs_resized = [_resize(a[None], m[None], size) for a, m in zip(x, y)]
        out[split] = (torch.cat([a for a, _ in pairs_resized]), torch.cat([m for _, m in pairs_resized]))
        if size is not None and any(m.shape != (size, size) for m in y):
            originals[split] = [compact(m) for m in y]
    return SegFolder(out, classes, opts.ignore, conventions), originals


class MaskDataset(ImageDataset):
    """An `ImageDataset` whose `labels` are masks Tensor[N, H, W]: its length counts images, not pixels.

    `full_labels`, where the images were resized, holds each mask at its own resolution (sizes may differ):
    the metrics are measured there by default (`dlbasic.segmentation.train.evaluate_model`)."""

    full_labels: list[Tensor] | None = None

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, index: Tensor) -> MaskDataset:
        out = MaskDataset(
            self.images[index], self.labels[index], self.classes, self.mean, self.std, self.name, self.split, self.info
        )
        out.full_labels = _pick(self.full_labels, index)
        return out


def _pick(full: list[Tensor] | None, index: Tensor) -> list[Tensor] | None:
    return None if full is None else [full[i] for i in torch.as_tensor(index).reshape(-1).tolist()]


def _with_full(data: MaskDataset, full: list[Tensor] | None) -> MaskDataset:
    data.full_labels = full
    return data


def _hold_out(x: Tensor, y: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """(rest, held-out) indices: a seeded random `fraction` of the pairs (at least one when fraction > 0)."""
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    k = 0 if fraction <= 0 else max(1, round(fraction * len(x)))
    check(len(x) - k >= 1, f"too few image/mask pairs ({len(x)}) to hold out {fraction:.0%}")
    return perm[k:].sort().values, perm[:k].sort().values


def load_segmentation(
    spec: str,
    split: str = "train",
    seed: int = 0,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    image_size: int | None = None,
    test_data: str | None = None,
) -> MaskDataset:
    """One split of a segmentation source; `labels` are masks Tensor[N, H, W], `info["ignore_index"]` the void id.

    `test_data` names another source whose test split (its own test folder, else all of its pairs) is the test
    split; `spec` then holds out no test pairs. Class ids must mean the same classes in both."""
    check(split in SPLITS, f"unknown split {split!r}", "choices: " + ", ".join(SPLITS))
    name, arg = parse_spec(spec)
    if test_data:
        return _with_test_source(spec, split, seed, val_fraction, image_size, test_data)
    if name == "scenes":
        sets = {s: load_scenes(spec, s, seed) for s in SPLITS}
        parts = {s: (v.images, v.masks, None) for s, v in sets.items()}
        classes, ignore = ["background", *sets["train"].classes], IGNORE_INDEX
        if image_size is not None and sets["train"].images.shape[-2:] != (image_size, image_size):
            parts = {s: (*_resize(x, y, image_size), [compact(m) for m in y]) for s, (x, y, _) in parts.items()}
        info = {"test": "scenes of held-out digits", "val": "its own validation scenes"}
    elif name == "segfolder":
        folder, originals = _read_segfolder(require_path("segfolder", arg, "folder", EXAMPLE), image_size)
        pools, classes, ignore, conventions = folder
        x, y = pools["train"]
        full = originals.get("train")
        parts, info = {}, {"test": "DIR/test", "conventions": conventions}
        if "test" in pools:
            parts["test"] = (*pools["test"], originals.get("test"))
        else:
            rest, test = _hold_out(x, y, test_fraction, seed)
            parts["test"], x, y, full = (x[test], y[test], _pick(full, test)), x[rest], y[rest], _pick(full, rest)
            info["test"] = f"random {test_fraction:.0%} hold-out (seed {seed})"
        info["val"] = "DIR/val"
        if "val" in pools:
            parts["val"] = (*pools["val"], originals.get("val"))
        else:
            info["val"] = f"random {val_fraction:.0%} of the rest (seed {seed + 1})"
            rest, val = _hold_out(x, y, val_fraction, seed + 1)
            parts["val"], x, y, full = (x[val], y[val], _pick(full, val)), x[rest], y[rest], _pick(full, rest)
        parts["train"] = (x, y, full)
    else:
        raise UserError(f"{spec!r} is not a segmentation source", "use scenes[:options] or segfolder:DIR[,options]")
    mean, std = channel_stats(parts["train"][0])
    images, masks, full = parts[split]
    if not len(images):
        option = {"val": "--val-fraction", "test": "--test-fraction"}.get(split, "--val-fraction or --test-fraction")
        raise UserError(
            f"the {split} split of {spec} has no images",
            f"{'lower' if split == 'train' else 'raise'} {option}, or use more images",
        )
    return _with_full(
        MaskDataset(images, masks, classes, mean, std, spec, split, {**info, "ignore_index": ignore}), full
    )


def _with_test_source(
    spec: str, split: str, seed: int, val_fraction: float, image_size: int | None, test_data: str
) -> MaskDataset:
    """A split of `spec` with no test hold-out, its test split from `test_data` (see `load_segmentation`)."""
    if split != "test":
        data = load_segmentation(spec, split, seed, val_fraction=val_fraction, test_fraction=0.0, image_size=image_size)
        data.info["test"] = _test_source(test_data, seed, image_size)[1]
        return data
    train = load_segmentation(spec, "train", seed, val_fraction=val_fraction, test_fraction=0.0, image_size=image_size)
    test, how = _test_source(test_data, seed, image_size)
    names = [str(c) for c in test.classes]
    named = [str(c) for c in train.classes]
    check(
        len(names) <= len(named) and all(a == b or a.isdigit() or b.isdigit() for a, b in zip(names, named)),
        f"--test-data {test_data}: its classes ({', '.join(names[:6])}) are not those of {spec} "
        f"({', '.join(named[:6])})",
        "mask ids must mean the same classes in both sources",
    )
    check(
        test.in_channels == train.in_channels,
        f"--test-data {test_data} has {test.in_channels}-channel images; {spec} has {train.in_channels}",
    )
    info = {**train.info, "test": how}
    out = MaskDataset(test.images, test.labels, train.classes, train.mean, train.std, spec, "test", info)
    return _with_full(out, test.full_labels)


def concat(parts: list[MaskDataset], split: str) -> MaskDataset:
    """The images of `parts` as one set (the first's classes and statistics), their `full_labels` too."""
    first = parts[0]
    out = MaskDataset(
        torch.cat([p.images for p in parts]),
        torch.cat([p.labels for p in parts]),
        first.classes,
        first.mean,
        first.std,
        first.name,
        split,
        first.info,
    )
    if any(p.full_labels is not None for p in parts):
        out.full_labels = [m for p in parts for m in (p.full_labels if p.full_labels is not None else list(p.labels))]
    return out


def _test_source(test_data: str, seed: int, image_size: int | None) -> tuple[MaskDataset, str]:
    """The test images of a `test_data` source and how they were chosen: its test folder, else all of its pairs."""
    opts = {"val_fraction": 0.0, "test_fraction": 0.0, "image_size": image_size}
    train = load_segmentation(test_data, "train", seed, **opts)
    if train.info.get("test") in ("DIR/test", "scenes of held-out digits"):
        return load_segmentation(test_data, "test", seed, **opts), f"the test split of {test_data}"
    if train.info.get("val") == "DIR/val":
        val = load_segmentation(test_data, "val", seed, **opts)
        train = concat([train, val], "all")
    return train, f"all images of {test_data}"


__all__ = [
    "FolderOptions",
    "MaskDataset",
    "encode_masks",
    "find_pairs",
    "load_segmentation",
    "parse_folder_spec",
    "read_segfolder",
]
