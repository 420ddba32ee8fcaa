"""The lab's paired decision rule (dlbasic.lab.stats): calibration, power, direction, margin, exact values,
bad input."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from dlbasic.lab.stats import (
    CODE_CONTRADICTED,
    CODE_INCONCLUSIVE,
    CODE_SUPPORTED,
    Decision,
    decide,
    paired_test,
    paired_verdicts,
    t_quantile,
)

EXPERIMENTS = 20_000  # simulated experiments per setting; all vectorized, a few ms each


def _binomial_allowance(p: float, trials: int, sigmas: float = 3.0) -> float:
    """Monte-Carlo allowance: `sigmas` binomial standard deviations of a rate p estimated from `trials`."""
    return sigmas * math.sqrt(p * (1 - p) / trials)


def _simulate(n: int, effect_in_sd_of_d: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """EXPERIMENTS paired experiments with n seeds each: a shared per-seed term (split/init luck, common to both
    arms and large), independent N(0, 1) noise per arm, and a planted mean difference in units of sd(d)."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0.0, 5.0, (EXPERIMENTS, n))
    sd_d = math.sqrt(2.0)  # d = noise_a - noise_b + effect
    a = 0.7 + shared + rng.normal(0.0, 1.0, (EXPERIMENTS, n)) + effect_in_sd_of_d * sd_d
    b = 0.7 + shared + rng.normal(0.0, 1.0, (EXPERIMENTS, n))
    return a, b


# ---------------------------------------------------------------------------------------------------- (1) calibration


@pytest.mark.parametrize("n", [3, 5])
def test_no_effect_gives_a_verdict_at_most_5_percent_of_the_time(n):
    a, b = _simulate(n, 0.0, seed=100 + n)
    verdicts = paired_verdicts(a, b)
    rate = float(np.mean(verdicts != CODE_INCONCLUSIVE))
    # The two-sided 5% test is exact for normal d, so the rate is 0.05 up to Monte-Carlo error: 3 binomial sd of
    # a 5% rate over 20 000 experiments = 0.0046. One-sided 5% tests each way would give ~0.10 and fail here.
    allowance = _binomial_allowance(0.05, EXPERIMENTS)
    assert rate <= 0.05 + allowance, f"n={n}: verdict rate {rate:.4f} under no effect"
    # ... and it is not conservative either (a rule that never decides would pass the line above, not this one)
    assert rate >= 0.05 - allowance, f"n={n}: verdict rate {rate:.4f} is below the nominal 5%"
    # both directions equally often (each 2.5%)
    for code in (CODE_SUPPORTED, CODE_CONTRADICTED):
        one_way = float(np.mean(verdicts == code))
        assert abs(one_way - 0.025) <= _binomial_allowance(0.025, EXPERIMENTS), (n, code, one_way)


def test_a_margin_only_lowers_the_no_effect_verdict_rate():
    a, b = _simulate(5, 0.0, seed=7)
    rate = float(np.mean(paired_verdicts(a, b, margin=0.5) != CODE_INCONCLUSIVE))
    assert rate < 0.05 - _binomial_allowance(0.05, EXPERIMENTS)


# ---------------------------------------------------------------------------------------------------------- (2) power


@pytest.mark.parametrize(("effect", "expected"), [(2.5, CODE_SUPPORTED), (-2.5, CODE_CONTRADICTED)])
def test_an_effect_of_2_5_sd_is_found_with_5_seeds(effect, expected):
    a, b = _simulate(5, effect, seed=11 if effect > 0 else 12)
    verdicts = paired_verdicts(a, b)
    power = float(np.mean(verdicts == expected))
    # exact power (noncentral t, df 4, delta 2.5*sqrt(5), critical value 2.776) is 0.982
    assert power >= 0.80, f"power {power:.3f}"
    # and the wrong verdict essentially never
    assert float(np.mean(verdicts == -expected)) < 0.001


def test_vectorized_rule_and_decide_agree():
    a, b = _simulate(4, 1.0, seed=3)
    a, b = a[:200], b[:200]
    batch = paired_test(a, b, margin=0.3)
    names = {CODE_SUPPORTED: "supported", CODE_CONTRADICTED: "contradicted", CODE_INCONCLUSIVE: "inconclusive"}
    for i in range(200):
        one = decide(a[i].tolist(), b[i].tolist(), margin=0.3)
        assert one.verdict == names[int(batch.verdict[i])]
        assert one.p_value == pytest.approx(float(batch.p_value[i]), rel=1e-12)
        assert (one.p_value < 0.05) == (one.verdict != "inconclusive")
        assert one.ci == pytest.approx((float(batch.ci_low[i]), float(batch.ci_high[i])), rel=1e-12)


