"""The evaluation studies as runs: what `plan` declares at each stage, and what `collect` makes of the runs'
values (fake ones: nothing trains here)."""

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
