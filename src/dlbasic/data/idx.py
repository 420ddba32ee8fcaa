"""MNIST-format IDX files (MNIST, Fashion-MNIST, KMNIST, EMNIST), gzipped or raw.

Format (http://yann.lecun.com/exdb/mnist/): a big-endian header `0x00 0x00 <type> <ndim>`,
then `ndim` uint32 sizes, then the data in C order. `idx:DIR` reads DIR's `train-*` and
`t10k-*` (or `test-*`) image and label files. Images are kept as uint8.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dlbasic.data.sources import RawSource, require_path, sources, to_pixels
from dlbasic.errors import UserError, check

_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into an array; raise `UserError` if it is corrupt."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except (OSError, EOFError, zlib.error) as e:
        raise UserError(f"{path} is not a readable gzip file ({e})", "download it again") from None
    check(
        len(raw) >= 4 and raw[:2] == b"\x00\x00" and raw[2] in _DTYPES,
        f"{path} is not an IDX file (bad magic number {raw[:4].hex()})",
    )
    ndim = raw[3]
    header = 4 + 4 * ndim
    check(len(raw) >= header, f"{path} is truncated inside its header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    check(
        len(raw) == expected,
        f"{path} has {len(raw)} bytes but its header {shape} needs {expected}",
        "the file is truncated or corrupt: download it again",
    )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _find(root: Path, prefixes: tuple[str, ...], kind: str) -> Path:
    for prefix in prefixes:
        for pattern in (f"{prefix}-{kind}*", f"*{prefix}-{kind}*"):
            hits = sorted(p for p in root.glob(pattern) if p.is_file())
            if hits:
                return hits[0]
    raise UserError(
        f"no {prefixes[0]} {kind} IDX file in {root}",
        f"expected a file like {prefixes[0]}-{kind}-idx{3 if kind == 'images' else 1}-ubyte[.gz]",
    )


def _pair(root: Path, prefixes: tuple[str, ...]) -> tuple[Tensor, Tensor]:
    images = read_idx(_find(root, prefixes, "images"))
    labels = read_idx(_find(root, prefixes, "labels"))
    check(images.ndim == 3, f"image file in {root} has shape {images.shape}, expected (N, H, W)")
    check(len(images) == len(labels), f"{root}: {len(images)} images but {len(labels)} labels")
    return to_pixels(images.astype(np.uint8)), torch.from_numpy(labels.astype(np.int64))


@sources.register("idx")
def idx(arg: str | None) -> RawSource:
    """`idx:DIR`: train and t10k/test IDX files in DIR."""
    root = Path(require_path("idx", arg, "folder", "data/mnist")).expanduser()
    check(root.is_dir(), f"no such folder: {root}")
    train = _pair(root, ("train",))
    test = _pair(root, ("t10k", "test"))
    labels = torch.cat([train[1], test[1]])
    classes = [str(i) for i in range(int(labels.max()) + 1)]
    return RawSource({"train": train, "test": test}, classes)
