"""The evaluation studies as runs: what `plan` declares at each stage, and what `collect` makes of the runs'
values (fake ones: nothing trains here)."""

import math

import pytest
from fakes.evaluation import FAKES, RUN_FAKES

from dlbasic.lab.context import LabContext, Profile
from dlbasic.studies import get_study

SEEDS = (0, 1, 2)


@pytest.fixture
def ctx():
    return LabContext(Profile("quick", SEEDS, 1.0, None, "cpu"))


def run_all_stages(study, ctx, fake):
    """Plan stage after stage, answering every run with `fake(args)`; the stages' runs and the results."""
    results, stages = {}, []
    while runs := study.plan(ctx, dict(results)):
        assert len({r.name for r in runs}) == len(runs)
        assert not any(r.name in results for r in runs)
        stages.append(runs)
        results.update({r.name: fake(r.args) for r in runs})
        assert len(stages) <= 3
    return stages, results


def unit_runs(fn):
    return {f"seed{s}-unit{u}": (fn, {"seed": s, "unit": u}) for s in SEEDS for u in range(UNITS[fn])}


UNITS = {
    "dlbasic.studies.generalization:unit_run": 3,
    "dlbasic.studies.cross_validation:unit_run": 5,
    "dlbasic.studies.bagging:unit_run": 3,
    "dlbasic.studies.boosting:unit_run": 5,
}
ONE_STAGE = {
    "generalization": unit_runs("dlbasic.studies.generalization:unit_run"),
    "cross-validation": unit_runs("dlbasic.studies.cross_validation:unit_run"),
    "bagging": unit_runs("dlbasic.studies.bagging:unit_run"),
    "boosting": unit_runs("dlbasic.studies.boosting:unit_run"),
    "bias-variance": {
        f"seed{s}-width{w}": ("dlbasic.studies.bias_variance:width_run", {"seed": s, "width": w})
        for s in SEEDS
        for w in (1, 4, 16, 64, 256, 1024)
    },
}


@pytest.mark.parametrize("study_id", sorted(ONE_STAGE))
def test_plan_declares_one_stage_of_runs(study_id, ctx):
    stages, _ = run_all_stages(get_study(study_id), ctx, RUN_FAKES[study_id][0])
    assert len(stages) == 1
    assert {r.name: (r.fn, r.args) for r in stages[0]} == ONE_STAGE[study_id]
    assert all(0 < r.cost <= 12 and r.trains for r in stages[0])


@pytest.mark.parametrize("study_id", sorted(RUN_FAKES))
def test_collect_gives_the_numbers_judge_reads(study_id, ctx):
    study = get_study(study_id)
    fake, expected = RUN_FAKES[study_id]
    _, results = run_all_stages(study, ctx, fake)
    m = study.collect(ctx, results)
    assert set(FAKES[study_id][0][0]) <= set(m.numbers)  # every key the judge's fakes give
    assert study.judge(m.numbers).verdict == expected
    assert m.figures and all(fig.axes for _, fig in m.figures)
    assert list(m.seeds) == list(SEEDS)


def test_generalization_collects_units_in_seed_then_unit_order(ctx):
    _, results = run_all_stages(get_study("generalization"), ctx, RUN_FAKES["generalization"][0])
    results["seed1-unit2"]["train_accuracy"]["clean"]["512"] = 0.5
    numbers = get_study("generalization").collect(ctx, results).numbers
    assert numbers["train_accuracy"]["clean"]["512"][5] == 0.5  # units 0-2 of seed 0, then of seed 1
    assert len(numbers["train_accuracy"]["clean"]["32"]) == len(SEEDS)  # middle widths: the first unit only
    assert numbers["widest_curves"] == results["seed0-unit0"]["widest_curves"]


def test_boosting_keeps_a_stopped_unit_as_nan(ctx):
    _, results = run_all_stages(get_study("boosting"), ctx, RUN_FAKES["boosting"][0])
    numbers = get_study("boosting").collect(ctx, results).numbers
    assert math.isnan(numbers["focus_accuracy"][4]) and math.isfinite(numbers["focus_accuracy"][5])
    assert len(numbers["ensemble_train_error"]) == len(SEEDS)


def test_cross_validation_regret_of_each_arm(ctx):
    _, results = run_all_stages(get_study("cross-validation"), ctx, RUN_FAKES["cross-validation"][0])
    numbers = get_study("cross-validation").collect(ctx, results).numbers
    assert numbers["chosen"]["cv"] == [2] * 15 and numbers["chosen"]["holdout"] == [0] * 15
    assert numbers["regret"]["cv"] == [0.0] * 15
    assert numbers["units"][:6] == [[0, 0], [0, 1], [0, 2], [0, 3], [0, 4], [1, 0]]
