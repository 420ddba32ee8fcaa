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

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dlbasic.data import ImageDataset, channel_stats, load_scenes, parse_spec
from dlbasic.data.dataset import histogram_stats
from dlbasic.data.images import IMAGE_SUFFIXES, UNREADABLE, decode, open_image
from dlbasic.data.sources import require_path
from dlbasic.errors import UserError, check
from dlbasic.overrides import options
from dlbasic.parsing import loads_json
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
    """The folder and options of a `segfolder:` spec (`segfolder:DIR,images=image,masks=label,invert=1`), each
    option a field."""

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
    """A mask file's values as stored (uint8 for palette and grayscale PNGs; (H, W, 3) for colour)."""
    with open_image(path) as im:
        if im.mode in ("P", "L", "I", "I;16", "1"):
            return np.array(im.convert("L") if im.mode == "1" else im)
        return np.array(im.convert("RGB"))  # (H, W, 3)


def mask_encoder(raw: list[np.ndarray], opts: FolderOptions):
    """(encode, class count, how the masks were read in words) for raw mask arrays, by `opts.mode`;
    `encode(mask)` gives one mask's class ids (int64), so the masks are converted one at a time."""
    mode = opts.mode
    if mode == "auto":
        if raw[0].ndim == 3:
            mode = "rgb"
        else:
            values = np.unique(np.concatenate([np.unique(m) for m in raw]))
            mode = "binary" if len(values) == 2 and values.max() > 1 else "ids"  # e.g. {0, 255}
    if mode == "binary":
        foreground = "values up to" if opts.invert else "values above"
        return (
            lambda m: ((m > opts.threshold) != opts.invert).astype(np.int64),
            2,
            f"binary masks: {foreground} {opts.threshold} are class 1",
        )
    if mode == "rgb":
        check(raw[0].ndim == 3, "mode=rgb needs colour masks")

        def code(m: np.ndarray) -> np.ndarray:
            m = m.astype(np.int64)
            return m[..., 0] * 65536 + m[..., 1] * 256 + m[..., 2]

        palette = np.unique(np.concatenate([np.unique(code(m)) for m in raw]))  # every colour, in order
        return lambda m: np.searchsorted(palette, code(m)), len(palette), f"RGB masks: {len(palette)} colours"
    check(raw[0].ndim == 2, "mode=ids needs single-channel masks (grayscale or palette PNG)")
    top = max(int(m[m != opts.ignore].max(initial=0)) for m in raw)
    check(
        opts.classes is None or top < opts.classes,
        f"the masks in {opts.root} hold class id {top}, but "
        f"classes={opts.classes} allows 0 to {(opts.classes or 1) - 1}",
        f"raise classes= to {top + 1} or more, or leave it out",
    )
    return (
        lambda m: m.astype(np.int64),
        opts.classes or top + 1,
        f"class-id masks: ids 0 to {top}, {opts.ignore} is void",
    )


def encode_masks(raw: list[np.ndarray], opts: FolderOptions) -> tuple[list[np.ndarray], int, str]:
    """Raw mask arrays -> class-id arrays, the class count, and how they were read (in words), by `opts.mode`."""
    encode, num_classes, how = mask_encoder(raw, opts)
    return [encode(m) for m in raw], num_classes, how


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


def name_lut(masks: list[np.ndarray], names: list[str], ignore: int, where: Path) -> tuple[np.ndarray, list[str]]:
    """(lut, kept names): id k of the masks becomes `lut[k]` (`rename`); void classes and ids past the names
    become `ignore`, the latter with a warning saying how many pixels."""
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
    return lut, [names[k] for k in keep]


def rename(mask: np.ndarray, lut: np.ndarray, ignore: int) -> np.ndarray:
    """One id mask through `name_lut`'s table (int64); `ignore` stays."""
    mask = mask.astype(np.int64)
    return np.where(mask == ignore, ignore, lut[np.minimum(mask, len(lut) - 1)])