# ------------------------------------------------------------------------------------------------ (3) lower is better


def test_lower_is_better_flips_the_direction():
    losses_a = [0.30, 0.28, 0.33, 0.31, 0.29]  # the favoured arm has lower loss on every seed
    losses_b = [0.35, 0.32, 0.36, 0.37, 0.33]
    assert decide(losses_a, losses_b, lower_is_better=True).verdict == "supported"
    assert decide(losses_a, losses_b).verdict == "contradicted"
    assert decide(losses_b, losses_a, lower_is_better=True).verdict == "contradicted"
    flipped, plain = decide(losses_a, losses_b, lower_is_better=True), decide(losses_b, losses_a)
    assert flipped.mean_diff == pytest.approx(plain.mean_diff) and flipped.mean_diff > 0
    assert flipped.p_value == pytest.approx(plain.p_value)
    assert flipped.ci == pytest.approx(plain.ci)


# ------------------------------------------------------------------------------------------------------- (4) margin


def test_a_consistent_effect_inside_the_margin_is_inconclusive_and_says_so():
    rng = np.random.default_rng(0)
    b = 0.80 + rng.normal(0, 0.02, 5)
    a = b + 0.004 + rng.normal(0, 0.0005, 5)  # +0.4 points on every seed, very consistently
    assert decide(a, b).verdict == "supported"  # without a margin it is a real (tiny) effect
    r = decide(a, b, margin=0.01)  # but one point is the smallest difference that counts
    assert r.verdict == "inconclusive"
    assert "margin" in r.reason and "small effect" in r.reason
    assert -0.01 < r.ci[0] < r.ci[1] < 0.01
    # the same in the other direction
    assert decide(b, a, margin=0.01).verdict == "inconclusive"
    assert decide(b, a).verdict == "contradicted"


def test_an_effect_beyond_the_margin_is_supported_and_a_straddling_one_is_not():
    b = np.array([0.80, 0.82, 0.79, 0.81, 0.80])
    assert decide(b + np.array([0.050, 0.052, 0.049, 0.051, 0.050]), b, margin=0.01).verdict == "supported"
    r = decide(b + np.array([0.004, 0.02, 0.008, 0.015, 0.012]), b, margin=0.01)  # CI about [0.004, 0.019]
    assert r.verdict == "inconclusive" and "margin" in r.reason and "under-powered" in r.reason


def test_inconclusive_reasons_tell_small_from_under_powered():
    small = decide([1.0, 2.0, 3.0, 4.0, 5.0], [1.01, 2.0, 2.99, 4.02, 4.98])  # d_z ~ 0
    assert small.verdict == "inconclusive" and "small effect" in small.reason and "d_z" in small.reason
    wide = decide([1.0, 2.0, 3.0], [0.5, 2.2, 2.1])  # d_z 0.72 with 3 seeds
    assert wide.verdict == "inconclusive" and "under-powered" in wide.reason


# --------------------------------------------------------------------------------------------- (5) hand-computed values

A = [0.91, 0.90, 0.93, 0.92, 0.90]
B = [0.88, 0.89, 0.90, 0.90, 0.87]
# By hand: d = [0.03, 0.01, 0.03, 0.02, 0.03], mean 0.024, deviations (6, -14, 6, -4, 6)e-3, sum of squares
# 320e-6, s_d = sqrt(320e-6 / 4) = 0.0089443, SE = s_d / sqrt(5) = 0.004, t = 6.0 exactly, d_z = 6/sqrt(5).
# t table: t_{0.975,4} = 2.776445 -> CI = 0.024 -/+ 2.776445 * 0.004 = [0.01289422, 0.03510578].
# Two-sided p for t = 6, df = 4 from the closed-form t_4 distribution (integrate the density
# (3/8)(1 + t^2/4)^(-5/2) with x = t / sqrt(t^2 + 4)): P(|T| > t) = 1 - x (3 - x^2) / 2 = 0.0038825370.
HAND_MEAN, HAND_CI, HAND_T, HAND_DZ = 0.024, (0.01289422, 0.03510578), 6.0, 6.0 / math.sqrt(5)


def _t4_two_sided_p(t: float) -> float:
    """Closed form for df = 4: P(|T| > t) = 1 - x (3 - x^2) / 2 with x = t / sqrt(t^2 + 4)."""
    x = t / math.sqrt(t * t + 4)
    return 1 - x * (3 - x * x) / 2


