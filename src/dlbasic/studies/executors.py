"""Where the lab's studies run: in this process, in a pool of worker processes, or as Ray tasks.

A unit of work is one study: a pure function of its profile (seeds, budget, data), since `run_unit`
resets the global random generators and torch's thread count before each one. So a study's numbers do
not depend on what ran before it in the same process, and a lab gives the same numbers whether its
studies run one after another, side by side on this machine or on a Ray cluster.

Workers only compute: `run_unit` returns the result with its figures rendered to PNG bytes (matplotlib
figures do not cross processes, nor machines), and the main process writes the PNG files, the
results/<id>.json files and the report. The executors all hand back `concurrent.futures.Future`s, so
`schedule` runs any of them: longest study first, at most `slots` at a time, one progress line per event.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any

from dlbasic.errors import UserError
from dlbasic.studies.context import LabContext, Profile, problem

RAY_MISSING = "--executor ray needs Ray: pip install 'dlbasic[ray]'"

# Seconds each study took in a serial quick lab (one thread, 2-core CPU, quiet machine), for the order and the ETA
# of a lab that has no saved result yet (a study missing here counts as DEFAULT_ESTIMATE seconds).
ESTIMATES: dict[str, float] = {
    "generalization": 14,
    "cross-validation": 12,
    "bias-variance": 16,
    "bagging": 10,
    "boosting": 5,
    "gd-variants": 4,
    "batch-size": 13,
    "learning-rate": 4,
    "momentum": 34,
    "nesterov": 17,
    "adagrad": 4,
    "adadelta": 2,
    "rmsprop-adam": 27,
    "early-stopping": 12,
    "weight-decay": 6,
    "augmentation": 19,
    "noise": 26,
    "mixing": 42,
    "cutmix-ratio": 1,
    "dropout": 44,
    "batch-norm": 22,
    "group-norm": 60,
    "conv-shapes": 1,
    "one-by-one": 1,
    "relu": 17,
    "vgg-3x3": 22,
    "inception": 1,
    "resnet": 56,
    "bottleneck": 1,
    "densenet": 2,
    "fcn": 26,
    "deconv": 2,
    "detection-speed": 36,
}
# The same in a full lab (5 seeds, 3x the epochs; two workers, with the test suite on the same cores for a third
# of it): 5 to 19 times the quick durations, 10 times in total.
FULL_ESTIMATES: dict[str, float] = {
    "generalization": 185,
    "cross-validation": 211,
    "bias-variance": 292,
    "bagging": 144,
    "boosting": 70,
    "gd-variants": 22,
    "batch-size": 27,
    "learning-rate": 6,
    "momentum": 102,
    "nesterov": 26,
    "adagrad": 25,
    "adadelta": 15,
    "rmsprop-adam": 218,
    "early-stopping": 171,
    "weight-decay": 92,
    "augmentation": 360,
    "noise": 619,
    "mixing": 435,
    "cutmix-ratio": 2,
    "dropout": 827,
    "batch-norm": 151,
    "group-norm": 907,
    "conv-shapes": 1,
    "one-by-one": 1,
    "relu": 59,
    "vgg-3x3": 216,
    "inception": 1,
    "resnet": 386,
    "bottleneck": 1,
    "densenet": 1,
    "fcn": 383,
    "deconv": 2,
    "detection-speed": 193,
}
DEFAULT_ESTIMATE = 30.0


# ---------------------------------------------------------------------------------------------------------
# the unit of work, run by every executor


def reset_state(threads: int) -> None:
    """What every study starts from: the global random generators seeded with 0, `threads` torch threads."""
    import numpy as np
    import torch

    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    torch.set_num_threads(threads)


def run_unit(study_id: str, profile: Profile, root: str | None, threads: int) -> dict[str, Any]:
    """Run one study and return its result with the figures as `(caption, PNG bytes)` pairs.

    A study that raises gives an error result (verdict "error", the error and its traceback) instead; a
    `UserError` (a mistake the user must fix, which stops the lab) comes back as `{"user_error": ...}`,
    since not every exception survives pickling. `root` is the lab folder, used for the training cache
    where this process can see it (a Ray worker on another machine keeps its runs in memory).
    """
    from dlbasic.studies.registry import run_study

    reset_state(threads)
    folder = Path(root) if root is not None and Path(root).is_dir() else None
    start = time.perf_counter()
    try:
        result = run_study(study_id, profile.name, LabContext(profile, folder))
        result["figures"] = [(caption, png(fig)) for caption, fig in result["figures"]]
    except UserError as e:
        return {"id": study_id, "user_error": e.message, "hint": e.hint}
    except Exception as e:  # one broken study must not lose the others' results
        return error_result(study_id, e, traceback.format_exc(), time.perf_counter() - start)
    return result


def png(fig: Any) -> bytes:
    """A matplotlib figure as the PNG the report embeds (closed afterwards)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def error_result(study_id: str, e: BaseException, trace: str, seconds: float) -> dict[str, Any]:
    """The result saved for a study that raised: `--resume` runs it again."""
    return {
        "id": study_id,
        "verdict": "error",
        "key_number": "",
        "reason": f"{type(e).__name__}: {e}",
        "traceback": trace,
        "figures": [],
        "numbers": {},
        "seconds": seconds,
    }


