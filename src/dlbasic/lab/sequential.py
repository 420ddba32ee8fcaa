r"""Seeds in stages: a group-sequential boundary for the paired interval, so that adding seeds to an undecided
comparison does not inflate any outcome's error.

A comparison is looked at after n_1 < n_2 < ... < n_K paired seeds (a *schedule*, e.g. 3, 6, 12). At look k
the paired interval of the mean difference is :math:`\bar d_k \pm c_k\,\mathrm{SE}_k` with a critical value
c_k in place of Student's :math:`t_{0.975,\,n_k-1}`; the comparison stops at the first look whose interval
decides an outcome (`outcomes.outcome_of`). Each outcome is wrong when the true difference sits at a margin
(A better at d = +m, equivalent at |d| = m, ...), and there the statistic :math:`T_k = (\bar d_k - m)/\mathrm{SE}_k`
of every look is a Student-t statistic of the same growing sample, whatever the noise's scale. So one
condition calibrates every outcome:

.. math:: P\bigl(\exists k:\ T_k > c_k\bigr) = \alpha/2 = 2.5\,\% \quad\text{under normal pairs of mean } m,

(equivalence needs two such one-sided tests at once, so its error is at most this; a directional call at
d = 0 is at most twice it, 5 %). The shape of the boundary is fixed in advance and its height found by
simulation of standard normal pairs (`SIMULATIONS` paths, a fixed seed, so the boundary is the same
everywhere):

* **Pocock** (1977, Biometrika 64:191): the same c at every look;
* **O'Brien–Fleming** (1979, Biometrics 35:549): :math:`c_k = c\,\sqrt{n_K / n_k}`, strict at the early
  looks, close to the fixed-sample value at the last (the default: an early stop needs a clear effect).

With a single look the boundary is Student's quantile exactly. Jennison & Turnbull, *Group Sequential
Methods with Applications to Clinical Trials* (2000), ch. 2–3, give the theory; the t version here is
calibrated by simulation rather than by the normal approximation, since n_1 = 3 leaves 2 degrees of freedom.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence

import numpy as np

from dlbasic.lab.stats import t_quantile

SHAPES = ("obrien-fleming", "pocock")
SIMULATIONS = 200_000  # paths of standard normal pairs behind every boundary
SEED = 20_260_101


def looks(first: int) -> tuple[int, int, int]:
    """The lab's schedule: three looks that double the paired seeds from `first`, as CLAIMS.md v0.3's
    (3, 6, 12). A third look is what gives an effect of two margins a fair chance: with a seed spread of one
    margin, looks 3/6 show it 33 % of the time and 3/6/12 74 % (`benchmarks/decision_power.py`).

    >>> looks(3)
    (3, 6, 12)
    """
    return (first, 2 * first, 4 * first)


def _shape(schedule: tuple[int, ...], shape: str) -> np.ndarray:
    n = np.asarray(schedule, dtype=float)
    return np.sqrt(n[-1] / n) if shape == "obrien-fleming" else np.ones_like(n)


def check_schedule(schedule: Sequence[int], shape: str = "obrien-fleming") -> tuple[int, ...]:
    """`schedule` as a tuple after checking it: increasing seed counts, the first at least 2; a known shape."""
    schedule = tuple(int(n) for n in schedule)
    if not schedule or schedule[0] < 2 or any(b <= a for a, b in itertools.pairwise(schedule)):
        raise ValueError(f"a schedule is increasing seed counts from at least 2, got {schedule}")
    if shape not in SHAPES:
        raise ValueError(f"unknown boundary shape {shape!r}; choose from {SHAPES}")
    return schedule


def t_paths(schedule: tuple[int, ...], paths: int = SIMULATIONS, seed: int = SEED) -> np.ndarray:
    """Student-t statistics at each look of `paths` samples of standard normal pairs that grow by the
    schedule: Tensor [paths, K] (the same samples for every look, as in a real staged comparison)."""
    rng = np.random.default_rng(seed)
    d = rng.standard_normal((paths, schedule[-1]))
    out = np.empty((paths, len(schedule)))
    for k, n in enumerate(schedule):
        x = d[:, :n]
        out[:, k] = x.mean(1) / (x.std(1, ddof=1) / math.sqrt(n))
    return out


def crossing(t: np.ndarray, critical: np.ndarray) -> float:
    """The share of paths whose statistic exceeds the critical value at some look."""
    return float((t > critical).any(axis=1).mean())


@functools.cache
def boundary(schedule: tuple[int, ...], shape: str = "obrien-fleming", alpha: float = 0.05) -> tuple[float, ...]:
    """The critical values c_1..c_K of `schedule` (see the module docstring): P(some T_k > c_k) = alpha / 2
    under normal pairs at the margin, c_k in the given shape. Cached; the same on every machine."""
    schedule = check_schedule(schedule, shape)
    if len(schedule) == 1:
        return (float(t_quantile(1 - alpha / 2, schedule[0] - 1)),)
    t, form = t_paths(schedule), _shape(schedule, shape)
    low, high = 0.5, 50.0  # crossing() falls as the height rises: bisect for alpha / 2
    for _ in range(60):
        mid = (low + high) / 2
        if crossing(t, mid * form) > alpha / 2:
            low = mid
        else:
            high = mid
    return tuple(float(high * f) for f in form)
