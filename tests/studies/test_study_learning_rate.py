"""learning-rate: the grid on a tuning seed, then lr* against the rates a decade either side on staged seeds."""

from __future__ import annotations

import itertools
import json
import math

import matplotlib.pyplot as plt
import pytest

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.studies import get_study
from dlbasic.studies import learning_rate as lr_study

TRAIN_IMAGES = 1295
STEPS = 10 * math.ceil(TRAIN_IMAGES / 32)


@pytest.fixture
def ctx(monkeypatch) -> LabContext:
    monkeypatch.setattr(lr_study, "train_size", lambda ctx, cfg: TRAIN_IMAGES)
    yield LabContext(make_profile("quick"))
    plt.close("all")


def final(value: float | None, initial: float = 2.3) -> dict:
    """A `final_loss` value (None: diverged, as a saved run holds an infinite loss)."""
    return {"initial": initial, "final": value, "diverged": value is None}


def grid(best: float, top: float) -> dict:
    """Grid results on the tuning seed: lowest at `best`, diverging above `top`."""
    return {
        f"grid {lr:g}": final(None if lr > top else 0.01 * abs(math.log10(lr / best)) + 0.01) for lr in lr_study.GRID
    }


def seeds_run(results: dict, runs, loss: dict[str, list[float]]) -> None:
    """Fill `runs` with final losses per arm, indexed by seed."""
    for r in runs:
        arm, seed = r.name.split()[0], r.args["seed"]
        results[r.name] = final(loss[arm][seed])


def test_plan_runs_the_grid_on_the_tuning_seed_then_the_judged_rates_on_the_first_look(ctx):
    study = get_study("learning-rate")
    first = study.plan(ctx, {})
    assert [r.name for r in first] == [f"grid {lr:g}" for lr in lr_study.GRID]
    assert first[0].args == {"lr": lr_study.GRID[0], "seed": 1000, "batch": 32, "steps": STEPS}
    assert {r.fn for r in first} == {lr_study.FINAL_LOSS} and all(r.cost == lr_study.FINAL_LOSS_COST for r in first)
    results = grid(1.0, 1.0)  # 10 lr* diverges: not judged
    second = study.plan(ctx, results)
    assert [(r.name, r.args["lr"], r.args["seed"]) for r in second] == [
        (f"{arm} seed {s}", lr, s) for s in (0, 1, 2) for arm, lr in (("best", 1.0), ("tenth", 0.1))
    ]
    stable = study.plan(ctx, grid(0.1, 1.0))  # 10 lr* = 1 made progress: judged too
    assert [r.name for r in stable[:3]] == ["best seed 0", "tenth seed 0", "tenfold seed 0"]
    assert stable[2].args["lr"] == 1.0


def test_more_seeds_only_while_undecided(ctx):
    study = get_study("learning-rate")
    clear = grid(1.0, 1.0)
    seeds_run(clear, study.plan(ctx, clear), {"best": [0.01, 0.012, 0.011], "tenth": [0.08, 0.09, 0.085]})
    assert study.plan(ctx, clear) == []
    noisy = grid(1.0, 1.0)
    loss = {"best": [0.05, 0.2, 0.1] * 4, "tenth": [0.1] * 12}
    seeds_run(noisy, study.plan(ctx, noisy), loss)
    for before, n in itertools.pairwise(study.schedule):  # undecided: each later look adds its seeds
        more = study.plan(ctx, noisy)
        assert [r.name for r in more] == [f"{arm} seed {s}" for s in range(before, n) for arm in ("best", "tenth")]
        seeds_run(noisy, more, loss)
    assert study.plan(ctx, noisy) == []  # the last look


def test_collect_reads_the_runs_of_the_last_complete_look(ctx):
    study = get_study("learning-rate")
    results = grid(1.0, 1.0)
    runs = study.plan(ctx, results)
    seeds_run(results, runs, {"best": [0.01, None, 0.02], "tenth": [0.08, 0.09, 0.085]})
    results["best seed 3"] = final(0.5)  # a look not yet complete is not read
    numbers = json.loads(json.dumps(study.collect(ctx, results).numbers))
    assert numbers["seeds"] == [0, 1, 2] and numbers["lr"] == {"best": 1.0, "tenth": 0.1}
    assert numbers["final_loss"] == {"best": [0.01, 2.3, 0.02], "tenth": [0.08, 0.09, 0.085]}  # diverged: initial
    assert numbers["diverged"] == ["3.162", "10", "31.62"] and numbers["steps"] == STEPS
    assert study.judge(numbers).verdict == "inconclusive"


def judged(best, tenth, tenfold=None) -> str:
    loss = {"best": best, "tenth": tenth} | ({"tenfold": tenfold} if tenfold else {})
    lr = {"best": 1.0, "tenth": 0.1} | ({"tenfold": 10.0} if tenfold else {})
    v = get_study("learning-rate").judge({"final_loss": loss, "lr": lr, "diverged": []})
    assert len(v.comparisons) == len(loss) - 1
    return v.verdict


def test_judge_gives_each_verdict():
    assert judged([0.01, 0.012, 0.011], [0.08, 0.09, 0.085]) == "supported"
    assert judged([0.100, 0.101, 0.099], [0.100, 0.100, 0.100]) == "contradicted"  # equivalent within 10 %
    assert judged([0.2, 0.21, 0.19], [0.05, 0.052, 0.049]) == "contradicted"  # the tenth is better
    assert judged([0.05, 0.2, 0.1], [0.1, 0.1, 0.1]) == "inconclusive"
    assert judged([0.01, 0.012, 0.011], [0.08, 0.09, 0.085], [0.0101, 0.0121, 0.011]) == "contradicted"
    assert judged([0.01, 0.012, 0.011], [0.08, 0.09, 0.085], [0.5, 0.6, 0.55]) == "supported"
