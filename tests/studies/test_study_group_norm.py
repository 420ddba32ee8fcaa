"""The group-norm study: matched steps at batch 2 and 32, the runs `plan` declares look by look (only for the
norms whose part is undecided), and the two parts `judge` reads: group norm's sameness, batch norm's drop."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from dlbasic.lab import LabContext, Profile
from dlbasic.lab.context import make_profile
from dlbasic.studies import get_study
from dlbasic.studies import group_norm as gn

GN_SAME = [0.950, 0.951, 0.949]  # group norm: batch 2 within 0.1 point of batch 32
GN_32 = [0.9505, 0.9505, 0.9495]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_both_batch_sizes_take_the_same_number_of_steps():
    for profile in ("quick", "full"):
        ctx = LabContext(make_profile(profile))
        steps = {b: gn.epochs(ctx, b) * ctx.profile.size(gn.SUBSET) // b for b in gn.BATCH_SIZES}
        assert steps[2] == steps[32] == ctx.profile.size(gn.STEPS)
    assert gn.SUBSET % 32 == 0 and gn.BATCH_SIZES == (2, 32)


def results_of(acc: dict, seeds) -> dict:
    """Run values from accuracies by norm and batch (one per seed)."""
    return {
        gn.run_name(n, b, s): {"accuracy": acc[n][b][i], "train_loss": 0.01}
        for n in acc
        for b in acc[n]
        for i, s in enumerate(seeds)
    }


def test_plan_runs_every_norm_and_batch_then_more_seeds_only_for_the_undecided_part():
    ctx = LabContext(Profile(seeds=(0, 1, 2)))
    study = get_study("group-norm")
    runs = {r.name: r for r in study.plan(ctx, {})}
    assert set(runs) == {gn.run_name(n, b, s) for n in ("batch", "group") for b in (2, 32) for s in (0, 1, 2)}
    assert runs["batch-batch2-seed1"].args == {"norm": "batch", "batch_size": 2, "seed": 1}
    assert all(r.fn == gn.TRAIN and r.cost > 0 for r in runs.values())
    bn_drops = {"2": [0.80, 0.82, 0.81], "32": [0.95, 0.96, 0.95]}
    # batch norm's drop is decided (supported); group norm's noisy difference is not: its seeds 3-5 only
    undecided = {"group": {"2": [0.95, 0.94, 0.96], "32": [0.945, 0.95, 0.95]}, "batch": bn_drops}
    more = {r.name for r in study.plan(ctx, results_of(undecided, (0, 1, 2)))}
    assert more == {gn.run_name("group", b, s) for b in (2, 32) for s in (3, 4, 5)}
    # both decided: nothing more
    decided = {"group": {"2": GN_SAME, "32": GN_32}, "batch": bn_drops}
    assert study.plan(ctx, results_of(decided, (0, 1, 2))) == []
    # group norm contradicted (batch 2 worse by 5 points): the claim is decided, nothing more
    worse = {"group": {"2": [0.90, 0.91, 0.90], "32": [0.95, 0.96, 0.95]}, "batch": {"2": [0.95] * 3, "32": [0.95] * 3}}
    assert study.plan(ctx, results_of(worse, (0, 1, 2))) == []


def test_collect_keeps_each_norms_own_seeds_and_judge_reads_them():
    ctx = LabContext(Profile(seeds=(0, 1, 2)))
    study = get_study("group-norm")
    group = {"2": [0.95, 0.94, 0.96, 0.95, 0.95, 0.95], "32": [0.95, 0.95, 0.95, 0.95, 0.951, 0.949]}
    results = results_of({"group": group}, range(6))
    results |= results_of({"batch": {"2": [0.8, 0.81, 0.8], "32": [0.95, 0.96, 0.95]}}, range(3))
    del results[gn.run_name("group", 2, 5)]  # an unfinished run: seed 5 is not paired yet
    m = study.collect(ctx, results)
    assert m.numbers["seeds"] == {"group": [0, 1, 2, 3, 4], "batch": [0, 1, 2]}
    assert m.numbers["test_accuracy"]["batch"] == {"2": [0.8, 0.81, 0.8], "32": [0.95, 0.96, 0.95]}
    assert m.numbers["train_loss"]["group"]["32"] == [0.01] * 5
    assert m.seeds == [0, 1, 2, 3, 4] and len(m.figures) == 1


@pytest.mark.parametrize(
    ("group", "batch", "verdict", "outcomes"),
    [
        # group norm flat within 0.1 point, batch norm loses 15 points at batch 2
        ((GN_SAME, GN_32), ([0.80, 0.82, 0.81], [0.95, 0.96, 0.95]), "supported", ("equivalent", "A better")),
        # group norm loses 5 points at batch 2: not the same
        (([0.90, 0.91, 0.90], [0.95, 0.96, 0.95]), ([0.80, 0.82, 0.81], [0.95, 0.96, 0.95]), "contradicted", None),
        # batch norm does not drop either
        ((GN_SAME, GN_32), ([0.95, 0.951, 0.949], [0.9505, 0.9505, 0.9495]), "contradicted", None),
        # group norm too noisy to say
        (([0.95, 0.93, 0.96], [0.945, 0.95, 0.95]), ([0.80, 0.82, 0.81], [0.95, 0.96, 0.95]), "inconclusive", None),
    ],
)
def test_judge_needs_group_norm_equivalent_and_batch_norm_worse_at_batch_2(group, batch, verdict, outcomes):
    acc = {"group": dict(zip(("2", "32"), group)), "batch": dict(zip(("2", "32"), batch))}
    v = get_study("group-norm").judge({"test_accuracy": acc})
    assert v.verdict == verdict
    assert [c["form"] for c in v.comparisons] == ["sameness", "difference"]
    if outcomes:
        assert tuple(c["outcome"] for c in v.comparisons) == outcomes


def test_key_number_reports_how_far_each_batch_size_trained():
    acc = {"group": {"2": GN_SAME, "32": GN_32}, "batch": {"2": [0.80, 0.82, 0.81], "32": [0.95, 0.96, 0.95]}}
    loss = {n: {"2": [0.04] * 3, "32": [0.002] * 3} for n in acc}
    v = get_study("group-norm").judge({"test_accuracy": acc, "train_loss": loss})
    assert "training loss at batch 2 / 32: GN 0.040 / 0.002, BN 0.040 / 0.002" in v.key_number