def apply_names(
    masks: list[np.ndarray], names: list[str], ignore: int, where: Path
) -> tuple[list[np.ndarray], list[str]]:
    """Id masks renumbered to the named classes: void classes and ids past the names become `ignore`."""
    lut, kept = name_lut(masks, names, ignore, where)
    return [rename(m, lut, ignore) for m in masks], kept


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
    """A `segfolder:` source as read (`read_segfolder`): the images and masks of each split found, the class
    names, the void label, and the conventions found, in words."""

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


CACHE_VERSION = 1


class _Read(NamedTuple):
    folder: SegFolder
    originals: dict[str, list[Tensor]]  # split -> masks at their own resolution, where they were resized
    histograms: dict[str, Tensor]  # split -> Tensor[N, C, 256] int64, each stored image's values per channel


def _stat(path: Path | None) -> list:
    try:
        st = os.stat(path)  # type: ignore[arg-type]
        return [st.st_size, st.st_mtime_ns]
    except (OSError, TypeError):
        return [-1, -1]


@functools.lru_cache(maxsize=4)
def _read_segfolder(arg: str, size: int | None = None) -> _Read:
    """`read_segfolder`, from the cache of decoded folders (`dlbasic.data.folder.cache_dir`) while every file
    is unchanged: images uint8 Tensor[N, C, H, W] and masks (uint8 where ids fit) mapped from `.npy` files."""
    from dlbasic.data.folder import cache_dir

    opts = parse_folder_spec(arg)
    size = opts.size or size
    pairs = find_pairs(opts)
    names = name_file(opts)
    want = {
        "version": CACHE_VERSION,
        "root": str(opts.root.resolve()),
        "size": size,
        "options": {k: str(v) for k, v in dataclasses.asdict(opts).items() if k not in ("root", "size")},
        "names": [str(names), *_stat(names)] if names is not None else None,
        "pairs": {s: [[str(i), *_stat(i), str(m), *_stat(m)] for i, m in p] for s, p in pairs.items()},
    }
    key = hashlib.sha256(json.dumps([want["root"], size, want["options"], CACHE_VERSION]).encode()).hexdigest()[:16]
    manifest = cache_dir() / f"segfolder-{key}.json"
    found = _cached(manifest, want)
    if found is None:
        with warnings.catch_warnings(record=True) as caught:  # kept with the entry: said on every load
            warnings.simplefilter("always")
            arrays, entry = _decode_segfolder(opts, pairs, size)
        entry["warnings"] = list(dict.fromkeys(" ".join(str(w.message).split()) for w in caught))
        found = _store(manifest, want, arrays, entry)
    (images, masks, hists, flat), entry = found
    for text in entry["warnings"]:
        warnings.warn(text, stacklevel=3)
    pools, originals, histograms, start, offset = {}, {}, {}, 0, 0
    for split, n in entry["counts"].items():
        pools[split] = (torch.from_numpy(images[start : start + n]), torch.from_numpy(masks[start : start + n]))
        histograms[split] = torch.from_numpy(np.asarray(hists[start : start + n]))
        if flat is not None:
            originals[split] = []
            for h, w in entry["shapes"][start : start + n]:
                originals[split].append(torch.from_numpy(np.asarray(flat[offset : offset + h * w]).reshape(h, w)))
                offset += h * w
        start += n
    folder = SegFolder(pools, entry["classes"], opts.ignore, entry["conventions"])
    return _Read(folder, originals, histograms)


def _cached(manifest: Path, want: dict) -> tuple[tuple, dict] | None:
    """The mapped arrays and the entry of a cache manifest that matches `want`; None when there is none."""
    try:
        entry = loads_json(manifest.read_bytes(), manifest)
        if any(entry.get(k) != v for k, v in want.items()):
            return None
        arrays = []
        for name in entry["arrays"]:
            if name is not None and Path(name).name != name:
                return None
            arrays.append(None if name is None else np.load(manifest.parent / name, mmap_mode="c"))
        images, masks, hists, _ = arrays
        n = sum(entry["counts"].values())
        ok = images.shape[0] == masks.shape[0] == hists.shape[0] == n and images.dtype == np.uint8
        return (tuple(arrays), entry) if ok else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, UserError):  # no usable entry: decode again
        return None