# ---------------------------------------------------------------------------------------------------------
# executors: submit(study_id) -> Future of run_unit's result; close(cancel)


class InProcess:
    """Runs each study in this process when it is submitted (the serial lab, `--jobs 1`)."""

    name, slots = "this process", 1

    def __init__(self, profile: Profile, root: Path, threads: int):
        self.args = (profile, str(root), threads)

    def submit(self, study_id: str) -> Future:
        """Run the study now, in this process; returns a finished Future of its result."""
        future: Future = Future()
        future.set_result(run_unit(study_id, *self.args))
        return future

    def close(self, cancel: bool = False) -> None:
        """Nothing to release."""
        pass


def _worker_init(parent: int) -> None:
    """In each worker process: Ctrl-C is the main process's to handle (it stops the workers), and a worker
    whose main process died (SIGKILL) exits instead of waiting forever for work."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


class LocalPool:
    """`jobs` worker processes on this machine (spawned, so no state of this process leaks into them)."""

    def __init__(self, profile: Profile, root: Path, threads: int, jobs: int):
        self.args = (profile, str(root), threads)
        self.slots, self.name = jobs, f"{jobs} worker processes"
        self.pool = self._start()

    def _start(self):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(
            self.slots,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(os.getpid(),),
        )

    def submit(self, study_id: str) -> Future:
        """A Future of the study's result from a worker process (the pool is restarted if a worker died)."""
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self.pool.submit(run_unit, study_id, *self.args)
        except BrokenProcessPool:  # a worker died (its studies got error results): carry on with fresh ones
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._start()
            return self.pool.submit(run_unit, study_id, *self.args)

    def close(self, cancel: bool = False) -> None:
        """Shut the pool down: wait for running studies, or with `cancel` drop queued ones and stop the workers."""
        if cancel:
            processes = list((getattr(self.pool, "_processes", None) or {}).values())
            self.pool.shutdown(wait=False, cancel_futures=True)
            for p in processes:
                p.terminate()
            for p in processes:
                p.join(5)
        else:
            self.pool.shutdown(wait=True)


