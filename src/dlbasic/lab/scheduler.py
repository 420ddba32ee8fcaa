"""The lab's scheduler: the studies' runs, stage by stage, over one executor.

Each study is asked for its runs (`Study.plan`); every run not yet known is keyed (`runs.run_key`), read from
the run cache when a finished copy is there, joined to an identical run another study already asked for
(one computation, both get its value), or queued. Queued runs go to the executor longest first by the cost
model (`costs.Costs`), at most `slots` at a time. When the last run of a study's stage ends, the study is
asked again with all its results: it returns more runs (the next stage) or none, and then its numbers are
collected and judged (`finish`). A run that fails is tried once more, then its study ends with an error
that names it; a `UserError` stops the lab, as do Ctrl-C and SIGTERM, leaving every finished run saved.
"""

from __future__ import annotations

import heapq
import itertools
import time
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any

from dlbasic.errors import UserError
from dlbasic.lab.context import LabContext
from dlbasic.lab.costs import Costs, duration, eta
from dlbasic.lab.runs import RunCache, as_measurements, run_key
from dlbasic.lab.study import Run, Study

MAX_STAGES = 12  # a study asked more often than this is finished with what it has
PROGRESS_EVERY = 10.0  # seconds between two progress lines while runs end


@dataclass
class StudyState:
    """Where one study stands: its runs by name, their keys, the values so far and the runs still out."""

    study: Study
    runs: dict[str, Run] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)
    stages: int = 0
    computed: int = 0  # runs computed for this study in this lab
    cached: int = 0  # runs read from the lab folder's run cache
    seconds: float = 0.0  # the seconds its runs took (cached runs: when they were computed)
    stage_of: dict[str, int] = field(default_factory=dict)  # run name -> the stage that asked for it
    run_seconds: dict[str, float] = field(default_factory=dict)  # run name -> its seconds
    error: str | None = None
    trace: str = ""


@dataclass
class Job:
    """A queued or running computation: one run key, the run, and who waits for it."""

    key: str
    run: Run
    owner: str  # the study whose run it is first
    waiters: list[tuple[str, str]]  # (study id, run name)
    expected: float
    attempt: int = 1
    start: float = 0.0