def _store(manifest: Path, want: dict, arrays: tuple, entry: dict) -> tuple[tuple, dict]:
    """Write the decoded arrays and their manifest into the cache (temporary names, then renamed); mapped back.
    Where the cache cannot be written, the arrays in memory."""
    from dlbasic.data.folder import _remove_stale, _write_atomic

    stem = f"{manifest.stem}-{os.getpid()}-{secrets.token_hex(4)}"
    names = [None if a is None else f"{stem}-{k}.npy" for k, a in enumerate(arrays)]
    try:
        manifest.parent.mkdir(parents=True, exist_ok=True)
        previous = None
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, UserError):
            previous = loads_json(manifest.read_bytes(), manifest).get("arrays")
        for a, name in zip(arrays, names):
            if a is not None:
                tmp = manifest.parent / f"{name}.tmp"
                with open(tmp, "wb") as f:
                    np.save(f, a)
                os.replace(tmp, manifest.parent / name)
        _write_atomic(manifest, json.dumps({**want, **entry, "arrays": names}))
        for name in previous or []:  # a reader that still maps one keeps its copy
            if isinstance(name, str) and Path(name).name == name and name not in names:
                with contextlib.suppress(OSError):
                    (manifest.parent / name).unlink()
    except OSError as e:
        warnings.warn(f"cannot cache the decoded pairs in {manifest.parent} ({e}); kept in memory", stacklevel=4)
        return arrays, entry
    _remove_stale(manifest.parent)
    del arrays
    return tuple(None if n is None else np.load(manifest.parent / n, mmap_mode="c") for n in names), entry