def require_ray() -> Any:
    """The `ray` module, or a one-line UserError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UserError(RAY_MISSING) from None
    return ray


class RayTasks:
    """Each study a Ray task (`num_cpus=threads`, one GPU when the profile trains on CUDA), on a local Ray
    instance of `jobs * threads` CPUs or on the cluster at `address`."""

    def __init__(self, profile: Profile, root: Path, threads: int, jobs: int | None, address: str | None):
        import logging

        ray = self.ray = require_ray()
        self.started = not ray.is_initialized()
        if self.started:
            try:
                if address:
                    ray.init(address=address, logging_level=logging.WARNING)
                else:
                    ray.init(  # "local": a new instance, even where an earlier `ray start` left a cluster file
                        address="local",
                        num_cpus=(jobs or os.cpu_count() or 1) * threads,
                        include_dashboard=False,
                        logging_level=logging.WARNING,
                    )
            except (ConnectionError, RuntimeError, ValueError) as e:
                where = f"the Ray cluster at {address}" if address else "a local Ray instance"
                raise UserError(
                    f"cannot start or reach {where} ({problem(e)})",
                    "start it with `ray start --head` and pass its address; a cluster with token "
                    "authentication (Ray 2.59+) also needs RAY_AUTH_MODE=token here",
                ) from None
        resources = ray.cluster_resources()
        gpu = profile.device.startswith("cuda") or (profile.device == "auto" and resources.get("GPU", 0) > 0)
        self.task = ray.remote(num_cpus=threads, num_gpus=1 if gpu else 0)(run_unit)
        self.slots = jobs or max(1, int(resources.get("CPU", 1) // threads))
        if gpu:
            self.slots = min(self.slots, max(1, int(resources.get("GPU", 1))))
        self.name = f"Ray ({'cluster ' + address if address else 'local instance'}), {self.slots} at a time"
        self.args, self.refs = (profile, str(root), threads), []

    def submit(self, study_id: str) -> Future:
        """Start the study as a Ray task; returns a Future of its result."""
        ref = self.task.remote(study_id, *self.args)
        self.refs.append(ref)
        return ref.future()

    def close(self, cancel: bool = False) -> None:
        """With `cancel`, cancel the submitted tasks; shut down the Ray instance if this object started it."""
        if cancel:
            for ref in self.refs:
                with contextlib.suppress(Exception):  # already finished, or the cluster is gone
                    self.ray.cancel(ref, force=True)
        if self.started:
            self.ray.shutdown()


def make_executor(
    kind: str, profile: Profile, root: Path, threads: int, jobs: int | None, address: str | None, todo: int
):
    """The executor of `--executor kind` for `todo` studies: `local` runs them in this process when one runs at
    a time (`--jobs 1`, or a single study), else in a pool of min(jobs, todo) worker processes."""
    if kind == "ray":
        return RayTasks(profile, root, threads, jobs, address)
    jobs = min(jobs or os.cpu_count() or 1, todo)
    return LocalPool(profile, root, threads, jobs) if jobs > 1 else InProcess(profile, root, threads)


# ---------------------------------------------------------------------------------------------------------
# scheduling


def data_factors(ids: Sequence[str], profile: Profile) -> dict[str, float]:
    """How many times its own data the lab's `--data` costs each study that trains on it: the ratio of the two
    training splits' pixels (images x channels x height x width), to which the cost of an epoch is about
    proportional. Studies with fixed data, or a lab without `--data`, are left out (factor 1); so are all when
    the data cannot be read here (a Ray cluster may hold it on its workers only)."""
    if not profile.data:
        return {}
    import math

    from dlbasic.data import load
    from dlbasic.studies.registry import get_study

    pixels: dict[str, int] = {}
    out = {}
    for sid in ids:
        default = get_study(sid).trains_on
        if default is None or default == profile.data:
            continue
        for spec in (default, profile.data):
            if spec not in pixels:
                try:
                    train = load(spec, "train")
                except (UserError, OSError):  # e.g. data only on a Ray cluster's workers: no scaling
                    return {}
                pixels[spec] = len(train) * math.prod(train.pixels.shape[1:])
        out[sid] = pixels[profile.data] / pixels[default]
    return out


def estimates(
    ids: Sequence[str],
    profile: Profile,
    saved: dict[str, float] | None = None,
    factors: dict[str, float] | None = None,
) -> dict[str, float]:
    """Expected seconds of each study: its saved duration (an earlier run of this lab folder), else the built-in
    estimate of its profile (`ESTIMATES`, `FULL_ESTIMATES`) times `factors` (`data_factors`)."""
    saved, factors = saved or {}, factors or {}
    table = FULL_ESTIMATES if profile.name == "full" else ESTIMATES
    return {
        sid: float(saved[sid]) if sid in saved else table.get(sid, DEFAULT_ESTIMATE) * factors.get(sid, 1.0)
        for sid in ids
    }


def longest_first(ids: Sequence[str], expected: dict[str, float]) -> list[str]:
    """`ids` ordered by expected duration, longest first (ties keep their order), so no long study starts last."""
    return sorted(ids, key=lambda sid: -expected.get(sid, DEFAULT_ESTIMATE))


def eta(running: dict[str, float], pending: Sequence[str], expected: dict[str, float], slots: int, now: float) -> float:
    """Seconds until the last study ends: the running ones (id -> start time) finish when expected, and the
    pending ones go, in order, to the first free of `slots`."""
    free = sorted(max(0.0, start + expected[sid] - now) for sid, start in running.items())
    free += [0.0] * max(0, slots - len(free))
    for sid in pending:
        free.sort()
        free[0] += expected[sid]
    return max(free, default=0.0)


def duration(seconds: float) -> str:
    """`seconds` for a progress line: 40 s, 3 min, 1 h 05 min."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds // 3600:.0f} h {seconds % 3600 / 60:02.0f} min"


def schedule(
    executor: Any,
    todo: Sequence[str],
    expected: dict[str, float],
    done: Callable[[str, dict[str, Any]], None],
    echo: Callable[[str], None] = print,
) -> None:
    """Run `todo` (in this order) on `executor`, at most `executor.slots` at a time; `done(id, result)` is
    called in this process as each ends. Prints `running: a, b (about T left)` whenever the running set changes.

    A UserError from a study stops the lab (the others are stopped too) as it would the serial lab; so do
    KeyboardInterrupt and SIGTERM (see `runner.run_lab`), leaving the finished studies saved.
    """
    pending, running = list(todo), {}  # running: id -> (Future, start)

    def status(starts: dict[str, float]) -> None:
        left = eta(starts, pending, expected, executor.slots, time.perf_counter())
        echo(f"running: {', '.join(starts)} (about {duration(left)} left)")

    try:
        while pending or running:
            starting = []
            while pending and len(running) + len(starting) < executor.slots:
                starting.append(pending.pop(0))
            if starting:  # the line comes first: the in-process executor runs a study as it is submitted
                now = time.perf_counter()
                status({**{sid: start for sid, (_, start) in running.items()}, **dict.fromkeys(starting, now)})
                for sid in starting:
                    running[sid] = (executor.submit(sid), now)
            finished, _ = wait([f for f, _ in running.values()], return_when=FIRST_COMPLETED)
            for sid, (future, start) in list(running.items()):
                if future not in finished:
                    continue
                del running[sid]
                try:
                    result = future.result()
                except Exception as e:  # the worker died (killed, out of memory) or the cluster lost it
                    result = error_result(sid, e, traceback.format_exc(), time.perf_counter() - start)
                if "user_error" in result:
                    raise UserError(result["user_error"], result.get("hint"))
                done(sid, result)
            if running and not pending:
                status({sid: start for sid, (_, start) in running.items()})
    except BaseException:
        executor.close(cancel=True)
        raise
    executor.close()
