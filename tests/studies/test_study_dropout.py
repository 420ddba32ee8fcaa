"""dropout: what `plan` declares and stages, that `collect` reads the runs' values, and that `judge` gives each
verdict on hand-made numbers (test accuracy at p = 0.5 against p = 0, margin 0.005)."""

import pytest
from staging import added_seeds, plan_stages

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.studies import dropout, get_study
from dlbasic.studies.dropout import JUDGED, RATES, SCHEDULE, TRAIN

CTX = LabContext(make_profile("quick"))


def fake(gain, spread=0.0):
    """Run values: dropout adds `gain` (+- `spread`, alternating by seed) to a seed's accuracy."""

    def value(rate, seed):
        base = 0.90 + 0.001 * seed
        acc = base + (gain + spread * (-1) ** seed if rate else 0.0)
        return {"test_accuracy": acc, "gap": 0.1 - (0.02 if rate else 0.0)}

    return value


def staged(value):
    study = get_study("dropout")
    stages, results = plan_stages(study, CTX, lambda r: value(**r.args))
    return [len(s) for s in stages], study.collect(CTX, results).numbers


def test_plan_declares_one_run_per_rate_and_seed_of_the_first_look():
    runs = get_study("dropout").plan(CTX, {})
    assert len(runs) == len(RATES) * SCHEDULE[0]
    assert {r.fn for r in runs} == {TRAIN} and all(r.cost > 0 for r in runs)
    assert {(r.args["rate"], r.args["seed"]) for r in runs} == {(p, s) for p in RATES for s in range(SCHEDULE[0])}


def test_a_clear_gain_stops_at_the_first_look_and_a_noisy_one_gets_the_second():
    looks, numbers = staged(fake(0.02))
    assert looks == [len(RATES) * SCHEDULE[0]]
    assert numbers["test_accuracy"][JUDGED] == pytest.approx([0.92 + 0.001 * s for s in range(SCHEDULE[0])])
    assert numbers["gap"]["0"] == pytest.approx([0.1] * SCHEDULE[0])
    assert get_study("dropout").judge(numbers).verdict == "supported"
    looks, numbers = staged(fake(0.008, spread=0.006))  # undecided at the first two looks, the last ends it
    assert looks == [len(RATES) * n for n in added_seeds(SCHEDULE)]
    assert len(numbers["test_accuracy"]["0"]) == SCHEDULE[-1]
    assert get_study("dropout").judge(numbers).verdict == "supported"  # the third look decides it


def numbers(diffs):
    base = [0.90 + 0.002 * (i % 5) for i in range(len(diffs))]
    return {
        "test_accuracy": {"0": base, JUDGED: [b + d for b, d in zip(base, diffs)]},
        "gap": {"0": [0.1] * len(diffs), JUDGED: [0.08] * len(diffs)},
    }


@pytest.mark.parametrize(
    ("diffs", "verdict"),
    [
        ([0.012, 0.015, 0.011, 0.013, 0.014] * 2, "supported"),
        ([0.001, -0.001, 0.0, 0.002, -0.002] * 2, "contradicted"),  # equivalent within half a point
        ([-0.02, -0.025, -0.018, -0.022, -0.021] * 2, "contradicted"),  # dropout worse
        ([0.03, -0.02, 0.025, -0.015, 0.01] * 2, "inconclusive"),
    ],
)
def test_judge_compares_test_accuracy_with_a_half_point_margin(diffs, verdict):
    v = dropout.DropoutStudy().judge(numbers(diffs))
    assert v.verdict == verdict
    assert v.comparisons[0]["margin"] == 0.005 and v.comparisons[0]["seeds"] == SCHEDULE[0]
