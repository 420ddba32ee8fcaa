"""The evaluation studies as runs: what `plan` declares at each stage, and what `collect` makes of the runs'
values (fake ones: nothing trains here)."""

import pytest
from fakes.evaluation import BATCH_CHOSEN, FAKES, RUN_FAKES

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


def test_batch_size_tunes_first_then_starts_at_the_chosen_rates(ctx):
    stages, _ = run_all_stages(get_study("batch-size"), ctx, RUN_FAKES["batch-size"][0])
    assert len(stages) == 2
    fn = "dlbasic.studies.batch_size:train_to_target"
    tuning = {
        f"seed{s}-{name}-lr{lr:g}": {"seed": s, "batch": batch, "lr": lr}
        for s in SEEDS
        for name, batch, lrs in (("small", 16, (3e-3, 1e-2, 3e-2)), ("large", 512, (1e-2, 3e-2, 1e-1)))
        for lr in lrs
    }
    assert {r.name: r.args for r in stages[0]} == tuning
    starts = {
        f"seed{s}-{name}-start{k}": {"seed": 1000 * s + k, "batch": batch, "lr": BATCH_CHOSEN[batch]}
        for s in SEEDS
        for name, batch in (("small", 16), ("large", 512))
        for k in (1, 2)
    }
    assert {r.name: r.args for r in stages[1]} == starts
    assert all(r.fn == fn and 0 < r.cost <= 12 for r in stages[0] + stages[1])


def test_batch_size_waits_for_every_tuning_run(ctx):
    study = get_study("batch-size")
    tuning = study.plan(ctx, {})
    partial = {r.name: RUN_FAKES["batch-size"][0](r.args) for r in tuning[:-1]}
    assert [r.name for r in study.plan(ctx, partial)] == [tuning[-1].name]


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