class Scheduler:
    """Runs studies `states` (id -> StudyState) to the end on `executor`; see the module docstring.

    `finish(study_id, state)` is called in this process as each study ends (with `state.error` set when one of
    its runs failed twice or its `plan` raised); `echo` prints the progress lines.
    """

    def __init__(
        self,
        states: dict[str, StudyState],
        ctx: LabContext,
        identity: str,
        cache: RunCache,
        costs: Costs,
        finish: Callable[[str, StudyState], None],
        echo: Callable[[str], None] = print,
    ):
        self.states, self.ctx, self.identity, self.cache, self.costs = states, ctx, identity, cache, costs
        self.finish, self.echo = finish, echo
        self.queue: list[tuple[float, int, Job]] = []  # heap: longest first, then in the order asked
        self.jobs: dict[str, Job] = {}  # key -> queued or running job
        self.running: dict[Future, Job] = {}
        self.outcomes: dict[str, dict[str, Any]] = {}  # key -> outcome of the runs finished in this lab
        self.claims: dict[str, set[str]] = {}  # key -> the studies that asked for it
        self.order = itertools.count()
        self.planned = self.done = 0
        self.last_progress = 0.0
        self.forecast: dict[str, float] = {}  # study -> seconds its later stages are expected to add

    # -- planning -------------------------------------------------------------------------------------------

    def plan(self, sid: str) -> None:
        """Ask study `sid` for its next stage, deliver what is known at once, queue the rest; finish it when it
        needs nothing more (repeated while a stage is answered entirely from known runs)."""
        state = self.states[sid]
        while not state.waiting:
            runs: list[Run] = []
            if state.error is None and state.stages < MAX_STAGES:
                try:
                    runs = [r for r in state.study.plan(self.ctx, dict(state.results)) if r.name not in state.results]
                    names = [r.name for r in runs]
                    if len(set(names)) != len(names):
                        raise ValueError(f"plan gave two runs of one name: {sorted(names)}")
                except UserError:
                    raise
                except Exception as e:
                    state.error, state.trace = f"planning failed: {type(e).__name__}: {e}", traceback.format_exc()
                    runs = []
            if not runs:
                self.forecast.pop(sid, None)
                self.finish(sid, state)
                return
            state.stages += 1
            if state.stages > 1:
                self.echo(f"{sid}: stage {state.stages}, {len(runs)} more run{'s' * (len(runs) != 1)}")
            for run in runs:
                self._ask(sid, run)
            asked = sum(self.costs.declared(state.study, r) for r in state.runs.values())
            self.forecast[sid] = max(0.0, self.costs.study_total(state.study) - asked)

    def _ask(self, sid: str, run: Run) -> None:
        state = self.states[sid]
        key = run_key(run, self.identity)
        state.runs[run.name], state.keys[run.name], state.stage_of[run.name] = run, key, state.stages
        self.claims.setdefault(key, set()).add(sid)
        self.planned += 1
        outcome = self.outcomes.get(key)
        if outcome is None and key not in self.jobs:
            outcome = self.cache.get(key)
            if outcome is not None:
                state.cached += 1
                self.outcomes[key] = outcome
        if outcome is not None:
            self.done += 1
            self._give(state, run.name, outcome)
            return
        state.waiting.add(run.name)
        if key in self.jobs:  # the same run, asked for by another study (or under another name): one computation
            self.jobs[key].waiters.append((sid, run.name))
            return
        job = Job(key, run, sid, [(sid, run.name)], self.costs.expected(state.study, run))
        self.jobs[key] = job
        heapq.heappush(self.queue, (-job.expected, next(self.order), job))

    @staticmethod
    def _give(state: StudyState, name: str, outcome: dict[str, Any]) -> None:
        state.results[name] = as_measurements(outcome["value"], outcome["figures"])
        state.seconds += outcome["seconds"]
        state.run_seconds[name] = outcome["seconds"]

    # -- running --------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Ask every study for its first stage (`jobs` then holds the runs to compute)."""
        for sid in list(self.states):
            self.plan(sid)

    def run(self, executor: Any) -> None:
        """Compute until every study has finished (see the module docstring); `start` first."""
        about = duration(eta([], self._pending(), executor.slots))
        self.echo(
            f"{self.planned} runs for {len(self.states)} stud{'y' if len(self.states) == 1 else 'ies'}, "
            f"{len(self.jobs)} to compute in {executor.name}, longest first (about {about})"
        )
        try:
            while self.queue or self.running:
                while self.queue and len(self.running) < executor.slots:
                    _, _, job = heapq.heappop(self.queue)
                    job.start = time.perf_counter()
                    self.running[executor.submit(job.run)] = job
                self._progress(executor.slots)
                finished, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
                for future in finished:
                    self._ended(future, self.running.pop(future))
        except BaseException:
            executor.close(cancel=True)
            raise
        executor.close()

    def _ended(self, future: Future, job: Job) -> None:
        try:
            outcome = future.result()
        except Exception as e:  # the worker died (killed, out of memory) or the cluster lost it
            outcome = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
        if "user_error" in outcome:
            raise UserError(outcome["user_error"], outcome.get("hint"))
        if "error" in outcome and job.attempt == 1:  # once more, from the back of the queue
            job.attempt = 2
            heapq.heappush(self.queue, (0.0, next(self.order), job))
            return
        del self.jobs[job.key]
        self.done += len(job.waiters)
        owner = self.states[job.owner]
        if "error" in outcome:
            for sid, name in job.waiters:
                state = self.states[sid]
                state.waiting.discard(name)
                if state.error is None:
                    state.error, state.trace = f"run {name} failed twice: {outcome['error']}", outcome["traceback"]
        else:
            self.costs.measured(owner.study, job.run, outcome["seconds"])
            self.cache.put(job.key, job.run, outcome)
            self.outcomes[job.key] = outcome
            owner.computed += 1
            for sid, name in job.waiters:
                self.states[sid].waiting.discard(name)
                self._give(self.states[sid], name, outcome)
        for sid in dict.fromkeys(s for s, _ in job.waiters):
            if not self.states[sid].waiting:
                self.plan(sid)

    def _progress(self, slots: int) -> None:
        now = time.perf_counter()
        if now - self.last_progress < PROGRESS_EVERY or not (self.queue or self.running):
            return
        self.last_progress = now
        left = [job.expected - (now - job.start) for job in self.running.values()]
        self.echo(
            f"runs: {self.done}/{self.planned} done, {len(self.running)} running "
            f"(about {duration(eta(left, self._pending(), slots))} left)"
        )

    def _pending(self) -> list[float]:
        """Expected seconds of the queued runs (longest first), then of the stages still to be declared."""
        return [j.expected for _, _, j in sorted(self.queue)] + sorted(self.forecast.values(), reverse=True)

    def shared(self, sid: str) -> int:
        """How many of study `sid`'s runs another study asked for too."""
        keys = set(self.states[sid].keys.values())
        return sum(len(self.claims[k]) > 1 for k in keys)
