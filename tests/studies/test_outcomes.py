"""The outcomes of a comparison, each calibrated at the boundary that makes it wrong, with one look or with seeds in
stages; every check fails when its critical value is loosened."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from dlbasic.lab import outcomes, sequential
from dlbasic.lab.outcomes import A_BETTER, B_BETTER, EQUIVALENT, NON_INFERIOR, UNDECIDED, compare, simulate, verdict_of

N = 40_000  # experiments per setting
ALPHA = 0.025


def ceiling(rate: float = ALPHA, n: int = N) -> float:
    """The most a rate of `rate` shows in `n` experiments, three standard errors up."""
    return rate + 3 * math.sqrt(rate * (1 - rate) / n)


def loosened(monkeypatch, factor: float) -> None:
    """Every critical value times `factor` (< 1: a looser boundary)."""
    exact = sequential.boundary
    monkeypatch.setattr(
        outcomes, "boundary", lambda schedule, shape="obrien-fleming": tuple(c * factor for c in exact(schedule, shape))
    )


SETTINGS = [((3,), "obrien-fleming"), ((3, 6, 12), "obrien-fleming"), ((3, 6, 12), "pocock"), ((5, 10), "pocock")]


def errors(schedule, shape, seed=1) -> dict[str, float]:
    """Each outcome's rate at the boundary that makes it wrong (margin 0.5, spread 1; equivalence with spread
    0.1, where the far side of its two tests always passes and the near side carries the whole error)."""
    m = 0.5
    return {
        "A better at d = +m": simulate(m, m, schedule, shape=shape, experiments=N, seed=seed)[A_BETTER],
        "B better at d = -m": simulate(-m, m, schedule, shape=shape, experiments=N, seed=seed + 1)[B_BETTER],
        "equivalent at d = +m": simulate(
            m, m, schedule, form="sameness", shape=shape, sd=0.1, experiments=N, seed=seed + 2
        )[EQUIVALENT],
        "non-inferior at d = -m": sum(
            simulate(-m, m, schedule, form="non-inferiority", shape=shape, sd=0.1, experiments=N, seed=seed + 3)[o]
            for o in (A_BETTER, EQUIVALENT, NON_INFERIOR)
        ),
    }


@pytest.mark.parametrize(("schedule", "shape"), SETTINGS)
def test_each_outcome_is_wrong_at_most_2_5_percent_at_its_boundary(schedule, shape):
    for name, rate in errors(schedule, shape).items():
        assert 0.8 * ALPHA <= rate <= ceiling(), (name, rate)  # within the bound, and not needlessly strict


@pytest.mark.parametrize(("schedule", "shape"), SETTINGS)
def test_a_loosened_boundary_breaks_the_calibration(monkeypatch, schedule, shape):
    loosened(monkeypatch, 0.85)
    broken = {name: rate for name, rate in errors(schedule, shape).items() if rate > ceiling()}
    assert set(broken) == {"A better at d = +m", "B better at d = -m", "equivalent at d = +m", "non-inferior at d = -m"}


@pytest.mark.parametrize(("schedule", "shape"), SETTINGS)
def test_a_directional_call_at_no_effect_is_at_most_5_percent(schedule, shape):
    r = simulate(0.0, 1e-9, schedule, shape=shape, experiments=N, seed=7)
    assert r[A_BETTER] + r[B_BETTER] <= ceiling(0.05)
    assert r[A_BETTER] + r[B_BETTER] >= 0.6 * 0.05  # two-sided 5 % (with one look: exactly)


def test_one_look_is_students_interval():
    a = [0.91, 0.90, 0.93, 0.92, 0.90]
    b = [0.88, 0.89, 0.90, 0.90, 0.87]
    c = compare(a, b, margin=0.005)
    d = np.subtract(a, b)
    half = scipy_stats.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)
    assert c.ci == pytest.approx((d.mean() - half, d.mean() + half))
    assert c.critical == pytest.approx(scipy_stats.t.ppf(0.975, 4)) and c.decided and c.outcome == A_BETTER


def test_outcomes_follow_the_table_and_forms_map_them_to_verdicts():
    m = 1.0
    assert outcomes.outcome_of(1.5, 3.0, m) == A_BETTER
    assert outcomes.outcome_of(-3.0, -1.5, m) == B_BETTER
    assert outcomes.outcome_of(-0.5, 0.5, m) == EQUIVALENT
    assert outcomes.outcome_of(-0.5, 2.0, m) == NON_INFERIOR
    assert outcomes.outcome_of(-2.0, 2.0, m) == UNDECIDED
    low, high = np.array([1.5, -3.0, -0.5, -0.5, -2.0]), np.array([3.0, -1.5, 0.5, 2.0, 2.0])
    assert [outcomes.OUTCOMES[i] for i in outcomes.outcome_codes(low, high, m)] == [
        A_BETTER,
        B_BETTER,
        EQUIVALENT,
        NON_INFERIOR,
        UNDECIDED,
    ]
    table = {
        "difference": ["supported", "contradicted", "contradicted", "inconclusive", "inconclusive"],
        "sameness": ["contradicted", "contradicted", "supported", "inconclusive", "inconclusive"],
        "non-inferiority": ["supported", "contradicted", "supported", "supported", "inconclusive"],
    }
    for form, verdicts in table.items():
        assert [verdict_of(form, o) for o in outcomes.OUTCOMES] == verdicts
    assert outcomes.combine(["supported", "supported"]) == "supported"
    assert outcomes.combine(["supported", "inconclusive"]) == "inconclusive"
    assert outcomes.combine(["inconclusive", "contradicted"]) == "contradicted"
    with pytest.raises(ValueError, match="unknown claim form"):
        verdict_of("bigger", A_BETTER)


def test_seeds_in_stages_ask_for_the_next_look_until_decided():
    schedule = (3, 6, 12)
    rng = np.random.default_rng(0)
    noisy = rng.normal(0.0, 1.0, 12)
    first = compare(noisy[:3], np.zeros(3), margin=0.1, schedule=schedule)
    assert first.look == 1 and not first.decided and first.more == 6
    last = compare(noisy, np.zeros(12), margin=0.1, schedule=schedule)
    assert last.look == 3 and last.decided and last.more is None
    clear = compare([5.0, 5.2, 4.9], [0.0, 0.1, 0.0], margin=0.1, schedule=schedule)
    assert clear.outcome == A_BETTER and clear.decided and "look 1 of 3" in str(clear)
    # a sameness claim goes on past "non-inferior", a non-inferiority claim stops there
    ni = compare([0.0, 0.05, -0.05], [0.0, 0.0, 0.0], margin=1.0, schedule=schedule, form="non-inferiority")
    assert ni.outcome == EQUIVALENT and ni.decided
    with pytest.raises(ValueError, match="not a look of the schedule"):
        compare(noisy[:4], np.zeros(4), margin=0.1, schedule=schedule)


def test_obrien_fleming_is_strict_early_and_pocock_flat():
    of = sequential.boundary((3, 6, 12), "obrien-fleming")
    po = sequential.boundary((3, 6, 12), "pocock")
    assert of[0] > of[1] > of[2] and of[0] / of[2] == pytest.approx(2.0)
    assert po[0] == po[1] == po[2]
    assert of[2] > scipy_stats.t.ppf(0.975, 11)  # three looks cost some of the last look's power
    with pytest.raises(ValueError, match="increasing seed counts"):
        sequential.boundary((3, 3))


def test_power_rises_with_the_effect_and_stages_save_seeds_on_clear_effects():
    weak = simulate(1.0, 0.5, (3, 6, 12), experiments=N, seed=11)
    strong = simulate(2.5, 0.5, (3, 6, 12), experiments=N, seed=12)
    assert weak[A_BETTER] < strong[A_BETTER] and strong[A_BETTER] > 0.99
    assert strong["seeds"] < 8 < weak["seeds"]
