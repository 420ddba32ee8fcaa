"""Files of tensors written atomically and read without running code: checkpoints, weights, results.

A checkpoint is written to a temporary file in the same folder, then renamed over the old one, so a
reader sees either the previous complete checkpoint or the new complete one, even if the process is
killed while writing. A failed write (full disk, read-only folder, file-size limit) leaves the old
file as it was and is reported in one line.

Checkpoints hold tensors and plain Python types only and are read with
`torch.load(weights_only=True)`: a crafted pickle that would call a function is refused, never run.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from dlbasic.errors import UserError, check


def _write_failed(path: Path, error: OSError) -> UserError:
    kept = "the previous file is kept" if path.exists() else "nothing was written"
    return UserError(
        f"could not write {path}: {error.strerror or error} ({kept})",
        "free some space, check the folder's permissions and limits, or choose another folder",
    )


def atomic_write_bytes(data: bytes | memoryview, path: str | Path) -> None:
    """Write `data` to `path` through a temporary file and a rename; `UserError` if the write fails."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise _write_failed(path, e) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def atomic_save(obj: Any, path: str | Path) -> None:
    """`torch.save(obj, path)` so that `path` is never left half-written.

    The object is serialized in memory first, so a full disk or a file-size limit surfaces as an
    `OSError` of the write (torch's own writer reports it as an opaque internal error).
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(buffer.getbuffer(), path)


def atomic_write_text(text: str, path: str | Path) -> None:
    """Write `text` (UTF-8) to `path` through a temporary file and a rename, so it is never half-written."""
    atomic_write_bytes(text.encode(), path)


def read_tensors(path: str | Path, what: str = "checkpoint") -> Any:
    """`torch.load(path, weights_only=True)` on the CPU; `UserError` for a missing, corrupt or unsafe file."""
    path = Path(path)
    if path.is_dir():
        inside = next((path / name for name in ("best.pt", "checkpoint.pt") if (path / name).is_file()), None)
        raise UserError(
            f"{path} is a folder, not a {what} file",
            f"pass {inside}"
            if inside is not None
            else f"pass the {what} file itself (a run folder holds best.pt and checkpoint.pt)",
        )
    check(path.is_file(), f"no such {what}: {path}")
    try:
        with warnings.catch_warnings(record=True) as caught:  # torch's remarks on the pickle: the refusal says it
            warnings.simplefilter("always")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises many types on corrupt files
        code = re.search(r"unsupported global:? (?:GLOBAL )?(\S+)", str(e), re.IGNORECASE)
        if code:
            raise UserError(
                f"refused to load {path}: it would run code ({code.group(1)})",
                "dlbasic loads tensors and plain values only; use files from sources you trust",
            ) from None
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        reason = "" if first.startswith("Weights only load failed") else f": {first.split('. ')[0][:100]}"
        raise UserError(f"{path} is not a readable {what} (corrupt, truncated or not a torch file{reason})") from None
    for w in caught:
        if not re.search(r"pickle protocol|weights_only Unpickler", str(w.message)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return obj


def check_finite(state: Any, where: str | Path) -> None:
    """Refuse, naming the first one, weights (the tensors of a state dict) that hold NaN or infinite values."""
    if not isinstance(state, dict):
        return
    for key, value in state.items():
        numeric = torch.is_tensor(value) and (value.is_floating_point() or value.is_complex())
        if numeric and value.device.type != "meta" and not bool(torch.isfinite(value).all()):
            raise UserError(
                f"{where}: weight {key!r} holds NaN or infinite values",
                "the file is damaged, or was saved from a run whose weights diverged",
            )
