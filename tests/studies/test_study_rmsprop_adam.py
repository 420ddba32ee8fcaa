"""rmsprop-adam: each optimizer's grid around its default on two tasks, per staged seed; the regret of the
default and the verdict over six comparisons."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pytest

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.studies import get_study
from dlbasic.studies import rmsprop_adam as ra


@pytest.fixture
def ctx() -> LabContext:
    yield LabContext(make_profile("quick"))
    plt.close("all")


def cells(default: float, best: float, at: int) -> dict:
    """A `grid_run` value: test accuracy `default` at the default, `best` at index `at` (validation alike)."""
    test = [0.5] * len(ra.OFFSETS)
    test[ra.DEFAULT], test[at] = default, best
    return {"val": list(test), "test": test, "diverged": []}


def test_grids_are_the_half_decades_around_each_default():
    assert ra.grid("adam") == (3.162e-05, 0.0001, 0.0003162, 0.001, 0.003162, 0.01, 0.03162)
    assert ra.grid("adadelta")[ra.DEFAULT] == 1.0 and ra.grid("momentum")[ra.DEFAULT] == 0.01


def test_plan_runs_every_grid_of_the_first_look_then_more_seeds_only_while_undecided(ctx):
    study = get_study("rmsprop-adam")
    first = study.plan(ctx, {})
    assert [r.name for r in first] == [
        f"{t} {n} seed {s}" for s in (0, 1, 2) for t in ra.TASKS for n in ("adam", "momentum", "rmsprop", "adadelta")
    ]
    assert first[0].args == {"task": "MLP 64", "optimizer": "adam", "seed": 0} and first[0].fn == ra.GRID_RUN
    assert first[4].cost == ra.GRID_COST["MLP 128-128"]
    decided = {r.name: cells(0.9, 0.9 if r.args["optimizer"] == "adam" else 0.95, 0) for r in first}
    assert study.plan(ctx, decided) == []
    gain = {0: 0.0, 1: 0.05, 2: 0.0}  # the rivals' regret: large on one seed only
    noisy = {r.name: cells(0.9, 0.9 + (r.args["optimizer"] != "adam") * gain[r.args["seed"]], 1) for r in first}
    assert {r.args["seed"] for r in study.plan(ctx, noisy)} == {3, 4, 5}


def test_regret_picks_the_rate_best_on_validation_and_measures_it_on_test():
    r = {"val": [0.5, 0.9, 0.8, 0.85, 0.5, 0.5, 0.5], "test": [0.5, 0.88, 0.95, 0.86, 0.5, 0.5, 0.5], "diverged": []}
    assert ra.regret(r) == (pytest.approx(0.88 - 0.86), 1)
    tie = {"val": [0.9, 0.5, 0.5, 0.9, 0.5, 0.5, 0.9], "test": [0.99, 0.5, 0.5, 0.9, 0.5, 0.5, 0.99], "diverged": []}
    assert ra.regret(tie) == (0.0, ra.DEFAULT)  # ties go to the default


def test_collect_puts_the_regrets_into_the_numbers_judge_reads(ctx):
    study = get_study("rmsprop-adam")
    results = {r.name: cells(0.9, 0.9 if r.args["optimizer"] == "adam" else 0.95, 6) for r in study.plan(ctx, {})}
    m = study.collect(ctx, results).numbers
    assert m["seeds"] == [0, 1, 2] and list(m["tasks"]) == list(ra.TASKS)
    adam, rms = m["tasks"]["MLP 128-128"]["adam"], m["tasks"]["MLP 128-128"]["rmsprop"]
    assert adam["regret"] == [0.0] * 3 and rms["regret"] == pytest.approx([0.05] * 3)
    assert rms["best_lr"] == [ra.grid("rmsprop")[6]] * 3 and adam["default_test"] == [0.9] * 3
    v = study.judge(json.loads(json.dumps(m)))
    assert v.verdict == "supported" and len(v.comparisons) == 6 and "grid edge" in v.key_number


def numbers(adam: list[float], rivals: dict[str, list[float]]) -> dict:
    def arm(regret):
        return {"grid": [1e-4, 1e-3, 1e-2], "regret": regret, "best_lr": [1e-3] * 3, "default_test": [0.9] * 3}

    task = {"adam": arm(adam), **{n: arm(rivals.get(n, [0.05, 0.06, 0.055])) for n in ra.RIVALS}}
    return {"tasks": {t: task for t in ra.TASKS}}


@pytest.mark.parametrize(
    "rivals, expected",
    [
        ({}, "supported"),
        ({"adadelta": [0.0, 0.001, 0.0]}, "contradicted"),  # as good as Adam within the margin
        ({"rmsprop": [-0.02, -0.03, -0.025]}, "contradicted"),  # RMSprop's default beats its tuned rate... by luck
        ({"momentum": [0.1, -0.05, 0.02]}, "inconclusive"),
    ],
)
def test_judge_needs_adam_ahead_of_every_rival(rivals, expected):
    assert get_study("rmsprop-adam").judge(numbers([0.0, 0.001, 0.0], rivals)).verdict == expected
