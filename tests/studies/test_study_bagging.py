"""The bagging study: its staged runs, what `collect` makes of their values, and its verdict on hand-made numbers
(nothing trains here)."""

import pytest
import torch
from staging import added_seeds, plan_stages

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.studies import get_study
from dlbasic.studies.bagging import MEMBERS, SEED_RUN, disagreement


@pytest.fixture
def ctx():
    return LabContext(make_profile("quick"))


def fake_run(seed, gain=0.02, spread=0.0):
    """A seed's run: the bagged soft vote `gain` above the single net (give or take `spread`)."""
    single = 0.9 + 0.005 * (seed % 3)
    bagged = single + gain + spread * (seed % 3 - 1)
    return {
        "bagged_soft": bagged,
        "bagged_hard": bagged - 0.002,
        "single": single,
        "random_init": single + 0.025,
        "member_mean": single - 0.03,
        "disagreement": 0.08,
        "bagged_by_members": [single - 0.03 + (gain + 0.03) * k / MEMBERS for k in range(1, MEMBERS + 1)],
    }


def run_stages(study, ctx, **kw):
    return plan_stages(study, ctx, lambda r: fake_run(r.args["seed"], **kw))


def test_plan_declares_one_run_per_seed_and_adds_seeds_only_while_undecided(ctx):
    study = get_study("bagging")
    first = study.plan(ctx, {})
    assert [(r.name, r.fn, r.args) for r in first] == [(f"seed{s}", SEED_RUN, {"seed": s}) for s in range(6)]
    assert all(0 < r.cost <= 6 and r.trains for r in first)
    assert [len(s) for s in run_stages(study, ctx)[0]] == [study.schedule[0]]  # a clear gain: the first look
    noisy = run_stages(study, ctx, gain=0.01, spread=0.02)[0]  # undecided until the last look, which ends it
    assert [len(s) for s in noisy] == added_seeds(study.schedule)


def test_collect_gives_the_numbers_judge_reads(ctx):
    study = get_study("bagging")
    m = study.collect(ctx, run_stages(study, ctx)[1])
    assert m.numbers["single"][:3] == pytest.approx([0.9, 0.905, 0.91])
    assert m.numbers["bagged_soft"][:3] == pytest.approx([0.92, 0.925, 0.93])
    assert len(m.numbers["bagged_by_members"]) == 6 and m.seeds == list(range(6)) and m.figures
    assert study.judge(m.numbers).verdict == "supported"


def numbers(gain, spread=0.0, n=6):
    single = [0.9 + 0.005 * (s % 3) for s in range(n)]
    bagged = [a + gain + spread * (s % 3 - 1) for s, a in enumerate(single)]
    return {
        "bagged_soft": bagged,
        "bagged_hard": bagged,
        "single": single,
        "random_init": single,
        "member_mean": single,
        "disagreement": [0.1] * n,
    }


def test_judge_gives_each_verdict():
    judge = get_study("bagging").judge
    assert judge(numbers(0.02)).verdict == "supported"
    assert judge(numbers(-0.02)).verdict == "contradicted"
    same = judge(numbers(0.0))
    assert same.verdict == "contradicted" and same.comparisons[0]["outcome"] == "equivalent"
    undecided = judge(numbers(0.01, spread=0.02))
    assert undecided.verdict == "inconclusive" and undecided.more == 12


def test_disagreement_is_the_mean_share_of_differing_predictions():
    probs = torch.tensor([[[0.9, 0.1], [0.9, 0.1]], [[0.9, 0.1], [0.1, 0.9]], [[0.1, 0.9], [0.1, 0.9]]])  # [M, N, K]
    assert disagreement(probs) == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    assert disagreement(probs[:1]) == 0.0