def test_hand_computed_example():
    r = decide(A, B)
    assert r.verdict == "supported" and r.n == 5
    assert r.mean_diff == pytest.approx(HAND_MEAN, rel=1e-12)
    assert r.ci == pytest.approx(HAND_CI, abs=5e-9)
    assert r.effect_size == pytest.approx(HAND_DZ, rel=1e-9)
    assert r.p_value == pytest.approx(_t4_two_sided_p(HAND_T), rel=1e-9)
    assert r.p_value == pytest.approx(0.0038825370, rel=1e-7)
    # critical values from the t table
    assert float(t_quantile(0.975, 4)) == pytest.approx(2.776445, abs=1e-6)
    assert float(t_quantile(0.975, 2)) == pytest.approx(4.302653, abs=1e-6)
    assert float(t_quantile(0.95, 4)) == pytest.approx(2.131847, abs=1e-6)


def test_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(5)
    for n in (2, 3, 5, 8):
        a, b = rng.normal(0, 1, n), rng.normal(0.3, 1, n)
        r = decide(a, b, level=0.1)
        ref = stats.ttest_rel(a, b)
        assert r.p_value == pytest.approx(ref.pvalue, rel=1e-10)
        d = a - b
        se = d.std(ddof=1) / math.sqrt(n)
        half = stats.t.ppf(0.95, n - 1) * se
        assert r.ci == pytest.approx((d.mean() - half, d.mean() + half), rel=1e-10)
        assert r.effect_size == pytest.approx(d.mean() / d.std(ddof=1), rel=1e-10)


# ----------------------------------------------------------------------------------------------------- edge cases


def test_fewer_than_two_pairs_is_inconclusive_with_a_reason():
    one = decide([0.9], [0.1])
    assert one.verdict == "inconclusive" and one.n == 1 and "at least 2" in one.reason
    assert one.mean_diff == pytest.approx(0.8) and math.isnan(one.p_value)
    none = decide([], [])
    assert none.verdict == "inconclusive" and none.n == 0 and math.isnan(none.mean_diff)
    assert "\n" not in str(one) and "inconclusive" in str(none)


def test_identical_differences_decide_by_sign_against_the_margin():
    base = [0.3, 0.5, 0.7]
    up = decide([x + 0.1 for x in base], base)  # rounding makes the differences equal only up to ~1e-16
    assert up.verdict == "supported" and up.p_value == 0.0 and up.effect_size == math.inf
    assert decide(base, [x + 0.1 for x in base]).verdict == "contradicted"
    assert decide([x + 0.1 for x in base], base, margin=0.2).verdict == "inconclusive"
    same = decide(base, base)
    assert same.verdict == "inconclusive" and same.p_value == 1.0 and same.effect_size == 0.0


def test_decision_is_frozen_and_prints_one_line():
    r = decide(A, B, margin=0.001)
    assert isinstance(r, Decision)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.verdict = "contradicted"  # type: ignore[misc]
    line = str(r)
    assert "\n" not in line and line.startswith("supported") and "paired t, n=5" in line and "margin 0.001" in line


# -------------------------------------------------------------------------------------------------- (6) bad input


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "match"),
    [
        ([1.0, float("nan"), 2.0], [1.0, 1.0, 1.0], {}, "non-finite"),
        ([1.0, 2.0, 3.0], [1.0, float("inf"), 1.0], {}, "non-finite"),
        ([1.0, 2.0, 3.0], [1.0, 2.0], {}, "paired"),
        ([[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, 4.0]], {}, "1-D"),
        (1.0, 2.0, {}, "sequences"),
        (["x", "y"], [1.0, 2.0], {}, "numbers"),
        ([1.0, 2.0], [0.0, 1.0], {"margin": -0.1}, "margin"),
        ([1.0, 2.0], [0.0, 1.0], {"margin": float("nan")}, "margin"),
        ([1.0, 2.0], [0.0, 1.0], {"level": 0.0}, "level"),
        ([1.0, 2.0], [0.0, 1.0], {"level": 1.5}, "level"),
    ],
)
def test_bad_input_is_a_clear_error(a, b, kwargs, match):
    with pytest.raises(ValueError, match=match):
        decide(a, b, **kwargs)


def test_vectorized_rule_needs_two_pairs():
    with pytest.raises(ValueError, match="at least 2"):
        paired_verdicts(np.zeros((10, 1)), np.zeros((10, 1)))
