"""Where the lab's runs are computed: in this process, in a pool of worker processes, or as Ray tasks.

A run is a pure function of its key (`runs.execute` resets the global random generators and torch's thread
count first), so a lab gives the same numbers whether its runs go one after another, side by side on this
machine or over a Ray cluster. Workers only compute: `execute` returns the value with figures as PNG bytes
(matplotlib figures cross neither processes nor machines), and the main process writes the run cache, the
results and the report. Every executor hands back `concurrent.futures.Future`s from `submit(run)`, so the
engine's scheduler drives any of them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from dlbasic.errors import UserError
from dlbasic.lab.context import Profile, problem
from dlbasic.lab.runs import execute
from dlbasic.lab.study import Run

RAY_MISSING = "--executor ray needs Ray: pip install 'dlbasic[ray]'"


class InProcess:
    """Computes each run in this process when it is submitted (the serial lab, `--jobs 1`)."""

    name, slots = "this process", 1

    def __init__(self, profile: Profile, root: Path, threads: int):
        self.args = (profile, str(root), threads)

    def submit(self, run: Run) -> Future:
        """Compute the run now, in this process; returns a finished Future of `execute`'s outcome."""
        future: Future = Future()
        future.set_result(execute(run, *self.args))
        return future

    def close(self, cancel: bool = False) -> None:
        """Nothing to release."""
        pass


def pin(index: int, threads: int, workers: int) -> list[int] | None:
    """Pin this process to cores of its own: worker `index` of `workers` gets `threads` of the cores it may use
    (none shared with another worker, so runs do not slow each other); None where the cores are too few or
    the system cannot pin."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    if workers * threads > len(cores):
        return None
    mine = cores[(index % workers) * threads : (index % workers + 1) * threads]
    os.sched_setaffinity(0, mine)
    return mine


def _worker_init(parent: int, counter: Any, threads: int, workers: int, gpus: int) -> None:
    """In each worker process: its own cores (`pin`) and, where the profile trains on CUDA, one of the `gpus`
    GPUs (round robin, before CUDA starts); Ctrl-C is the main process's to handle (it stops the workers), and
    a worker whose main process died (SIGKILL) exits instead of waiting forever for work."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with counter.get_lock():
        index, counter.value = counter.value, counter.value + 1
    pin(index, threads, workers)
    if gpus:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        ids = visible.split(",") if visible else [str(i) for i in range(gpus)]
        os.environ["CUDA_VISIBLE_DEVICES"] = ids[index % len(ids)]

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


class LocalPool:
    """`jobs` worker processes on this machine (spawned, so no state of this process leaks into them), each on
    `threads` cores of its own where the machine has enough, and on one GPU where the profile trains on CUDA."""

    def __init__(self, profile: Profile, root: Path, threads: int, jobs: int):
        self.args = (profile, str(root), threads)
        self.gpus = cuda_devices(profile)
        self.slots, self.name = jobs, f"{jobs} worker processes"
        self.pool = self._start()

    def _start(self):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(
            self.slots,
            mp_context=context,
            initializer=_worker_init,
            initargs=(os.getpid(), context.Value("i", 0), self.args[2], self.slots, self.gpus),
        )

    def submit(self, run: Run) -> Future:
        """A Future of the run's outcome from a worker process (the pool is restarted if a worker died)."""
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self.pool.submit(execute, run, *self.args)
        except BrokenProcessPool:  # a worker died (the engine retries its runs): carry on with fresh ones
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._start()
            return self.pool.submit(execute, run, *self.args)

    def close(self, cancel: bool = False) -> None:
        """Shut the pool down: wait for running runs, or with `cancel` drop queued ones and stop the workers."""
        if cancel:
            processes = list((getattr(self.pool, "_processes", None) or {}).values())
            self.pool.shutdown(wait=False, cancel_futures=True)
            for p in processes:
                p.terminate()
            for p in processes:
                p.join(5)
        else:
            self.pool.shutdown(wait=True)


def cuda_devices(profile: Profile) -> int:
    """How many CUDA GPUs the profile's runs share out (0 where it trains on the CPU or there is none)."""
    if profile.device == "cpu":
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def require_ray() -> Any:
    """The `ray` module, or a one-line UserError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UserError(RAY_MISSING) from None
    return ray


class RayTasks:
    """Each run a Ray task (`num_cpus=threads`, one GPU when the profile trains on CUDA), on a local Ray
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
        # a task whose worker or node dies is retried by Ray on another node (the engine retries failed runs)
        self.task = ray.remote(num_cpus=threads, num_gpus=1 if gpu else 0, max_retries=3)(execute)
        self.slots = jobs or max(1, int(resources.get("CPU", 1) // threads))
        if gpu:
            self.slots = min(self.slots, max(1, int(resources.get("GPU", 1))))
        where = f"cluster {address}" if address else ("local instance" if self.started else "the connected instance")
        self.name = f"Ray ({where}), {self.slots} at a time"
        self.args, self.refs = (profile, str(root), threads), []

    def submit(self, run: Run) -> Future:
        """Start the run as a Ray task; returns a Future of its outcome."""
        ref = self.task.remote(run, *self.args)
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
    """The executor of `--executor kind` for `todo` runs: `local` computes them in this process when one runs at
    a time (`--jobs 1`, or a single run), else in a pool of min(jobs, todo) worker processes."""
    if kind == "ray":
        return RayTasks(profile, root, threads, jobs, address)
    jobs = min(jobs or os.cpu_count() or 1, todo)
    return LocalPool(profile, root, threads, jobs) if jobs > 1 else InProcess(profile, root, threads)
