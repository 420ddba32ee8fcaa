"""What a study is: a claim of the notebook, a verdict rule fixed before the experiment, the runs that
measure it, and a verdict computed from their results.

A study subclasses `Study`, fills the class attributes, and implements:

* `plan(ctx, results)`: the `Run`s it needs. The engine calls it with no results first, then again after
  each stage with every result so far (run name -> value); it returns further runs (more seeds for an
  undecided comparison, say) or `[]` when it has what it needs;
* `collect(ctx, results)`: the numbers (JSON-serializable) and figures, from the runs' values;
* `judge(numbers)`: the `Verdict` by the rule in `rule`, a pure function of the numbers, so tests can
  feed it fake ones.

A run is the lab's unit of work: a module-level function called as `function(ctx, **args)` in a worker,
content-addressed by its function, arguments, the profile, the data and the code (`dlbasic.lab.runs`), so
two studies that declare the same run share one result and a resumed lab never computes it again. A study
that only implements `measure(ctx)` is one run: the whole study.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from dlbasic.claims import (  # noqa: F401 (the verdicts and forms a study declares, named here for studies)
    CHECKED,
    CONTRADICTED,
    EMPIRICAL,
    FAILED,
    FORMS,
    INCONCLUSIVE,
    SUPPORTED,
    VERDICTS,
)
from dlbasic.errors import check

if TYPE_CHECKING:
    from dlbasic.lab.context import LabContext


@dataclass
class Verdict:
    """The outcome: one of VERDICTS, the numbers that decided it (the evidence on both sides), a sentence
    saying why, and the statistical test behind it (each comparison's outcome, interval, margin and seeds).

    `comparisons` are the decisive comparisons as plain dicts (`verdicts.Part.as_dict`: label, form, outcome,
    effect and interval in units and in margins, seeds, look), for the report's forest plots; `checks` the
    exact checks of a structural claim or part ({"check": text, "holds": bool}); `more` the seed count of
    the next look when an undecided comparison goes on (None: decided, or no staged seeds)."""

    verdict: str
    key_number: str
    reason: str
    test: str = ""  # empty for structural checks, which are exact
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    more: int | None = None

    @classmethod
    def of(cls, decision: Any, key_number: str, reasons: dict[str, str]) -> Verdict:
        """The verdict of one `stats.decide` result, with the reason given for that verdict in `reasons`."""
        return cls(decision.verdict, key_number, reasons[decision.verdict], str(decision))

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


@dataclass
class Measurements:
    """What `measure` returns: numbers (nested dicts/lists of floats, ints, strings) and figures."""

    numbers: dict[str, Any]
    figures: list[tuple[str, Any]] = field(default_factory=list)  # (caption, matplotlib Figure)
    seeds: list[int] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class Run:
    """One unit of the lab's work: `fn(ctx, **args)`, where `fn` is "package.module:function".

    `name` is unique within its study (it keys the study's results); `args` are JSON values; `cost` is the
    expected seconds on one thread in the quick profile on the study's default data (the engine scales it by
    the profile and the data, and by the durations it measures as runs end); `trains` says whether the run
    trains on the lab's `--data` (its cost then follows the data's image size).
    """

    name: str
    fn: str
    args: dict[str, Any] = field(default_factory=dict)
    cost: float = 5.0
    trains: bool = True

    def __post_init__(self):
        check(":" in self.fn, f"run {self.name!r}: fn must be 'module:function', got {self.fn!r}")
        check(self.cost >= 0, f"run {self.name!r}: cost must be >= 0, got {self.cost}")

    def call(self, ctx: LabContext) -> Any:
        """Compute the run here: import `fn` and call it with `ctx` and `args`."""
        import importlib

        module, _, name = self.fn.partition(":")
        return getattr(importlib.import_module(module), name)(ctx, **self.args)


def unit_runs(seeds: Sequence[int], units: int, fn: str, cost: Any) -> list[Run]:
    """One run of `fn(ctx, seed=, unit=)` per profile seed and unit, named "seed<s>-unit<u>": the design of a
    study whose units are independent replicates. `cost` is a number or a function of the unit."""
    return [
        Run(f"seed{seed}-unit{u}", fn, {"seed": seed, "unit": u}, cost(u) if callable(cost) else cost)
        for seed in seeds
        for u in range(units)
    ]


def not_run(runs: Sequence[Run], results: dict[str, Any]) -> list[Run]:
    """The runs of `runs` whose values are not in `results` yet (a plan asks for these)."""
    return [r for r in runs if r.name not in results]


def seeds_of_every_arm(results: dict[str, Any], arms: Sequence[str]) -> list[int]:
    """The paired seeds whose runs "<arm>-seed<s>" of every one of `arms` are in `results`, in order."""
    found = {int(m[1]) for name in results if (m := re.fullmatch(rf"{re.escape(arms[0])}-seed(\d+)", name))}
    return sorted(s for s in found if all(f"{arm}-seed{s}" in results for arm in arms))


def one_run_per_seed(seeds: Sequence[int], fn: str, cost: float) -> list[Run]:
    """One run of `fn(ctx, seed=)` per paired seed, named "seed<s>": the design of a staged study that measures
    every arm of a seed in one run."""
    return [Run(f"seed{s}", fn, {"seed": s}, cost) for s in seeds]


def per_seed(results: dict[str, Any]) -> tuple[list[int], list[Any]]:
    """The seeds of the `one_run_per_seed` runs in `results`, in order, and their values in that order."""
    seeds = sorted(int(k.removeprefix("seed")) for k in results)
    return seeds, [results[f"seed{s}"] for s in seeds]


WHOLE_STUDY = "dlbasic.lab.study:measure_study"


def measure_study(ctx: LabContext, study: str) -> Measurements:
    """The run of a study that is one run: its `measure(ctx)`."""
    from dlbasic.lab.registry import get_study

    return get_study(study).measure(ctx)


class Study:
    """Base class of a study; see the module docstring."""

    id: ClassVar[str]  # the claim id in CLAIMS.md
    section: ClassVar[str]  # the notebook section
    claim: ClassVar[str]  # the claim in English
    note: ClassVar[str]  # the notebook's own sentence (Korean)
    literature: ClassVar[str] = ""  # where the note is inaccurate: what the papers say
    trains_on: ClassVar[str | None] = None  # its default data source, which `--data` replaces (None: fixed data)
    method: ClassVar[str]  # what the experiment does
    rule: ClassVar[str]  # the verdict rule, written before the experiment runs
    form: ClassVar[str] = "difference"  # the claim's form(s) in CLAIMS.md "v0.3", e.g. "structural + difference"
    schedule: ClassVar[tuple[int, ...]] = ()  # staged studies: paired seeds at each look (e.g. looks(3) = (3, 6, 12))

    cost: ClassVar[float] = 5.0  # a whole-study run's expected seconds (one thread, quick profile)

    def plan(self, ctx: LabContext, results: dict[str, Any]) -> list[Run]:
        """The runs still needed, given the values of those done (`results`, by run name): the first stage's
        runs when `results` is empty, then more or `[]` (done).

        A study with a `schedule` gets seeds in stages: the runs of the first look's seeds (`seed_runs`),
        then, while its verdict is undecided and names a next look (`Verdict.more`), the runs of the seeds
        that look adds. Otherwise the study is one run, `measure`."""
        if self.schedule:
            return self.staged_runs(ctx, results)
        return [] if results else [Run("study", WHOLE_STUDY, {"study": self.id}, self.cost, self.trains_on is not None)]

    def seed_runs(self, ctx: LabContext, seeds: Sequence[int]) -> list[Run]:
        """A staged study's runs for these paired seeds (every arm of each seed); names unique per seed."""
        raise NotImplementedError

    def staged_runs(self, ctx: LabContext, results: dict[str, Any]) -> list[Run]:
        """The runs of the next look of `schedule` (see `plan`): none when the verdict so far is decided."""
        n = self.next_look(ctx, results, judged=bool(results))
        if n is None:
            return []
        return not_run(self.seed_runs(ctx, unit_seeds(ctx, n)), results)

    def verdict_so_far(self, ctx: LabContext, results: dict[str, Any]) -> Verdict:
        """The verdict on the runs in `results` (`collect`, then `judge`; the figures closed unseen)."""
        m = self.collect(ctx, results)
        close_figures(m)
        return self.judge(m.numbers)

    def next_look(self, ctx: LabContext, results: dict[str, Any], judged: bool) -> int | None:
        """The paired seeds of the next look: the schedule's first while no judged run is in `results` (`judged`
        False); after, the number the verdict so far asks for (None once it is decided)."""
        return self.verdict_so_far(ctx, results).more if judged else self.schedule[0]

    def collect(self, ctx: LabContext, results: dict[str, Any]) -> Measurements:
        """The numbers and figures of the study, from its runs' values. By default, the whole-study run's."""
        return results["study"]

    def measure(self, ctx: LabContext) -> Measurements:
        """The whole experiment in one run (a study that declares runs implements `plan` and `collect` instead)."""
        raise NotImplementedError

    def judge(self, numbers: dict[str, Any]) -> Verdict:
        """The `Verdict` by `rule`, a pure function of the numbers `measure` returned. Subclasses implement it."""
        raise NotImplementedError


def unit_seeds(ctx: LabContext, n: int) -> list[int]:
    """The first `n` paired seeds of a staged study: the profile's first seed and the n - 1 after it (so the
    quick profile's looks of 3, 6, 12 seeds use 0-2, 0-5, 0-11, and `--seed 100` uses 100-111)."""
    return [ctx.seeds[0] + i for i in range(n)]


def close_figures(m: Measurements) -> None:
    """Close the figures of `m` (collected only for their numbers)."""
    import matplotlib.pyplot as plt

    for _, fig in m.figures:
        plt.close(fig)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = [float(v) for v in values]
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt(x: float, digits: int = 3) -> str:
    """`x` with `digits` significant digits ('12,345' from 1e4 up; 'nan' and 'inf' as they are)."""
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return str(x)
    return f"{x:.{digits}g}" if abs(x) < 1e4 else f"{x:,.0f}"


def pm(values: Sequence[float], digits: int = 3) -> str:
    """'0.951 ± 0.004' from a list of per-seed values."""
    m, s = mean_std(values)
    return f"{m:.{digits}f} ± {s:.{digits}f}"
