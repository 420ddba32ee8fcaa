"""The boosting study: its staged runs, what `collect` makes of their values, its exact checks and its verdict on
hand-made numbers (nothing trains here)."""

import numpy as np
import pytest
from staging import added_seeds, plan_stages

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.studies import get_study
from dlbasic.studies.boosting import SEED_RUN, reweighting

SHIFT = {"share_before": 0.1, "share_after": 0.9, "mistake_factor_min": 9.0, "correct_factor_max": 0.11}


@pytest.fixture
def ctx():
    return LabContext(make_profile("quick"))


def fake_run(seed, gain=0.03, spread=0.0):
    """A seed's run: the vote ends `gain` above its first learner (give or take `spread`), 3 rounds."""
    first = 0.88 + 0.01 * (seed % 3)
    last = first + gain + spread * (seed % 3 - 1)
    return {
        "classes": 10,
        "learner_test_accuracy": [first, 0.8, 0.82],
        "ensemble_test_accuracy": [first, first + gain / 2, last],
        "ensemble_train_error": [0.1, 0.07, 0.05],
        "reweighting": [SHIFT, SHIFT],
    }


def run_stages(study, ctx, **kw):
    return plan_stages(study, ctx, lambda r: fake_run(r.args["seed"], **kw))


def test_plan_declares_one_run_per_seed_and_adds_seeds_only_while_undecided(ctx):
    study = get_study("boosting")
    first = study.plan(ctx, {})
    assert [(r.name, r.fn, r.args) for r in first] == [(f"seed{s}", SEED_RUN, {"seed": s}) for s in range(8)]
    assert all(0 < r.cost <= 3 and r.trains for r in first)
    assert [len(s) for s in run_stages(study, ctx)[0]] == [study.schedule[0]]  # a clear gain: the first look
    noisy = run_stages(study, ctx, gain=0.01, spread=0.02)[0]  # undecided until the last look, which ends it
    assert [len(s) for s in noisy] == added_seeds(study.schedule)


def test_collect_gives_the_numbers_judge_reads(ctx):
    study = get_study("boosting")
    m = study.collect(ctx, run_stages(study, ctx)[1])
    assert m.numbers["first_learner"][:3] == pytest.approx([0.88, 0.89, 0.90])
    assert m.numbers["ensemble"][:3] == pytest.approx([0.91, 0.92, 0.93])
    assert len(m.numbers["reweighting"]) == 16 and m.seeds == list(range(8)) and m.figures
    v = study.judge(m.numbers)
    assert v.verdict == "supported" and all(c["holds"] for c in v.checks) and len(v.checks) == 2


def numbers(n=8, gain=0.03, spread=0.0, shift=SHIFT):
    first = [0.88 + 0.01 * (s % 3) for s in range(n)]
    return {
        "rounds": 3,
        "classes": 10,
        "first_learner": first,
        "ensemble": [f + gain + spread * (s % 3 - 1) for s, f in enumerate(first)],
        "reweighting": [shift] * n,
    }


def test_judge_gives_each_verdict():
    judge = get_study("boosting").judge
    assert judge(numbers()).verdict == "supported"
    assert judge(numbers(gain=-0.02)).verdict == "contradicted"
    assert judge(numbers(gain=0.0)).verdict == "contradicted"  # equivalent: no gain beyond the margin
    undecided = judge(numbers(gain=0.01, spread=0.02))
    assert undecided.verdict == "inconclusive" and undecided.more == 16
    broken = judge(numbers(shift=SHIFT | {"share_after": 0.05}))
    assert broken.verdict == "failed" and [c["holds"] for c in broken.checks] == [True, False]


def test_reweighting_of_a_samme_round():
    d = np.full(4, 0.25)
    wrong = np.array([True, False, False, False])
    r = reweighting(d, np.array([3.0, 1.0, 1.0, 1.0]), wrong)
    assert r == pytest.approx(
        {"share_before": 0.25, "share_after": 0.5, "mistake_factor_min": 2.0, "correct_factor_max": 2 / 3}
    )
