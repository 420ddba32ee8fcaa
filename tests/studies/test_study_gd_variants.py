"""gd-variants: the examples each optimizer step reads, counted in real runs and checked exactly."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pytest

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.studies import gd_variants as gd
from dlbasic.studies import get_study
from dlbasic.studies import learning_rate as lr_study

TRAIN_IMAGES = 1295


@pytest.fixture
def ctx(monkeypatch) -> LabContext:
    monkeypatch.setattr(lr_study, "train_size", lambda ctx, cfg: TRAIN_IMAGES)
    monkeypatch.setattr(gd, "train_size", lambda ctx, cfg: TRAIN_IMAGES)
    yield LabContext(make_profile("quick"))
    plt.close("all")


def grid(best: float) -> dict:
    """learning-rate's grid results: lowest at `best`, diverging above it."""
    return {
        f"grid {lr:g}": {"initial": 2.3, "final": None if lr > best else 0.01 + abs(lr - best), "diverged": lr > best}
        for lr in lr_study.GRID
    }


def test_plan_shares_learning_rates_grid_then_runs_each_batch_size_at_its_rate(ctx):
    study = get_study("gd-variants")
    first = study.plan(ctx, {})
    theirs = get_study("learning-rate").plan(ctx, {})
    assert [(r.fn, r.args) for r in first] == [(r.fn, r.args) for r in theirs]  # one computation, shared
    second = study.plan(ctx, grid(1.0))
    assert [(r.name, r.fn, r.args) for r in second] == [
        (f"batch {arm}", gd.STEPS_READ, {"batch": b, "lr": lr, "seed": 0, "epochs": 1})
        for arm, b, lr in (("1", 1, 1 / 32), ("32", 32, 1.0), ("full", "full", 1.0))
    ]
    assert [r.cost for r in second] == [gd.COST[a] for a in gd.ARMS] and gd.COST["1"] > gd.COST["32"]
    done = grid(1.0) | {r.name: {} for r in second}
    assert study.plan(ctx, done) == []


def test_expected_reads_follow_the_definition():
    assert gd.expected_reads("1", 5, 2) == [[1, 10]]
    assert gd.expected_reads("32", 1295, 2) == [[32, 40], [15, 1], [32, 40], [15, 1]]
    assert gd.expected_reads("32", 64, 3) == [[32, 6]]
    assert gd.expected_reads("full", 1295, 3) == [[1295, 3]]
    assert gd.run_lengths([1, 1, 2, 1]) == [[1, 2], [2, 1], [1, 1]]


@pytest.mark.parametrize("batch", [32, "full"])
def test_a_real_run_reads_what_the_definition_says(batch):
    ctx = LabContext(make_profile("quick"))
    r = gd.steps_read(ctx, batch, 0.1, 0, 2)
    n = r["train_images"]
    assert r["reads"] == gd.expected_reads(str(batch), n, 2)
    assert r["curve"]["examples"][0] == 0 and r["curve"]["examples"][-1] == 2 * n
    assert len(r["curve"]["loss"]) == len(r["curve"]["seconds"]) and r["curve"]["loss"][-1] < r["curve"]["loss"][0]


def test_collect_and_judge_check_every_arm(ctx):
    study = get_study("gd-variants")
    results = grid(1.0)
    for arm in gd.ARMS:
        reads = gd.expected_reads(arm, TRAIN_IMAGES, 1)
        curve = {"examples": [0, TRAIN_IMAGES], "seconds": [0.0, 0.5], "loss": [2.3, 0.2]}
        results[f"batch {arm}"] = {"train_images": TRAIN_IMAGES, "reads": reads, "curve": curve}
    numbers = json.loads(json.dumps(study.collect(ctx, results).numbers))
    assert numbers["arms"]["1"]["steps"] == TRAIN_IMAGES and numbers["arms"]["full"]["steps"] == 1
    assert numbers["arms"]["1"]["lr"] == 1 / 32 and numbers["lr_star"] == 1.0
    v = study.judge(numbers)
    assert v.verdict == "checked" and len(v.checks) == 4 and not v.comparisons
    numbers["arms"]["1"]["reads"] = [[1, TRAIN_IMAGES - 1], [2, 1]]  # one step read two examples
    v = study.judge(numbers)
    assert v.verdict == "failed" and [c["holds"] for c in v.checks] == [False, True, True, True]
    numbers["arms"]["full"]["examples"] = TRAIN_IMAGES - 1
    assert not study.judge(numbers).checks[-1]["holds"]