def _resize_image(image: np.ndarray, size: int | None) -> np.ndarray:
    """uint8 (H, W) or (H, W, C) -> uint8 (C, size, size): bilinear with antialiasing, rounded (unchanged when
    `size` is None or the image has that size)."""
    x = torch.from_numpy(image)
    x = x[None] if x.dim() == 2 else x.permute(2, 0, 1)
    if size is None or tuple(x.shape[-2:]) == (size, size):
        return x.numpy()
    y = F.interpolate(x[None].float().div(255), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return y[0].clamp_(0, 1).mul_(255).round_().to(torch.uint8).numpy()


def _decode_segfolder(opts: FolderOptions, pairs: dict, size: int | None) -> tuple[tuple, dict]:
    """Decode every pair: (images uint8 [N, C, H, W], masks [N, H, W], histograms [N, C, 256], the masks at their
    own resolution flattened or None) and the entry (counts per split, classes, conventions, shapes)."""
    images, order, raw_masks = _read_pairs(opts, pairs, size)
    encode, lut, classes, conventions = _mask_classes(opts, pairs, raw_masks)
    num_classes = len(classes)
    dtype = np.uint8 if max(num_classes - 1, opts.ignore) < 256 and opts.ignore >= 0 else np.int32
    shapes = [m.shape[:2] for m in raw_masks]
    resized = size is not None and any(h != size or w != size for h, w in shapes)
    masks, hists, flat, present = _encode_masks(opts, images, raw_masks, encode, lut, dtype, size, resized)
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
    counts = {s: order.count(s) for s in dict.fromkeys(order)}
    entry = {"counts": counts, "classes": classes, "conventions": conventions, "shapes": []}
    if flat is not None:
        entry["shapes"] = [[int(h), int(w)] for h, w in shapes]
    return (images, masks, hists, flat), entry


def _read_pairs(opts: FolderOptions, pairs: dict, size: int | None) -> tuple[np.ndarray, list[str], list]:
    """The readable pairs, split by split: images uint8 [N, C, H, W] (resized to `size`), the split of each, and
    the masks as read. Unreadable pairs are skipped with a warning; none readable in train is an error."""
    mode = None  # the first readable training image's: "L" for grayscale, else "RGB"
    order, raw_masks = [], []
    images = None  # uint8 [pairs, C, H, W], filled as the pairs are read
    skipped: list[str] = []  # warned about once some pair is known to be readable
    shape = None
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
            shape = shape or image.shape[:2]
            check(
                size is not None or image.shape[:2] == shape,
                f"the {split} images differ in size" if order and order[-1] == split else "the images differ in size",
                "resize them with size=N",
            )
            stored = _resize_image(image, size)
            if images is None:
                images = np.empty((sum(map(len, pairs.values())), *stored.shape), np.uint8)
            images[len(order)] = stored
            order.append(split)
            raw_masks.append(mask)
    if "train" not in order:
        first = f" (e.g. {skipped[0].removeprefix('skipping ')})" if skipped else ""
        raise UserError(
            f"no readable image/mask pairs in {opts.root}{first}",
            "images and masks are PNG/JPEG files, each mask named like its image",
        )
    for message in skipped:
        warnings.warn(message, stacklevel=3)
    return images[: len(order)], order, raw_masks


def _mask_classes(opts: FolderOptions, pairs: dict, raw_masks: list) -> tuple[Any, Any, list[str], list[str]]:
    """How masks become class ids: the encoder, the lookup table of a class names file (or None), the class
    names, and the conventions found (where images and masks are, the encoding, the names)."""
    check(
        len({m.ndim for m in raw_masks}) == 1,
        f"the masks in {opts.root} mix colour and single-channel images",
        "save them all as grayscale/palette PNGs of class ids, or all as RGB colours",
    )
    encode, num_classes, encoding = mask_encoder(raw_masks, opts)
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
    lut = None
    if names is not None:
        check(
            raw_masks[0].ndim == 2 and opts.mode in ("auto", "ids"),
            "a class names file applies to id masks",
            "use mode=ids, or remove the names file",
        )
        outside = outside_names(raw_masks, names, opts.ignore)
        conventions += [outside] if outside else []
        lut, classes = name_lut(raw_masks, names, opts.ignore, opts.root)
    return encode, lut, classes, conventions


def _encode_masks(opts, images, raw_masks, encode, lut, dtype, size, resized):
    """Class-id masks [N, H, W] at the images' size, the images' histograms [N, C, 256], the masks at their own
    resolution flattened (when resized, else None) and the classes present (up to two are looked for).
    Releases each raw mask once encoded."""
    n = len(raw_masks)
    masks = np.empty((n, *images.shape[-2:]), dtype)
    flat = np.empty(sum(m.shape[0] * m.shape[1] for m in raw_masks), dtype) if resized else None
    hists = np.zeros((n, images.shape[1], 256), np.int64)
    present: set[int] = set()
    offset = 0
    for k in range(n):
        m = encode(raw_masks[k])
        raw_masks[k] = None  # type: ignore[call-overload]
        if lut is not None:
            m = rename(m, lut, opts.ignore)
        if len(present) < 2:
            present.update(np.unique(m[m != opts.ignore]).tolist())
        if flat is not None:
            flat[offset : offset + m.size] = m.ravel()
            offset += m.size
        t = torch.from_numpy(m)
        if size is not None and tuple(t.shape) != (size, size):
            t = F.interpolate(t[None, None].float(), size=(size, size), mode="nearest")[0, 0].long()
        masks[k] = t.numpy()
        for c in range(images.shape[1]):
            hists[k, c] = np.bincount(images[k, c].ravel(), minlength=256)
    return masks, hists, flat, present


class MaskDataset(ImageDataset):
    """An `ImageDataset` whose `labels` are masks Tensor[N, H, W]: its length counts images, not pixels.

    `full_labels`, where the images were resized, holds each mask at its own resolution (sizes may differ):
    the metrics are measured there by default (`dlbasic.segmentation.train.evaluate_model`)."""

    full_labels: list[Tensor] | None = None

    def __len__(self) -> int:
        return self.labels.shape[0]

    def batch(self, index: Tensor | slice) -> tuple[Tensor, Tensor]:
        """(images float32 in [0, 1], masks int64) of `index`: stored pixels and masks converted per batch."""
        x, y = super().batch(index)
        return x, y.long()

    def subset(self, index: Tensor) -> MaskDataset:
        """The same dataset restricted to `index` (statistics unchanged), sharing its pixels."""
        index = torch.as_tensor(index)
        if index.dtype == torch.bool:
            index = index.nonzero().squeeze(1)
        rows = index if self.rows is None else self.rows[index]
        out = MaskDataset(
            self.pixels, self.labels[index], self.classes, self.mean, self.std, self.name, self.split, self.info, rows
        )
        out.full_labels = _pick(self.full_labels, index)
        return out

    def stored(self) -> Tensor:
        """The stored pixels of this dataset's images (uint8 for folders), in order: a copy when `rows` is set."""
        return self.pixels if self.rows is None else self.pixels[self.rows]


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
        parts = {s: (v.images, None, v.masks, None) for s, v in sets.items()}
        classes, ignore = ["background", *sets["train"].classes], IGNORE_INDEX
        if image_size is not None and sets["train"].images.shape[-2:] != (image_size, image_size):
            resized = {s: (*_resize(x, y, image_size), [compact(m) for m in y]) for s, (x, _, y, _) in parts.items()}
            parts = {s: (x, None, y, full) for s, (x, y, full) in resized.items()}
        info = {"test": "scenes of held-out digits", "val": "its own validation scenes"}
        mean, std = channel_stats(parts["train"][0])
    elif name == "segfolder":
        read = _read_segfolder(require_path("segfolder", arg, "folder", EXAMPLE), image_size)
        pools, classes, ignore, conventions = read.folder
        x, y = pools["train"]
        full = read.originals.get("train")
        rest = torch.arange(len(y))
        parts, info = {}, {"test": "DIR/test", "val": "DIR/val", "conventions": conventions}
        for split_name, fraction, offset in (("test", test_fraction, 0), ("val", val_fraction, 1)):
            if split_name in pools:
                parts[split_name] = (pools[split_name][0], None, pools[split_name][1], read.originals.get(split_name))
                continue
            kept, held = _hold_out(rest, rest, fraction, seed + offset)
            held, rest = rest[held], rest[kept]
            parts[split_name] = (x, held, y[held], _pick(full, held))
            info[split_name] = (
                f"random {fraction:.0%} hold-out (seed {seed})"
                if split_name == "test"
                else f"random {fraction:.0%} of the rest (seed {seed + 1})"
            )
        whole = len(rest) == len(y)
        parts["train"] = (x, None if whole else rest, y if whole else y[rest], full if whole else _pick(full, rest))
        counts = read.histograms["train"].sum(0) if whole else read.histograms["train"][rest].sum(0)
        mean, std = histogram_stats(counts)
    else:
        raise UserError(f"{spec!r} is not a segmentation source", "use scenes[:options] or segfolder:DIR[,options]")
    pixels, rows, masks, full = parts[split]
    if not len(masks):
        option = {"val": "--val-fraction", "test": "--test-fraction"}.get(split, "--val-fraction or --test-fraction")
        raise UserError(
            f"the {split} split of {spec} has no images",
            f"{'lower' if split == 'train' else 'raise'} {option}, or use more images",
        )
    info = {**info, "ignore_index": ignore}
    return _with_full(MaskDataset(pixels, masks, classes, mean, std, spec, split, info, rows), full)


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
    out = MaskDataset(test.pixels, test.labels, train.classes, train.mean, train.std, spec, "test", info, test.rows)
    return _with_full(out, test.full_labels)


def concat(parts: list[MaskDataset], split: str) -> MaskDataset:
    """The images of `parts` as one set (the first's classes and statistics), their `full_labels` too."""
    first = parts[0]
    out = MaskDataset(
        torch.cat([p.stored() for p in parts]),
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
    "compact",
    "concat",
    "encode_masks",
    "find_pairs",
    "load_segmentation",
    "mask_encoder",
    "name_lut",
    "outside_names",
    "parse_folder_spec",
    "read_segfolder",
    "rename",
]
