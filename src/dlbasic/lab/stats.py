r"""The lab's one paired decision rule: a paired t-test on per-seed differences, against a margin.

Setting. A claim favours arm A over arm B. Each arm is run with the same seeds 1..n; seed i fixes the split,
the initialisation and the data order, so only the studied factor differs inside a pair. The measurements
are a_i and b_i ("higher is better" unless ``lower_is_better``), and the analysis is on the paired
differences, signed so that a positive value favours the claim:

.. math::

    d_i = a_i - b_i \quad (\text{or } b_i - a_i \text{ if lower is better}),\qquad
    \bar d = \frac1n \sum_i d_i,\qquad
    s_d^2 = \frac{1}{n-1}\sum_i (d_i - \bar d)^2,\qquad
    \mathrm{SE} = s_d / \sqrt n .

Pairing removes the between-seed variance that both arms share (a lucky split helps both), which is why it
is far more sensitive than comparing the two arms' means.

Test (Student 1908; any text, e.g. Wasserman, *All of Statistics*, 2004, §10.2). If the d_i are i.i.d.
normal with mean μ, then :math:`(\bar d - \mu)/\mathrm{SE}` has Student's t distribution with n-1 degrees
of freedom. With :math:`t^* = t_{1-\alpha/2,\,n-1}` (α = ``level``) the two-sided (1-α) confidence interval
of μ is :math:`\bar d \pm t^* \mathrm{SE}`, and the verdict is

* **supported**     if the CI lies entirely above +margin  (μ > margin, one-sided test at α/2),
* **contradicted**  if the CI lies entirely below -margin  (μ < -margin, one-sided test at α/2),
* **inconclusive**  otherwise.

Why α/2 each way (i.e. a two-sided test at α) rather than α each way: the rule may fire in either
direction, so under no effect (μ = 0, margin = 0) the chance of *any* verdict is α/2 + α/2 = α exactly,
for every n ≥ 2 (with margin > 0 it is smaller still). One-sided tests at α each way would reach 2α = 10 %.
The price is power: with n = 5 seeds a true effect of μ = 2.5·σ_d is found ≈ 98 % of the time
(noncentral t, df 4, δ = 2.5·√5); with n = 3 only ≈ 62 %, so three seeds detect only very large effects.
The margin is a smallest effect of interest, as in superiority/non-inferiority testing
(Schuirmann 1987, J. Pharmacokin. Biopharm. 15:657): a consistent effect smaller than the margin is
not a verdict either way.

``p_value`` is the two-sided p of the margin-shifted test in the nearer direction,
:math:`\min\bigl(1,\ 2\min(P(T \ge (\bar d - m)/\mathrm{SE}),\ P(T \le (\bar d + m)/\mathrm{SE}))\bigr)`;
with margin 0 it equals ``scipy.stats.ttest_rel(a, b).pvalue``, and in general the verdict is decisive
exactly when ``p_value < level``.

Effect size: Cohen's :math:`d_z = \bar d / s_d` (Cohen 1988, *Statistical Power Analysis for the
Behavioral Sciences*, 2nd ed., §2.3; Lakens 2013, Front. Psychol. 4:863), the mean difference in units of
its own seed-to-seed spread; :math:`t = d_z\sqrt n`.

Edge cases: fewer than two pairs give "inconclusive" (no variance estimate). If all differences are the
same (s_d = 0 up to rounding), there is no noise to test against and the verdict is the sign of
:math:`\bar d` against ±margin, deterministically (p = 0 if decisive, 1 if not; CI = [d̄, d̄]).
Non-finite values, unequal lengths, a negative margin or a level outside (0, 1) raise ValueError.

Example (``str`` gives one line, wrapped here):

>>> r = decide([0.91, 0.90, 0.93, 0.92, 0.90], [0.88, 0.89, 0.90, 0.90, 0.87])
>>> r.verdict, r.n
('supported', 5)
>>> print(r)  # doctest: +NORMALIZE_WHITESPACE
supported: mean diff +0.024 (95% CI +0.0129 to +0.0351), d_z=2.68, p=0.00388,
paired t, n=5, two-sided 5% (2.5% each way) — 95% CI lies above 0

The vectorised :func:`paired_verdicts` applies the same rule to many experiments at once (rows of an
array); :func:`decide` is its one-experiment case plus the explanations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from dlbasic.lab.study import CONTRADICTED, INCONCLUSIVE, SUPPORTED

__all__ = [
    "CODE_CONTRADICTED",
    "CODE_INCONCLUSIVE",
    "CODE_SUPPORTED",
    "Decision",
    "PairedTest",
    "decide",
    "paired_test",
    "paired_verdicts",
    "t_cdf",
    "t_quantile",
]

SMALL_EFFECT = 0.2  # |d_z| below this is "small" (Cohen 1988's conventional small effect)
_ZERO_SPREAD = 64 * np.finfo(float).eps  # s_d this small relative to max|d| is rounding, not noise

# Verdict codes of the vectorised rule.
CODE_CONTRADICTED, CODE_INCONCLUSIVE, CODE_SUPPORTED = -1, 0, 1
_VERDICT_OF_CODE = {CODE_CONTRADICTED: CONTRADICTED, CODE_INCONCLUSIVE: INCONCLUSIVE, CODE_SUPPORTED: SUPPORTED}


def t_cdf(t, df):
    """Student-t CDF P(T <= t) with `df` degrees of freedom (elementwise; scipy.special.stdtr)."""
    return special.stdtr(df, t)


def t_quantile(p, df):
    """Student-t quantile: the t with P(T <= t) = p (elementwise; scipy.special.stdtrit)."""
    return special.stdtrit(df, p)


def _check_args(margin: float, level: float) -> None:
    try:
        m, lv = float(margin), float(level)
    except (TypeError, ValueError):
        raise ValueError(f"margin and level must be numbers, got {margin!r} and {level!r}") from None
    if not (math.isfinite(m) and m >= 0):
        raise ValueError(f"margin must be a finite number >= 0, got {margin!r}")
    if not 0 < lv < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")


def _differences(a, b, lower_is_better: bool) -> np.ndarray:
    """d = a - b (b - a if lower is better) as a float array of shape [..., n], after checking the input."""
    try:
        a = np.asarray(a, dtype=float)
        b = np.asarray(b, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"measurements must be numbers: {e}") from None
    if a.shape != b.shape:
        raise ValueError(f"a and b must be paired (same shape), got {a.shape} and {b.shape}")
    if a.ndim == 0:
        raise ValueError("a and b must be sequences of per-seed measurements, got scalars")
    for name, x in (("a", a), ("b", b)):
        if not np.isfinite(x).all():
            bad = np.argwhere(~np.isfinite(x))[0]
            raise ValueError(f"{name} has a non-finite value {x[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    return (b - a) if lower_is_better else (a - b)


@dataclass(frozen=True)
class PairedTest:
    """The paired t rule applied to many experiments at once: every field has the batch shape of the input
    (its last axis, the seeds, removed). `verdict` holds codes -1 / 0 / +1 (contradicted / inconclusive /
    supported). Rows with fewer than 2 pairs cannot occur here (n is shared by all rows and must be >= 2)."""

    n: int
    mean: np.ndarray
    sd: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray
    effect_size: np.ndarray
    zero_spread: np.ndarray
    verdict: np.ndarray


def paired_test(a, b, *, lower_is_better: bool = False, margin: float = 0.0, level: float = 0.05) -> PairedTest:
    """The decision rule of this module, vectorised over leading axes: `a`, `b` of shape [..., n], paired
    along the last axis, n >= 2. See the module docstring for the math."""
    _check_args(margin, level)
    d = _differences(a, b, lower_is_better)
    n = d.shape[-1]
    if n < 2:
        raise ValueError(f"paired_test needs at least 2 pairs, got {n} (decide() handles fewer)")
    df = n - 1
    mean = d.mean(axis=-1)
    sd = d.std(axis=-1, ddof=1)
    scale = np.abs(d).max(axis=-1)
    zero = sd <= _ZERO_SPREAD * scale  # also covers all-zero differences
    se = sd / math.sqrt(n)
    crit = float(t_quantile(1 - level / 2, df))
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.where(zero, 0.0, crit * se)
        lo, hi = mean - half, mean + half
        t_up = (mean - margin) / se  # test of mu > margin
        t_down = (mean + margin) / se  # test of mu < -margin
        p_up = np.where(zero, np.where(mean > margin, 0.0, 1.0), t_cdf(-t_up, df))  # P(T >= t_up)
        p_down = np.where(zero, np.where(mean < -margin, 0.0, 1.0), t_cdf(t_down, df))  # P(T <= t_down)
        p = np.minimum(1.0, 2 * np.minimum(p_up, p_down))
        dz = np.where(zero, np.where(mean == 0, 0.0, np.sign(mean) * np.inf), mean / sd)
    verdict = np.where(lo > margin, CODE_SUPPORTED, np.where(hi < -margin, CODE_CONTRADICTED, CODE_INCONCLUSIVE))
    return PairedTest(
        n=n,
        mean=mean,
        sd=np.where(zero, 0.0, sd),
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        effect_size=dz,
        zero_spread=zero,
        verdict=verdict,
    )


def paired_verdicts(a, b, *, lower_is_better: bool = False, margin: float = 0.0, level: float = 0.05) -> np.ndarray:
    """Verdict codes (-1 contradicted, 0 inconclusive, +1 supported) of many experiments at once; for
    simulations. `a`, `b`: [..., n] with n >= 2."""
    return paired_test(a, b, lower_is_better=lower_is_better, margin=margin, level=level).verdict


@dataclass(frozen=True)
class Decision:
    """The outcome of `decide`. `mean_diff`, `ci` and `effect_size` are of d (positive favours the claim);
    `ci` is the two-sided (1 - level) interval of the mean difference, so the verdict is decisive exactly
    when it clears ±margin. Quantities that cannot be computed (n < 2) are NaN."""

    verdict: str
    mean_diff: float
    ci: tuple[float, float]
    p_value: float
    n: int
    test: str
    effect_size: float
    reason: str
    level: float = 0.05
    margin: float = 0.0

    def __str__(self) -> str:
        if self.n < 2:
            return f"{self.verdict}: {self.reason} ({self.test})"
        conf = _pct(1 - self.level)
        margin = f", margin {_g(self.margin)}" if self.margin else ""
        return (
            f"{self.verdict}: mean diff {self.mean_diff:+.3g} ({conf} CI {self.ci[0]:+.3g} to {self.ci[1]:+.3g}), "
            f"d_z={self.effect_size:.3g}, p={self.p_value:.3g}, {self.test}{margin} — {self.reason}"
        )


def _pct(x: float) -> str:
    return f"{100 * x:.3g}%"


def _g(x: float) -> str:
    return f"{x:.3g}"


def decide(
    a: Sequence[float], b: Sequence[float], *, lower_is_better: bool = False, margin: float = 0.0, level: float = 0.05
) -> Decision:
    """Judge a claim "A beats B" from per-seed measurements paired by index; see the module docstring.

    `a`: the favoured arm, `b`: the other arm, one value per seed, same seeds in the same order.
    `margin` (>= 0, in the units of the measurement): the smallest difference that counts.
    `level`: the chance of a verdict under no effect (two-sided; α/2 in each direction).
    """
    _check_args(margin, level)
    d = _differences(a, b, lower_is_better)
    if d.ndim != 1:
        raise ValueError(f"a and b must be 1-D sequences, got shape {d.shape}")
    n = int(d.size)
    test = f"paired t, n={n}, two-sided {_pct(level)} ({_pct(level / 2)} each way)"
    if n < 2:
        mean = float(d[0]) if n == 1 else math.nan
        return Decision(
            INCONCLUSIVE,
            mean,
            (math.nan, math.nan),
            math.nan,
            n,
            test,
            math.nan,
            f"only {n} paired seed{'s' if n != 1 else ''}: at least 2 are needed to estimate the noise",
            level,
            float(margin),
        )
    r = paired_test(d, np.zeros_like(d), margin=margin, level=level)
    mean, lo, hi = float(r.mean), float(r.ci_low), float(r.ci_high)
    p, dz, zero = float(r.p_value), float(r.effect_size), bool(r.zero_spread)
    verdict = _VERDICT_OF_CODE[int(r.verdict)]
    bound = f"±{_g(margin)}" if margin else "0"
    conf = _pct(1 - level)
    if zero:
        test += ", all differences equal"
        if verdict == SUPPORTED:
            reason = f"every seed favours the claim by the same {_g(mean)} > margin {_g(margin)}"
        elif verdict == CONTRADICTED:
            reason = f"every seed favours the other arm by the same {_g(-mean)} > margin {_g(margin)}"
        else:
            reason = f"small effect: every difference is {_g(mean)}, within the margin {bound}"
    elif verdict == SUPPORTED:
        reason = f"{conf} CI lies above {'+' + _g(margin) if margin else '0'}"
    elif verdict == CONTRADICTED:
        reason = f"{conf} CI lies below {'-' + _g(margin) if margin else '0'}: the other arm is better"
    elif margin > 0 and -margin <= lo and hi <= margin:
        reason = (
            f"small effect: the {conf} CI [{_g(lo)}, {_g(hi)}] lies inside the margin {bound}, "
            f"so any effect is smaller than the margin"
        )
    elif abs(dz) < SMALL_EFFECT:
        reason = (
            f"small effect: |d_z|={abs(dz):.2g} < {SMALL_EFFECT} (mean diff {_g(mean)} against a seed "
            f"spread of {_g(float(r.sd))})"
        )
    else:
        reason = (
            f"under-powered: the {conf} CI [{_g(lo)}, {_g(hi)}] (width {_g(hi - lo)}) is too wide to "
            f"clear {bound} with {n} seeds"
        )
        if margin > 0 and (lo > 0 or hi < 0):
            reason += " — the difference is nonzero but not shown to exceed the margin"
    return Decision(verdict, mean, (lo, hi), p, n, test, dz, reason, level, float(margin))
