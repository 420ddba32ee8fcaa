"""Shared test helpers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The repository's sibling folder of real datasets; tests using it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present on this machine")
    return SHARED_DATA.resolve()


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tests use small tensors, for which one thread is faster and timing-independent on a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True, scope="session")
def optimizer_kernels_built():
    """Build (or load) the fused optimizer kernels once, up front: the first build says so on stderr, which
    would otherwise land in whichever test happens to step an optimizer first."""
    from dlbasic.optim import _native

    _native.available()


# ---- kill and resume -------------------------------------------------------------------------------------------

TIMING = ("seconds", "per_second", "seconds_per_image", "time_to_target")  # columns that measure time


def _dlbasic(*args: str) -> list[str]:
    return [sys.executable, "-m", "dlbasic.cli", *args, "--no-progress"]


def _results(row: dict) -> str:
    """A row of results without its timings, as JSON text: floats exactly (repr), NaN equal to NaN."""
    return json.dumps({k: v for k, v in row.items() if not k.endswith(TIMING) and k != "history"}, sort_keys=True)


def _checkpoint_id(path: Path) -> tuple[int, int] | None:
    """Identifies one version of a file written by rename (a new inode each time)."""
    try:
        s = os.stat(path)
    except FileNotFoundError:
        return None
    return s.st_ino, s.st_mtime_ns


def _temporary(run: Path) -> list[str]:
    """The temporary files of atomic writes in progress (or left by a killed one)."""
    try:
        return [e.name for e in os.scandir(run) if e.name.startswith(".") and e.name.endswith(".tmp")]
    except FileNotFoundError:
        return []


def _stop(proc: subprocess.Popen, run: Path, how: str, after: int, timeout: float = 300) -> bool:
    """Stop `proc` once checkpoint.pt has been replaced `after` times: SIGKILL at once ("kill"), SIGKILL as soon
    as the next atomic write has its temporary file ("write"), or SIGINT, which saves and stops ("sigint").
    Returns whether a temporary file was left behind (the kill hit a write)."""
    ckpt, seen, new = run / "checkpoint.pt", _checkpoint_id(run / "checkpoint.pt"), 0
    deadline = time.time() + timeout
    while new < after and proc.poll() is None and time.time() < deadline:
        now = _checkpoint_id(ckpt)
        if now is not None and now != seen:
            seen, new = now, new + 1
        else:
            time.sleep(0.001)
    while how == "write" and not _temporary(run) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.0002)
    assert proc.poll() is None, f"the run ended before the moment to {how} it (after {after} checkpoints)"
    proc.send_signal(signal.SIGINT if how == "sigint" else signal.SIGKILL)
    code = proc.wait(timeout=timeout)
    assert code == (130 if how == "sigint" else -signal.SIGKILL), f"{how}: exit status {code}"
    return bool(_temporary(run))


def _same(a, b) -> bool:
    """Bit-identical: tensors by dtype, shape and `torch.equal`; containers element by element; the rest by ==."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.equal(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def assert_same_run(full: Path, other: Path) -> None:
    """Two run folders hold the same results bit for bit: metrics.jsonl and summary.json (timings aside), and the
    weights (and optimizer state) of checkpoint.pt and best.pt."""

    def rows(run: Path) -> list[dict]:
        return [_results(json.loads(line)) for line in (run / "metrics.jsonl").read_text().splitlines()]

    assert rows(full) == rows(other)
    assert _results(json.loads((full / "summary.json").read_text())) == _results(
        json.loads((other / "summary.json").read_text())
    )
    for name in ("checkpoint.pt", "best.pt"):
        assert (full / name).is_file() == (other / name).is_file(), name
        if (full / name).is_file():
            a, b = (torch.load(run / name, map_location="cpu", weights_only=True) for run in (full, other))
            differ = [k for k in a["model"] if not _same(a["model"][k], b["model"].get(k))]
            assert not differ, f"{name}: {len(differ)} weights differ, e.g. {differ[0]}"
            if name == "checkpoint.pt":
                assert a["global_step"] == b["global_step"]
                assert _same(a["optimizer"]["state"], b["optimizer"]["state"]), "optimizer state"


@pytest.fixture
def kill_resume(tmp_path):
    """`kill_resume(verb, options, moments)`: run `dlbasic VERB OPTIONS` uninterrupted, then again, stopped at
    each of `moments` in turn ((how, after) for `_stop`) and continued each time by a plain `--resume` (the run
    folder only: every setting comes from its config.yaml); asserts both end bit-identical. Returns how many
    kills left a temporary file behind (hit a write).

    `env` and `resume_env` add to the environment of the first runs and of the resumed ones (a resume in
    another environment, e.g. with another default thread count, must still continue the same run).

    The runs share a cache of decoded data of their own, empty at first: the uninterrupted run decodes its
    images, the others read them back, as a resumed run does (built native kernels are shared, not rebuilt)."""

    def run(
        verb: Sequence[str],
        options: Sequence[str],
        moments: Sequence[tuple[str, int]],
        env: dict[str, str] | None = None,
        resume_env: dict[str, str] | None = None,
    ) -> int:
        full, killed, cache = tmp_path / "full", tmp_path / "killed", tmp_path / "cache"
        cache.mkdir()
        shared = Path(os.environ.get("DLBASIC_CACHE") or Path.home() / ".cache" / "dlbasic").expanduser()
        for built in shared.glob("*.so"):
            (cache / built.name).symlink_to(built)
        first = {**os.environ, "DLBASIC_CACHE": str(cache), **(env or {})}
        done = subprocess.run(
            _dlbasic(*verb, *options, "--run-dir", str(full)), capture_output=True, text=True, env=first
        )
        assert done.returncode == 0, done.stderr[-2000:]
        argv, hits, where = _dlbasic(*verb, *options, "--run-dir", str(killed)), 0, first
        for how, after in moments:
            with open(tmp_path / "stderr.txt", "w") as err:
                proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=where)
                try:
                    hits += _stop(proc, killed, how, after)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
            argv, where = _dlbasic(*verb, "--run-dir", str(killed), "--resume"), {**first, **(resume_env or {})}
        done = subprocess.run(argv, capture_output=True, text=True, env=where)
        assert done.returncode == 0, done.stderr[-2000:]
        assert not _temporary(killed), "a resumed run leaves no temporary file behind"
        assert_same_run(full, killed)
        return hits

    return run
