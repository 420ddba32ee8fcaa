r"""The outcomes of a paired comparison against a margin, and how a claim's form turns them into a verdict.

One paired interval of the mean difference d = A − B (per-seed pairs; positive favours A) is read against the
study's margin m > 0 (CLAIMS.md, "v0.3: the form of each claim and its margin"):

========================  ==================================  ==========================  ===================
outcome                   when                                wrong if                    its error, at most
========================  ==================================  ==========================  ===================
A better                  the interval lies above +m          the true d ≤ +m             2.5 % at d = +m
B better                  the interval lies below −m          the true d ≥ −m             2.5 % at d = −m
equivalent                the interval lies inside (−m, +m)   \|true d\| ≥ m              2.5 % at \|d\| = m
non-inferior              the interval lies above −m          the true d ≤ −m             2.5 % at d = −m
inconclusive              anything else                       —                           —
========================  ==================================  ==========================  ===================

(equivalent is Schuirmann's two one-sided tests, 1987, J. Pharmacokin. Biopharm. 15:657; a 95 % interval
is each one-sided test at 2.5 %). Outcomes are named in that order of precedence: an interval above +m is
"A better", not also "non-inferior". The interval is Student's, or with seeds in stages the group-sequential
one of `sequential.boundary`, whose critical value keeps every error above over all looks.

A claim's form maps outcomes to a verdict (`verdict_of`):

* **difference** ("A is better than B"): A better → supported; B better or equivalent → contradicted;
* **sameness** ("A does not depend on X"): equivalent → supported; A better or B better → contradicted;
* **non-inferiority** ("A costs less and is not worse"): A better, equivalent or non-inferior → supported;
  B better → contradicted;
* anything else is inconclusive; a claim of several parts is supported when every part is, contradicted
  when any part is (`combine`).

>>> c = compare([0.91, 0.90, 0.93, 0.92, 0.90], [0.88, 0.89, 0.90, 0.90, 0.87], margin=0.005)
>>> c.outcome, verdict_of("difference", c.outcome)
('A better', 'supported')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dlbasic.lab.sequential import boundary, check_schedule
from dlbasic.lab.stats import _differences
from dlbasic.lab.study import CONTRADICTED, INCONCLUSIVE, SUPPORTED

A_BETTER, B_BETTER, EQUIVALENT, NON_INFERIOR, UNDECIDED = (
    "A better",
    "B better",
    "equivalent",
    "non-inferior",
    "inconclusive",
)
OUTCOMES = (A_BETTER, B_BETTER, EQUIVALENT, NON_INFERIOR, UNDECIDED)
FORMS = ("difference", "sameness", "non-inferiority")
_VERDICTS = {
    "difference": {A_BETTER: SUPPORTED, B_BETTER: CONTRADICTED, EQUIVALENT: CONTRADICTED},
    "sameness": {EQUIVALENT: SUPPORTED, A_BETTER: CONTRADICTED, B_BETTER: CONTRADICTED},
    "non-inferiority": {A_BETTER: SUPPORTED, EQUIVALENT: SUPPORTED, NON_INFERIOR: SUPPORTED, B_BETTER: CONTRADICTED},
}


def outcome_of(low: float, high: float, margin: float) -> str:
    """The outcome of an interval [low, high] of d = A − B against the margin (the table above)."""
    if low > margin:
        return A_BETTER
    if high < -margin:
        return B_BETTER
    if -margin < low and high < margin:
        return EQUIVALENT
    if low > -margin:
        return NON_INFERIOR
    return UNDECIDED


def outcome_codes(low: np.ndarray, high: np.ndarray, margin: float) -> np.ndarray:
    """`outcome_of` for arrays of intervals: indices into OUTCOMES."""
    code = np.full(np.broadcast(low, high).shape, OUTCOMES.index(UNDECIDED))
    code = np.where(low > -margin, OUTCOMES.index(NON_INFERIOR), code)
    code = np.where((-margin < low) & (high < margin), OUTCOMES.index(EQUIVALENT), code)
    code = np.where(high < -margin, OUTCOMES.index(B_BETTER), code)
    return np.where(low > margin, OUTCOMES.index(A_BETTER), code)


def verdict_of(form: str, outcome: str) -> str:
    """The verdict a claim of `form` draws from `outcome` (the module docstring)."""
    if form not in FORMS:
        raise ValueError(f"unknown claim form {form!r}; choose from {FORMS}")
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; choose from {OUTCOMES}")
    return _VERDICTS[form].get(outcome, INCONCLUSIVE)


def combine(verdicts: Sequence[str]) -> str:
    """A claim of several parts: supported when every part is, contradicted when any part is."""
    if any(v == CONTRADICTED for v in verdicts):
        return CONTRADICTED
    return SUPPORTED if verdicts and all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE


@dataclass(frozen=True)
class Comparison:
    """One look at a paired comparison: its outcome, the mean difference d = A − B and its interval, the
    seeds, the margin, the look (k of K, with the schedule) and whether more seeds are due."""

    outcome: str
    mean: float
    ci: tuple[float, float]
    n: int
    margin: float
    critical: float
    look: int = 1
    schedule: tuple[int, ...] = ()
    more: int | None = None  # the seed count of the next look, when the comparison goes on

    def __str__(self) -> str:
        if self.n < 2:
            return f"{self.outcome}: {self.n} paired seed{'s' * (self.n != 1)}, at least 2 are needed"
        stage = f", look {self.look} of {len(self.schedule)} (seeds {'/'.join(map(str, self.schedule))})"
        return (
            f"{self.outcome}: mean diff {self.mean:+.3g} (CI {self.ci[0]:+.3g} to {self.ci[1]:+.3g}, "
            f"critical {self.critical:.3g}), margin ±{self.margin:.3g}, n={self.n}"
            + (stage if len(self.schedule) > 1 else "")
        )

    @property
    def decided(self) -> bool:
        """Whether no more seeds are due (an outcome the form acts on, or the last look)."""
        return self.more is None


def compare(
    a: Sequence[float],
    b: Sequence[float],
    *,
    margin: float,
    lower_is_better: bool = False,
    form: str = "difference",
    schedule: Sequence[int] | None = None,
    shape: str = "obrien-fleming",
) -> Comparison:
    """Compare arms A and B (per-seed values paired by index) against `margin` (> 0, in the measurement's
    units) at the look that `len(a)` seeds make in `schedule` (None: one look at len(a) seeds).

    The comparison is decided when the outcome gives the claim's `form` a verdict, or at the last look; else
    `more` names the seed count of the next look. `lower_is_better` flips the sign, so that positive d still
    favours A.
    """
    d = _differences(a, b, lower_is_better)
    if d.ndim != 1:
        raise ValueError(f"a and b must be 1-D sequences, got shape {d.shape}")
    if not (math.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a finite number > 0, got {margin!r}")
    if form not in FORMS:
        raise ValueError(f"unknown claim form {form!r}; choose from {FORMS}")
    n = int(d.size)
    schedule = check_schedule(schedule or (max(n, 2),), shape)
    if n not in schedule:
        raise ValueError(f"{n} paired seeds is not a look of the schedule {schedule}")
    look = schedule.index(n) + 1
    critical = boundary(schedule, shape)[look - 1]
    mean = float(d.mean()) if n else math.nan
    if n < 2:
        return Comparison(UNDECIDED, mean, (math.nan, math.nan), n, float(margin), critical, look, schedule)
    half = critical * float(d.std(ddof=1)) / math.sqrt(n)
    low, high = mean - half, mean + half
    outcome = outcome_of(low, high, margin)
    decided = verdict_of(form, outcome) != INCONCLUSIVE or look == len(schedule)
    more = None if decided else schedule[look]
    return Comparison(outcome, mean, (low, high), n, float(margin), critical, look, schedule, more)


def simulate(
    effect: float,
    margin: float,
    schedule: Sequence[int],
    *,
    form: str = "difference",
    shape: str = "obrien-fleming",
    sd: float = 1.0,
    experiments: int = 20_000,
    seed: int = 0,
) -> dict[str, float]:
    """Run `experiments` staged comparisons with normal pairs (mean `effect`, spread `sd`) to the end of the
    schedule, each stopping when decided as `compare` would; returns the share of each outcome at the stop
    and the mean seeds used (`"seeds"`). For calibration tests and power figures."""
    schedule = check_schedule(schedule, shape)
    critical = boundary(schedule, shape)
    rng = np.random.default_rng(seed)
    d = rng.normal(effect, sd, size=(experiments, schedule[-1]))
    final = np.full(experiments, -1)
    used = np.full(experiments, schedule[-1])
    acts = np.array([verdict_of(form, o) != INCONCLUSIVE for o in OUTCOMES])
    for k, n in enumerate(schedule):
        x = d[:, :n]
        mean, half = x.mean(1), critical[k] * x.std(1, ddof=1) / math.sqrt(n)
        code = outcome_codes(mean - half, mean + half, margin)
        stop = (final < 0) & (acts[code] | (k == len(schedule) - 1))
        final = np.where(stop, code, final)
        used = np.where(stop, n, used)
    shares = {o: float((final == i).mean()) for i, o in enumerate(OUTCOMES)}
    return {**shares, "seeds": float(used.mean())}
