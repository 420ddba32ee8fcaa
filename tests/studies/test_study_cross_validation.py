"""The cross-validation study: its staged runs, what `collect` makes of their values, and its verdict on hand-made
numbers (nothing trains here)."""

import numpy as np
import pytest
from staging import added_seeds, plan_stages

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.studies import get_study
from dlbasic.studies.cross_validation import CANDIDATES, POOLS, SEED_RUN, choice_and_regret

C = len(CANDIDATES)


@pytest.fixture
def ctx():
    return LabContext(make_profile("quick"))


def fake_run(seed, loss=0.02):
    """A seed's run: CV picks the best candidate (index 2) of every pool, the hold-out candidate 0, which tests
    `loss` (plus 0.002 x seed mod 3) below it."""
    test = [0.9 - loss - 0.002 * (seed % 3)] + [0.88] * (C - 1)
    test[2] = 0.9
    cv = [0.8] * C
    cv[2] = 0.85
    holdout = [0.9] + [0.8] * (C - 1)
    return {"cv_accuracy": [cv] * POOLS, "holdout_accuracy": [holdout] * POOLS, "test_accuracy": [test] * POOLS}


def run_stages(study, ctx, fake=fake_run):
    return plan_stages(study, ctx, lambda r: fake(r.args["seed"]))


def test_plan_declares_one_run_per_seed_and_adds_seeds_only_while_undecided(ctx):
    study = get_study("cross-validation")
    first = study.plan(ctx, {})
    assert [(r.name, r.fn, r.args) for r in first] == [(f"seed{s}", SEED_RUN, {"seed": s}) for s in range(6)]
    assert all(0 < r.cost <= 6 and r.trains for r in first)
    assert [len(s) for s in run_stages(study, ctx)[0]] == [study.schedule[0]]  # a clear gain: the first look
    noisy = lambda seed: fake_run(seed, loss=[0.0, 0.0, 0.03][seed % 3])  # noqa: E731
    # undecided until the last look, which ends the plan
    assert [len(s) for s in run_stages(study, ctx, noisy)[0]] == added_seeds(study.schedule)


def test_collect_gives_the_numbers_judge_reads(ctx):
    study = get_study("cross-validation")
    m = study.collect(ctx, run_stages(study, ctx)[1])
    assert m.numbers["chosen"]["cv"] == [[2] * POOLS] * 6 and m.numbers["chosen"]["holdout"] == [[0] * POOLS] * 6
    assert m.numbers["regret"]["cv"] == [0.0] * 6
    assert m.numbers["regret"]["holdout"][:3] == pytest.approx([0.02, 0.022, 0.024])
    assert m.seeds == list(range(6)) and m.figures
    assert study.judge(m.numbers).verdict == "supported"


def numbers(cv, holdout):
    n = len(cv)
    return {
        "folds": 3,
        "pools": POOLS,
        "regret": {"cv": cv, "holdout": holdout},
        "chosen": {"cv": [[0]] * n, "holdout": [[1]] * n},
    }


def test_judge_gives_each_verdict():
    judge = get_study("cross-validation").judge
    lower = [0.001, 0.0, 0.002, 0.001, 0.0, 0.003]
    higher = [0.021, 0.018, 0.025, 0.02, 0.019, 0.022]
    assert judge(numbers(lower, higher)).verdict == "supported"
    assert judge(numbers(higher, lower)).verdict == "contradicted"
    tied = judge(numbers(lower, [r + 0.0005 for r in lower]))
    assert tied.verdict == "contradicted" and tied.comparisons[0]["outcome"] == "equivalent"
    undecided = judge(numbers(lower, [0.0, 0.03, 0.0, 0.03, 0.0, 0.03]))
    assert undecided.verdict == "inconclusive" and undecided.more == 12


def test_choice_and_regret_ties_go_to_the_first_candidate():
    assert choice_and_regret(np.array([0.9, 0.95, 0.95]), np.array([0.97, 0.96, 0.98])) == (1, pytest.approx(0.02))
    assert choice_and_regret(np.array([0.5, 0.4]), np.array([0.97, 0.96])) == (0, 0.0)
