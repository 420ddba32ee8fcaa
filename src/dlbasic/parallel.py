"""Independent training runs side by side: `run_all(fn, calls, jobs=N)` runs `fn(*call)` for every call in
N spawned worker processes (one after another in this process when N is 1).

`dlbasic cv` (candidates x folds), `compare` (values x seeds) and `ensemble bagging` (members) are made
of runs that do not depend on each other. Each run seeds everything it draws from its own config, so a
result depends only on its call: `--jobs 1` and `--jobs N` give identical numbers when the runs use the
same number of torch threads (`--threads`; a worker uses `threads`, default 1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from dlbasic.errors import check

T = TypeVar("T")


def _worker_init(threads: int) -> None:
    """In each worker: Ctrl-C is the main process's to handle; torch uses `threads` threads."""
    import signal

    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)


def run_all(
    fn: Callable[..., T],
    calls: Sequence[tuple[Any, ...]],
    *,
    jobs: int = 1,
    threads: int | None = None,
    on_result: Callable[[int, T], None] | None = None,
) -> list[T]:
    """[fn(*call) for call in calls], computed by `jobs` worker processes; `on_result(index, result)` is
    called in this process as each one finishes (in call order when `jobs` is 1).

    `fn` must be a module-level function and the calls picklable (they cross into spawned processes).
    An exception in a run stops the others and is raised here.
    """
    check(jobs >= 1, f"--jobs must be at least 1, got {jobs}")
    jobs = min(jobs, len(calls))
    if jobs <= 1:
        results = []
        for i, call in enumerate(calls):
            results.append(fn(*call))
            if on_result is not None:
                on_result(i, results[-1])
        return results
    import multiprocessing
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    pool = ProcessPoolExecutor(
        jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_init,
        initargs=(threads or 1,),
    )
    results: list[Any] = [None] * len(calls)
    try:
        index = {pool.submit(fn, *call): i for i, call in enumerate(calls)}
        pending = set(index)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                results[index[future]] = future.result()  # raises the run's exception
                if on_result is not None:
                    on_result(index[future], results[index[future]])
    except BaseException:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            p.terminate()
        raise
    pool.shutdown(wait=True)
    return results


__all__ = ["run_all"]
