"""Image folders: one sub-folder per class of PNG/JPEG files (`DIR/train`, `DIR/test` when present).

The files are decoded once, by worker processes, into a cache: a uint8 array (`.npy`, N x C x H x W)
and a JSON manifest naming every file with its size and modification time, and the decode options
(image size, mode). Later loads map the array from disk (`np.load(mmap_mode=...)`) while the manifest
still matches the folder, so they start in a moment and a set larger than memory streams from disk;
a file changed, added or removed decodes the folder again. The cache lives in `$DLBASIC_CACHE/data`
(default `~/.cache/dlbasic/data`); files are written under temporary names and renamed into place, and
the entries of folders that no longer exist are removed by a later decode, a day after they were written.

Files that cannot be read (empty, truncated, not an image, or over PIL's `Image.MAX_IMAGE_PIXELS`
decompression-bomb limit) are skipped with a warning naming them, on every load.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import multiprocessing
import os
import secrets
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import torch

from dlbasic.data.images import GRAY_MODES, IMAGE_SUFFIXES, UNREADABLE, channels_first, decode, open_image
from dlbasic.data.sources import RawSource, require_path, sources
from dlbasic.errors import UserError, check
from dlbasic.parsing import loads_json

CACHE_VERSION = 1
POOL_MIN_FILES = 512  # smaller folders are decoded in this process: starting workers would cost more
STALE_SECONDS = 86400  # leftovers of interrupted decodes and entries of removed folders go after a day


def class_folders(root: Path) -> list[Path]:
    """The class sub-folders of `root`, sorted by path; hidden ones (names starting with `.`) are left out."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def cache_dir() -> Path:
    """Where decoded folders are cached: `$DLBASIC_CACHE/data`, by default `~/.cache/dlbasic/data`."""
    return Path(os.environ.get("DLBASIC_CACHE") or Path.home() / ".cache" / "dlbasic").expanduser() / "data"


def sorted_names(folder: Path) -> list[str]:
    """Names of the entries of `folder`, in the order of their sorted paths (`sorted(folder.iterdir())`, faster)."""
    return sorted(os.listdir(folder), key=str.lower if os.name == "nt" else None)  # as Windows paths compare


def is_image(name: str) -> bool:
    """Whether a file name has an image suffix (`IMAGE_SUFFIXES`, any case)."""
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def list_images(root: Path, classes: list[str]) -> list[list]:
    """[path relative to root, size, mtime_ns] of the image files in root/<class>, class by class, sorted by name."""
    files = []
    for name in classes:
        d = root / name
        if not d.is_dir():
            continue
        for n in filter(is_image, sorted_names(d)):
            try:
                st = os.stat(os.path.join(d, n))
                files.append([f"{name}/{n}", st.st_size, st.st_mtime_ns])
            except OSError:  # a dangling link: decoding it fails and names it
                files.append([f"{name}/{n}", -1, -1])
    return files


