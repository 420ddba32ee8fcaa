"""weight-decay: what `plan` declares and stages, that `collect` reads the runs' values, and that `judge` gives
each verdict on hand-made numbers (the Jacobian norm with the penalty against without, log 10 % margin)."""

import pytest
from staging import added_seeds, plan_stages

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.studies import get_study, weight_decay
from dlbasic.studies.weight_decay import BASE, JUDGED, MEASURE, SCHEDULE, STRENGTHS, run_name

CTX = LabContext(make_profile("quick"))


def fake(jacobian_ratio, spread=0.0):
    """Run values: the penalized Jacobian is `jacobian_ratio` times the plain one (per seed, +- `spread`)."""

    def value(strength, seed):
        plain = 4.0 + 0.1 * seed
        ratio = 1.0 if strength == 0 else jacobian_ratio * (1 + spread * (-1) ** seed)
        return {"weight_norm": 14.0 - 50 * strength, "jacobian_norm": plain * ratio, "test_accuracy": 0.87}

    return value


def staged(value):
    """Plan, compute with `value` and plan again until done: the run count of each look and the numbers."""
    study = get_study("weight-decay")
    stages, results = plan_stages(study, CTX, lambda r: value(**r.args))
    return [len(s) for s in stages], study.collect(CTX, results).numbers


def test_plan_declares_one_run_per_strength_and_seed_of_the_first_look():
    runs = get_study("weight-decay").plan(CTX, {})
    assert len(runs) == len(STRENGTHS) * SCHEDULE[0]
    assert {r.fn for r in runs} == {MEASURE} and all(r.cost > 0 for r in runs)
    assert {(r.args["strength"], r.args["seed"]) for r in runs} == {(s, i) for s in STRENGTHS for i in range(3)}
    assert run_name(0.01, 2) in {r.name for r in runs}


def test_a_clear_effect_is_decided_at_the_first_look_and_an_unclear_one_gets_more_seeds():
    looks, numbers = staged(fake(0.6))
    assert looks == [len(STRENGTHS) * SCHEDULE[0]]
    assert numbers["jacobian_norm"][JUDGED] == pytest.approx([0.6 * (4.0 + 0.1 * s) for s in range(3)])
    assert get_study("weight-decay").judge(numbers).verdict == "supported"
    looks, numbers = staged(fake(0.85, spread=0.1))  # a 15 % effect, noisy: undecided at 3 and at 6 seeds
    assert looks == [len(STRENGTHS) * n for n in added_seeds(SCHEDULE)]  # the last look ends the plan
    assert len(numbers["jacobian_norm"][BASE]) == SCHEDULE[-1]


def numbers(penalized, plain):
    keys = [f"{s:g}" for s in STRENGTHS]
    jac = {k: plain for k in keys} | {JUDGED: penalized}
    return {
        "jacobian_norm": jac,
        "weight_norm": {k: [10.0, 11.0, 12.0] for k in keys},
        "test_accuracy": {k: [0.87, 0.88, 0.86] for k in keys},
    }


@pytest.mark.parametrize(
    ("penalized", "verdict"),
    [
        ([2.6, 2.8, 2.5], "supported"),  # about 0.6 times the plain norm
        ([4.3, 4.7, 4.1], "contradicted"),  # the same norm: equivalent within 10 %
        ([6.0, 6.5, 5.9], "contradicted"),  # a steeper function
        ([3.9, 2.6, 4.5], "inconclusive"),  # too spread to say
    ],
)
def test_judge_reads_the_jacobian_on_the_log_scale_with_a_ten_percent_margin(penalized, verdict):
    v = weight_decay.WeightDecay().judge(numbers(penalized, [4.4, 4.7, 4.2]))
    assert v.verdict == verdict
    assert v.comparisons[0]["scale"] == "log ratio" and v.comparisons[0]["seeds"] == 3
