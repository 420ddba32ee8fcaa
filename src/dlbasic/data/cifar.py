"""CIFAR-10 python batches (`data_batch_1..5`, `test_batch`, `batches.meta`).

Format: https://www.cs.toronto.edu/~kriz/cifar.html. Each batch is a pickled dict with
`data` (uint8, N x 3072, channel-major 32x32) and `labels`.

The pickles are read by an unpickler that rebuilds plain values and numpy arrays only: a file whose pickle
would call any other function is refused, never run.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from dlbasic.data.sources import RawSource, require_path, sources
from dlbasic.errors import UserError, check

# what a CIFAR pickle (written by Python 2 or 3, numpy 1 or 2) needs: arrays, their dtypes and scalars, and
# the bytes encoder of protocol 2
_ARRAY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Plain values and numpy arrays; any other global a pickle names is refused."""

    def __init__(self, file, path: Path):
        super().__init__(file, encoding="bytes")
        self.path = path

    def find_class(self, module: str, name: str):
        if (module, name) not in _ARRAY_GLOBALS:
            raise UserError(
                f"refused to load {self.path}: it would run code ({module}.{name})",
                "a CIFAR batch holds arrays and plain values only; download it again from the dataset's site",
            )
        return super().find_class(module, name)


def load_pickle(path: Path):
    """The value of a pickle file of plain values and numpy arrays (`_ArrayUnpickler`)."""
    with open(path, "rb") as f:
        return _ArrayUnpickler(f, path).load()


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR batch -> (uint8 [N, 3, 32, 32], int64 [N]); `UserError` when unreadable."""
    try:
        batch = load_pickle(path)
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch.get(b"labels", batch.get(b"fine_labels")), dtype=np.int64)
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except UserError:
        raise
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
        try:
            names = load_pickle(meta).get(b"label_names")
        except UserError:
            raise
        except Exception as e:  # pickle raises many types on corrupt input
            raise UserError(f"{meta} is not a readable CIFAR metadata file ({type(e).__name__}: {e})") from None
        if names:
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]

    def tensors(x, y):  # pixels stay uint8
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)

    pools = {
        "train": tensors(np.concatenate([b[0] for b in train]), np.concatenate([b[1] for b in train])),
        "test": tensors(*test),
    }
    return RawSource(pools, classes)
