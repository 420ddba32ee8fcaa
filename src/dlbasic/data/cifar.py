"""CIFAR-10 python batches (`data_batch_1..5`, `test_batch`, `batches.meta`).

Format: https://www.cs.toronto.edu/~kriz/cifar.html. Each batch is a pickled dict with
`data` (uint8, N x 3072, channel-major 32x32) and `labels`.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from dlbasic.data.sources import RawSource, require_path, sources
from dlbasic.errors import UserError, check


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR batch -> (uint8 [N, 3, 32, 32], int64 [N]); `UserError` when unreadable."""
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch.get(b"labels", batch.get(b"fine_labels")), dtype=np.int64)
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except Exception as e:  # pickle raises many types on corrupt input
        raise UserError(
            f"{path} is not a readable CIFAR batch ({type(e).__name__}: {e})",
            "download the python version of CIFAR-10 again",
        ) from None
    check(
        data.ndim == 2 and data.shape[1] == 3072 and len(data) == len(labels),
        f"{path}: data of shape {data.shape} with {len(labels)} labels, expected N x 3072",
    )
    return data.reshape(-1, 3, 32, 32), labels


@sources.register("cifar10")
def cifar10(arg: str | None) -> RawSource:
    """`cifar10:DIR`: DIR holds the batches (or a `cifar-10-batches-py` folder that does)."""
    root = Path(require_path("cifar10", arg, "folder", "data/cifar-10-batches-py")).expanduser()
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    check(root.is_dir(), f"no such folder: {root}")
    train_files = sorted(root.glob("data_batch_*"))
    check(bool(train_files), f"no data_batch_* files in {root}", "point cifar10: at cifar-10-batches-py")
    train = [read_batch(p) for p in train_files]
    test = read_batch(root / "test_batch")
    classes = [str(i) for i in range(10)]
    meta = root / "batches.meta"
    if meta.exists():
        with open(meta, "rb") as f:
            names = pickle.load(f, encoding="bytes").get(b"label_names")
        if names:
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]

    def tensors(x, y):  # pixels stay uint8
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)

    pools = {
        "train": tensors(np.concatenate([b[0] for b in train]), np.concatenate([b[1] for b in train])),
        "test": tensors(*test),
    }
    return RawSource(pools, classes)