def read_folder(root: Path, classes: list[str], size: int, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images Tensor[N, C, size, size] (mapped from the cache) and labels of the readable files under root."""
    files = list_images(root, classes)
    want = {
        "version": CACHE_VERSION,
        "root": str(root.resolve()),
        "size": size,
        "mode": mode,
        "classes": classes,
        "files": files,
    }
    key = hashlib.sha256(json.dumps([want["root"], size, mode, CACHE_VERSION]).encode()).hexdigest()[:16]
    manifest = cache_dir() / f"folder-{key}.json"
    found = _cached(manifest, want) if files else None
    if found is None:
        found = _decode(root, manifest, want) if files else (None, {})
    pixels, skipped = found
    if pixels is None:  # one line, not a warning per file first
        first = next(iter(skipped.items()), None)
        seen = f" ({len(skipped)} unreadable, e.g. {root / first[0]}: {first[1]})" if first else ""
        raise UserError(f"no readable images under {root}{seen}", "expected DIR/<class>/<image>.png")
    for rel, message in skipped.items():
        warnings.warn(f"skipping unreadable image {root / rel}: {message}", stacklevel=3)
    index = {name: i for i, name in enumerate(classes)}
    labels = [index[rel.partition("/")[0]] for rel, _, _ in files if rel not in skipped]
    return torch.from_numpy(pixels), torch.tensor(labels, dtype=torch.long)


def _cached(manifest: Path, want: dict) -> tuple[np.ndarray, dict[str, str]] | None:
    """The mapped array and skipped files of a cache entry that matches `want`; None when there is none."""
    try:
        entry = loads_json(manifest.read_bytes(), manifest)
        if any(entry.get(k) != v for k, v in want.items()):
            return None
        name, skipped = entry["pixels"], dict(entry["skipped"])
        if Path(name).name != name:
            return None
        pixels = np.load(manifest.parent / name, mmap_mode="c")  # copy-on-write: the file is never changed
    except (OSError, ValueError, KeyError, TypeError, AttributeError, UserError):  # no usable entry: decode again
        return None
    channels = 1 if want["mode"] == "L" else 3
    shape = (len(want["files"]) - len(skipped), channels, want["size"], want["size"])
    return (pixels, skipped) if pixels.dtype == np.uint8 and pixels.shape == shape else None


def _decode(root: Path, manifest: Path, want: dict) -> tuple[np.ndarray | None, dict[str, str]]:
    """Decode every file into a new cache entry (or into memory when the cache cannot be written)."""
    files, size, mode = want["files"], want["size"], want["mode"]
    shape = (len(files), 1 if mode == "L" else 3, size, size)
    stem = f"{manifest.stem}-{os.getpid()}-{secrets.token_hex(4)}"
    tmp = manifest.parent / f"{stem}.npy.tmp"
    try:
        manifest.parent.mkdir(parents=True, exist_ok=True)
        _allocate(tmp, shape)
    except OSError as e:
        warnings.warn(
            f"cannot cache the decoded images of {root} in {manifest.parent} ({e}); decoding into memory", stacklevel=4
        )
        with contextlib.suppress(OSError):
            tmp.unlink()
        out = np.empty(shape, np.uint8)
        failed = _decode_all([root / f for f, _, _ in files], mode, size, None, out, f"decoding {root}")
        keep = [i for i in range(len(files)) if i not in failed]
        return (out[keep] if keep else None), {files[i][0]: failed[i] for i in sorted(failed)}
    try:
        failed = _decode_all([root / f for f, _, _ in files], mode, size, tmp, None, f"decoding {root}")
        skipped = {files[i][0]: failed[i] for i in sorted(failed)}
        keep = [i for i in range(len(files)) if i not in failed]
        if not keep:
            return None, skipped
        if failed:  # move the readable rows into an array of their own
            src = np.load(tmp, mmap_mode="r")
            compact = manifest.parent / f"{stem}-compact.npy.tmp"
            _allocate(compact, (len(keep), *shape[1:]))
            dst = np.load(compact, mmap_mode="r+")
            for i in range(0, len(keep), 4096):
                dst[i : i + 4096] = src[keep[i : i + 4096]]
            dst.flush()
            del src, dst
            os.replace(compact, tmp)
        final = manifest.parent / f"{stem}.npy"
        os.replace(tmp, final)
        pixels = np.load(final, mmap_mode="c")
        previous = _previous_array(manifest)
        _write_atomic(manifest, json.dumps({**want, "pixels": final.name, "skipped": skipped}))
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    if previous is not None and previous != final.name:  # a reader that still maps it keeps its copy
        with contextlib.suppress(OSError):
            (manifest.parent / previous).unlink()
    _remove_stale(manifest.parent)
    return pixels, skipped


def _allocate(path: Path, shape: tuple[int, ...]) -> None:
    """An .npy file of uint8 zeros of `shape`, its blocks reserved (a full disk fails here, not while writing)."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    offset = out.offset
    del out
    if hasattr(os, "posix_fallocate"):
        fd = os.open(path, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, offset + int(np.prod(shape)))
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system without it: written as it goes
                raise
        finally:
            os.close(fd)


def _decode_all(
    paths: list[Path], mode: str, size: int, target: Path | None, out: np.ndarray | None, desc: str
) -> dict[int, str]:
    """Decode `paths` into rows of the .npy file `target` (or of the array `out`); {row: error} of unreadable files.

    Chunks of files go to worker processes, which write their rows straight into the file.
    """
    from tqdm import tqdm

    workers = _workers(len(paths))
    step = max(16, min(1024, -(-len(paths) // (8 * workers))))
    tasks = [(target, paths[i : i + step], i, mode, size) for i in range(0, len(paths), step)]
    failed: dict[int, str] = {}
    with contextlib.ExitStack() as stack:
        if workers > 1:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))
            stack.callback(pool.shutdown, wait=True, cancel_futures=True)
            results = (f.result() for f in as_completed([pool.submit(_decode_chunk, *t) for t in tasks]))
        else:
            results = (_decode_chunk(*t) for t in tasks)
        bar = stack.enter_context(
            tqdm(total=len(paths), desc=desc, unit="img", file=sys.stderr, leave=False, disable=not sys.stderr.isatty())
        )
        said: dict[tuple[type, str], None] = {}
        for start, count, rows, errors, notes in results:
            if rows is not None:
                out[start : start + count] = rows
            failed.update(errors)
            said.update(dict.fromkeys(notes))
            bar.update(count)
    for category, text in said:  # the decoders' warnings, each once (they name their file), from this process
        warnings.warn(text, category, stacklevel=4)
    return failed


def _workers(n: int) -> int:
    if n < POOL_MIN_FILES:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, n // 64))


def _decode_chunk(
    target: Path | None, paths: list[Path], start: int, mode: str, size: int
) -> tuple[int, int, np.ndarray | None, dict[int, str]]:
    """Decode `paths` into rows start.. of the .npy `target` (or return the rows when there is none).

    Returns (start, number of files, the rows or None, {row: error} of the unreadable files, the warnings
    as (category, text)).
    """
    channels = 1 if mode == "L" else 3
    rows = (
        np.load(target, mmap_mode="r+")[start : start + len(paths)]
        if target is not None
        else np.zeros((len(paths), channels, size, size), np.uint8)
    )
    errors = {}
    with warnings.catch_warnings(record=True) as caught:  # returned to the parent, which warns once
        warnings.simplefilter("always")
        for j, path in enumerate(paths):
            try:
                a = decode(path, mode, size)
            except UNREADABLE as e:  # PIL names the file in its message; the warning names it once
                errors[start + j] = " ".join(str(e).replace(f" {str(path)!r}", "").split())
                continue
            rows[j] = channels_first(a)
    notes = list(dict.fromkeys((w.category, str(w.message)) for w in caught))
    return start, len(paths), (rows if target is None else None), errors, notes


def _previous_array(manifest: Path) -> str | None:
    try:
        name = loads_json(manifest.read_bytes(), manifest)["pixels"]
    except (OSError, ValueError, KeyError, TypeError, UserError):
        return None
    return name if isinstance(name, str) and Path(name).name == name else None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _remove_stale(folder: Path) -> None:
    """Remove, once older than `STALE_SECONDS`, what interrupted decodes left behind and the entries of folders
    that no longer exist (image folders' and segmentation folders' `segfolder-*` entries, with their arrays)."""
    now = time.time()
    for p in [*folder.glob("folder-*.tmp"), *folder.glob("folder-*.json"), *folder.glob("segfolder-*.tmp")]:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, UserError):
            if now - p.stat().st_mtime <= STALE_SECONDS:
                continue
            if p.suffix == ".tmp":
                p.unlink()
            elif not Path(loads_json(p.read_bytes(), p)["root"]).is_dir():
                name = _previous_array(p)
                p.unlink()
                if name is not None:
                    (folder / name).unlink()
    for p in folder.glob("segfolder-*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError, UserError):
            entry = loads_json(p.read_bytes(), p)
            if now - p.stat().st_mtime <= STALE_SECONDS or Path(entry["root"]).is_dir():
                continue
            p.unlink()
            for name in entry.get("arrays") or []:
                if isinstance(name, str) and Path(name).name == name:
                    (folder / name).unlink(missing_ok=True)


def _mode(root: Path) -> str:
    """'L' when every sampled image is grayscale, else 'RGB'."""
    sample = [d / n for d in class_folders(root) for n in sorted_names(d)[:5] if is_image(n)]
    modes = set()
    for p in sample:
        try:
            with open_image(p) as im:
                modes.add(im.mode)
        except UNREADABLE:
            pass
    return "L" if modes and modes <= set(GRAY_MODES) else "RGB"


@sources.register("folder")
def folder(arg: str | None, image_size: int = 32) -> RawSource:
    """`folder:DIR`: classes are DIR's sub-folders, or DIR/train's with DIR/val (or DIR/valid) and DIR/test as
    the official validation and test sets."""
    root = Path(require_path("folder", arg, "folder", "data/pets")).expanduser()
    check(root.is_dir(), f"no such folder: {root}")
    train_root = root / "train" if (root / "train").is_dir() else root
    classes = [p.name for p in class_folders(train_root)]
    if not classes:
        raise UserError(f"{train_root} has no class sub-folders", "expected DIR/<class>/<image>.png")
    mode = _mode(train_root)
    pools = {"train": read_folder(train_root, classes, image_size, mode)}
    found = [classes[i] for i in pools["train"][1].unique().tolist()]
    check(
        len(found) >= 2,
        f"{train_root}: only the class {found[0]!r} has images, so there is nothing to classify",
        "put each class's images in a sub-folder of its own, DIR/<class>/<image>.png, two classes at least",
    )
    if train_root is not root:
        for split, names in (("val", ("val", "valid", "validation")), ("test", ("test",))):
            found_dir = next((root / n for n in names if (root / n).is_dir()), None)
            if found_dir is not None:
                pools[split] = read_folder(found_dir, classes, image_size, mode)
    return RawSource(pools, classes)
