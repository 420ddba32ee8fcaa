"""The bias-variance study: its staged runs, what `collect` makes of their values, its verdict on hand-made numbers
(nothing trains here), and the decomposition's identities."""

import numpy as np
import pytest
from staging import added_seeds, plan_stages

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.studies import get_study
from dlbasic.studies.bias_variance import WIDTH_RUN, WIDTHS, variance_split


@pytest.fixture
def ctx():
    return LabContext(make_profile("quick"))


def fake_run(seed, width, bias_exp=-0.2, var_exp=0.1, spread=0.0):
    """A (seed, width) run: bias^2 ~ width^bias_exp, variance ~ width^var_exp (the widest give or take `spread`)."""
    e = 1 + spread * (seed % 3 - 1) * (width == WIDTHS[-1])
    bias2, var = 0.3 * width**bias_exp, 0.02 * width**var_exp * e
    return {
        "classes": 10,
        "loss": bias2 + var,
        "bias2": bias2 * (1 + 0.01 * (seed % 2)),
        "variance": var,
        "variance_init": var / 2,
        "variance_sampling": var / 2,
    }


def run_stages(study, ctx, **kw):
    return plan_stages(study, ctx, lambda r: fake_run(r.args["seed"], r.args["width"], **kw))


def test_plan_declares_a_run_per_seed_and_width_and_adds_seeds_only_while_undecided(ctx):
    study = get_study("bias-variance")
    first = study.plan(ctx, {})
    expected = [(f"seed{s}-width{w}", WIDTH_RUN, {"seed": s, "width": w}) for s in range(8) for w in WIDTHS]
    assert [(r.name, r.fn, r.args) for r in first] == expected
    assert all(0 < r.cost <= 3 and r.trains for r in first)
    assert [len(s) for s in run_stages(study, ctx)[0]] == [study.schedule[0] * len(WIDTHS)]
    # the variance rises about 10 % from 16 to 1024 units, give or take 30 %: undecided until the last look
    stages, results = run_stages(study, ctx, var_exp=0.023, spread=0.3)
    assert [len(s) for s in stages] == [n * len(WIDTHS) for n in added_seeds(study.schedule)]
    assert len(results) == study.schedule[-1] * len(WIDTHS)


def test_collect_gives_the_numbers_judge_reads(ctx):
    study = get_study("bias-variance")
    m = study.collect(ctx, run_stages(study, ctx)[1])
    assert m.numbers["bias2"]["16"][:2] == pytest.approx([0.3 * 16**-0.2, 0.303 * 16**-0.2])
    assert m.numbers["variance"]["1024"] == pytest.approx([0.02 * 1024**0.1] * 8)
    assert m.numbers["classes"] == 10 and m.seeds == list(range(8)) and m.figures
    assert study.judge(m.numbers).verdict == "supported"


def numbers(bias_ratio, var_ratio, n=8, spread=0.0):
    """`n` seeds: bias^2 of the widest net `bias_ratio` times the narrowest's, variance `var_ratio` times (give
    or take `spread`)."""
    lo, hi = str(WIDTHS[0]), str(WIDTHS[-1])
    eps = [s % 3 - 1 for s in range(n)]
    return {
        "widths": list(WIDTHS),
        "bias2": {lo: [0.2 * (1 + 0.01 * e) for e in eps], hi: [0.2 * bias_ratio] * n},
        "variance": {lo: [0.05] * n, hi: [0.05 * var_ratio * (1 + spread * e) for e in eps]},
        "variance_init": {lo: [0.02] * n, hi: [0.02] * n},
        "variance_sampling": {lo: [0.03] * n, hi: [0.03] * n},
    }


def test_judge_gives_each_verdict():
    judge = get_study("bias-variance").judge
    assert judge(numbers(0.5, 1.5)).verdict == "supported"
    both_fall = judge(numbers(0.5, 0.6))  # Neal et al.: wider nets lower both
    assert both_fall.verdict == "contradicted" and [c["outcome"] for c in both_fall.comparisons] == [
        "A better",
        "B better",
    ]
    assert judge(numbers(1.0, 1.5)).verdict == "contradicted"  # bias^2 equivalent within 10 %
    undecided = judge(numbers(0.5, 1.1, spread=0.3))
    assert undecided.verdict == "inconclusive" and undecided.more == 16


def test_variance_split_adds_up_to_the_loss_and_recovers_known_parts():
    rng = np.random.default_rng(0)
    s, i, m, k = 200, 50, 40, 3
    target = np.eye(k)[rng.integers(0, k, m)]  # [M, K]
    mean = rng.normal(size=(m, k))
    sampling = rng.normal(scale=0.3, size=(s, 1, m, k))  # Var = 0.09 per output
    init = rng.normal(scale=0.2, size=(s, i, m, k))  # Var = 0.04 per output
    parts = variance_split(mean + sampling + init, target)
    assert parts["loss"] == pytest.approx(parts["bias2"] + parts["variance_init"] + parts["variance_sampling"])
    assert parts["variance"] == pytest.approx(parts["variance_init"] + parts["variance_sampling"])
    assert parts["variance_init"] == pytest.approx(k * 0.04, rel=0.05)
    assert parts["variance_sampling"] == pytest.approx(k * 0.09, rel=0.15)
    assert parts["bias2"] == pytest.approx(((mean - target) ** 2).sum(1).mean(), rel=0.05)


def test_variance_split_of_identical_predictions_is_all_bias():
    probs = np.tile(np.array([0.7, 0.2, 0.1]), (2, 3, 4, 1))  # [S=2, I=3, M=4, K=3]
    parts = variance_split(probs, np.eye(3)[[0, 1, 2, 0]])
    assert parts["variance_init"] == pytest.approx(0, abs=1e-12)
    assert parts["bias2"] == pytest.approx(parts["loss"])
    with pytest.raises(ValueError):
        variance_split(probs[:1], np.eye(3)[[0, 1, 2, 0]])
