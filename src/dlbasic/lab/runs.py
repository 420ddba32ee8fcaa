"""Runs as the lab computes and keeps them: a run's key, its execution in a worker, and the run cache.

A run's key is a hash of its function, its arguments, the profile (seeds, scale, data, device), the code
version and the data's fingerprint (`lab_identity`): whatever could change its value. Two studies that
declare the same run get one computation; a resumed lab, or a later one in the same folder, reads it from
`<lab>/runs/<key>.json` instead of computing it again, while a change to the code or the data computes it
anew.

`execute` is what every executor runs: it resets the global random generators and torch's thread count
first, so a run's value is a pure function of its key, whichever process or machine computes it and
whatever ran there before.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import time
import traceback
from pathlib import Path
from typing import Any

from dlbasic.errors import UserError
from dlbasic.lab.context import LabContext, Profile, code_version, data_fingerprint, problem, warn
from dlbasic.lab.study import Measurements, Run


def lab_identity(profile: Profile) -> str:
    """What every run key of a lab with `profile` shares: the profile, the code version and the data."""
    identity = {
        "profile": [profile.name, list(profile.seeds), profile.scale, profile.data, profile.device],
        "code": code_version(),
        "data": data_fingerprint(profile.data) if profile.data else "",
        **({"test": [profile.test_data, data_fingerprint(profile.test_data)]} if profile.test_data else {}),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def run_key(run: Run, identity: str) -> str:
    """The content address of `run` in a lab of `identity` (`lab_identity`)."""
    text = json.dumps({"fn": run.fn, "args": run.args, "lab": identity}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def reset_state(threads: int) -> None:
    """What every run starts from: the global random generators seeded with 0, `threads` torch threads."""
    import numpy as np
    import torch

    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    torch.set_num_threads(threads)


def png(fig: Any) -> bytes:
    """A matplotlib figure as the PNG the report embeds (closed afterwards); PNG bytes stay as they are."""
    if isinstance(fig, bytes):
        return fig
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def execute(run: Run, profile: Profile, root: str | None, threads: int) -> dict[str, Any]:
    """Compute `run` and return `{"value", "figures", "seconds"}`, the value plain (JSON, NaN and infinities as
    None, as it comes back from the run cache) and figures as `(caption, PNG bytes)` (a run whose value is
    `Measurements` gives its numbers and seeds as the value).

    A run that raises gives `{"error", "traceback", "seconds"}`; a `UserError` (a mistake the user must fix,
    which stops the lab) gives `{"user_error", "hint"}`, since not every exception survives pickling. `root` is
    the lab folder, for the training cache where this process can see it (a Ray worker on another machine
    keeps its trainings in memory).
    """
    from dlbasic.lab.context import plain
    from dlbasic.lab.engine import finite

    reset_state(threads)
    folder = Path(root) if root is not None and Path(root).is_dir() else None
    start = time.perf_counter()
    try:
        value = run.call(LabContext(profile, folder))
        figures: list = []
        if isinstance(value, Measurements):
            figures = [(caption, png(fig)) for caption, fig in value.figures]
            value = {"numbers": value.numbers, "seeds": list(value.seeds)}
        value = finite(plain(value))  # NaN and infinities as None, as the run cache keeps them
    except UserError as e:
        return {"user_error": e.message, "hint": e.hint}
    except Exception as e:  # one broken run must not lose the others' results
        return {
            "error": f"{type(e).__name__}: {e}",
            "traceback": traceback.format_exc(),
            "seconds": time.perf_counter() - start,
        }
    return {"value": value, "figures": figures, "seconds": time.perf_counter() - start}


def as_measurements(value: Any, figures: list) -> Any:
    """The value a study's `collect` sees: `Measurements` again for a run that returned them."""
    if isinstance(value, dict) and set(value) == {"numbers", "seeds"} and isinstance(value["numbers"], dict):
        return Measurements(value["numbers"], list(figures), value["seeds"])
    return value


class RunCache:
    """Finished runs in `<lab>/runs/<key>.json`: their value, figures (base64 PNG) and seconds."""

    def __init__(self, root: Path | None):
        self.folder = Path(root) / "runs" if root is not None else None

    def get(self, key: str) -> dict[str, Any] | None:
        """The saved outcome of run `key` (`execute`'s, figures as bytes), or None; a damaged file is
        reported and computed again."""
        if self.folder is None:
            return None
        path = self.folder / f"{key}.json"
        if not path.is_file():
            return None
        from dlbasic.parsing import loads_json

        try:
            saved = loads_json(path.read_bytes(), path)
            if not isinstance(saved, dict) or saved.get("key") != key:
                raise ValueError("not a saved run of this key")
            figures = [(str(c), base64.b64decode(b, validate=True)) for c, b in saved["figures"]]
            seconds = float(saved["seconds"])
        except (OSError, ValueError, TypeError, KeyError, UserError) as e:
            warn(f"cannot read saved run {path} ({problem(e)}); computing it again")
            return None
        return {"value": saved.get("value"), "figures": figures, "seconds": seconds}

    def put(self, key: str, run: Run, outcome: dict[str, Any]) -> None:
        """Save a finished run's outcome (atomically: a crash leaves the old file or none)."""
        if self.folder is None:
            return
        from dlbasic.checkpoint import atomic_write_text
        from dlbasic.lab.engine import finite

        saved = {
            "key": key,
            "fn": run.fn,
            "args": run.args,
            "seconds": outcome["seconds"],
            "value": finite(outcome["value"]),
            "figures": [[c, base64.b64encode(b).decode("ascii")] for c, b in outcome["figures"]],
        }
        atomic_write_text(json.dumps(saved, default=float, allow_nan=False), self.folder / f"{key}.json")
