"""Atomic checkpoints: written to a temporary file in the same folder, then renamed over the old one.

A reader therefore sees either the previous complete checkpoint or the new complete one, even
if the process is killed while writing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from dlbasic.errors import UserError, check


def atomic_save(obj: Any, path: str | Path) -> None:
    """`torch.save(obj, path)` so that `path` is never left half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(text: str, path: str | Path) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by the Trainer; `UserError` for a missing or unreadable file."""
    path = Path(path)
    check(path.is_file(), f"no such checkpoint: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch.load raises many types on corrupt files
        raise UserError(f"{path} is not a readable checkpoint ({type(e).__name__}: {e})") from None
    check(isinstance(ckpt, dict) and "model" in ckpt, f"{path} is not a dlbasic checkpoint")
    return ckpt
