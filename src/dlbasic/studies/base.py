"""What a study is: a claim of the notebook, a verdict rule fixed before the experiment, the
experiment itself, and a verdict computed from its measurements.

A study subclasses `Study`, fills the class attributes, and implements two methods:
`measure(ctx)` runs the experiment and returns plain numbers (JSON-serializable) plus figures;
`judge(measurements)` turns those numbers into a `Verdict` by the rule in `rule`. Keeping
`judge` a pure function of the numbers lets tests feed it fake measurements.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from dlbasic.studies.context import LabContext

SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE)


@dataclass
class Verdict:
    """The outcome: one of VERDICTS, the numbers that decided it (the evidence on both sides), a sentence
    saying why, and the statistical test behind it (`str(stats.decide(...))`: test, effect size, interval,
    and for an inconclusive verdict whether the effect was small or the test under-powered)."""

    verdict: str
    key_number: str
    reason: str
    test: str = ""  # empty for structural checks, which are exact

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

    def measure(self, ctx: LabContext) -> Measurements:
        """Run the experiment; returns plain numbers (JSON-serializable) and figures. Subclasses implement it."""
        raise NotImplementedError

    def judge(self, numbers: dict[str, Any]) -> Verdict:
        """The `Verdict` by `rule`, a pure function of the numbers `measure` returned. Subclasses implement it."""
        raise NotImplementedError


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
