"""momentum: steps to a loss threshold at batch 512, momentum vs SGD at tuned lrs, seeds in looks; landscapes
reported."""

from __future__ import annotations

import itertools
import json
import math
import random

import matplotlib.pyplot as plt
import pytest

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.optim import default_lr
from dlbasic.optim.landscapes import get_landscape
from dlbasic.studies import get_study
from dlbasic.studies import learning_rate as lr_study
from dlbasic.studies import momentum as mom

CAP = 1000


@pytest.fixture
def ctx(monkeypatch) -> LabContext:
    monkeypatch.setattr(
        mom, "mnist_settings", lambda ctx, batch: {"threshold": 0.115, "max_steps": CAP, "probe_every": 1}
    )
    yield LabContext(make_profile("quick"))
    plt.close("all")


LANDSCAPE_VALUE = {
    "lr": 0.01,
    "steps": [100 + i for i in range(30)],
    "sign_changes": [3] * 30,
    "tuning_score": {f"{x:g}": 5.0 for x in mom.LANDSCAPE_LRS},
    "trace": [1.0, 0.1, None],  # a non-finite loss, as a saved run holds it
}


def answer(results: dict, runs, steps: dict[str, list[int]] | None = None) -> None:
    """Fake values: landscapes; tuning runs reach the threshold at lr 0.1 only (step 40); judged runs at
    `steps[optimizer][seed]`."""
    for r in runs:
        if r.fn == mom.LANDSCAPE:
            results[r.name] = dict(LANDSCAPE_VALUE)
        elif "seed" in r.name:
            hit = steps[r.args["optimizer"]][r.args["seed"]]
            results[r.name] = {"hit": hit, "diverged": False, "steps": [0, 1], "losses": [2.3, None]}
        else:
            results[r.name] = {"hit": 40 if r.args["lr"] == 0.1 else None, "diverged": False, "steps": [], "losses": []}


def tuned_results(ctx) -> dict:
    study, results = get_study("momentum"), {}
    for _ in range(2):
        answer(results, study.plan(ctx, results))
    return results


CLEAR = {"momentum": [60, 62, 58, 61, 59], "sgd": [120, 118, 125, 121, 119]}
NOISY = {"momentum": [60, 130, 58, 140, 59] * 4, "sgd": [120, 100, 125, 90, 119] * 4}


def test_plan_runs_landscapes_and_tuning_then_the_first_look(ctx):
    study = get_study("momentum")
    first = study.plan(ctx, {})
    start = {n: lr_study.outward(mom.MNIST_LRS, default_lr(n))[0] for n in mom.NAMES}
    assert [r.name for r in first] == [f"{land} {n}" for land in mom.LANDSCAPES for n in mom.NAMES] + [
        f"batch 512 {n} lr {start[n]:g}" for n in mom.NAMES
    ]
    assert first[-1].args == {"optimizer": "sgd", "lr": start["sgd"], "batch": 512, "seed": 1000}
    assert not first[0].trains and first[-1].trains
    results = {}
    answer(results, first)
    capped = study.plan(ctx, results)
    assert len(capped) == 2 * (len(mom.MNIST_LRS) - 1)
    assert {r.args.get("max_steps") for r in capped if r.args["optimizer"] == "momentum"} == {
        40 if start["momentum"] == 0.1 else None
    }
    answer(results, capped)
    seeds = study.plan(ctx, results)
    assert [(r.name, r.args) for r in seeds] == [
        (f"{n} seed {s}", {"optimizer": n, "lr": 0.1, "batch": 512, "seed": s}) for s in range(5) for n in mom.NAMES
    ]
    assert {r.cost for r in seeds} == {mom.MNIST_COST[512]}


def test_more_seeds_only_while_undecided(ctx):
    study = get_study("momentum")
    clear = tuned_results(ctx)
    answer(clear, study.plan(ctx, clear), CLEAR)
    assert study.plan(ctx, clear) == []
    noisy = tuned_results(ctx)
    answer(noisy, study.plan(ctx, noisy), NOISY)
    for before, n in itertools.pairwise(study.schedule):  # undecided: each later look adds its seeds
        more = study.plan(ctx, noisy)
        assert [r.name for r in more] == [f"{name} seed {s}" for s in range(before, n) for name in mom.NAMES]
        answer(noisy, more, NOISY)
    assert study.plan(ctx, noisy) == []  # the last look


def test_collect_gives_the_numbers_judge_reads(ctx):
    study = get_study("momentum")
    results = tuned_results(ctx)
    steps = {"momentum": [60, None, 58, 61, 59], "sgd": CLEAR["sgd"]}
    answer(results, study.plan(ctx, results), steps)
    numbers = json.loads(json.dumps(study.collect(ctx, results).numbers))
    mnist = numbers["mnist"]
    assert mnist["seeds"] == [0, 1, 2, 3, 4] and mnist["momentum"]["steps"] == [60, CAP + 1, 58, 61, 59]
    assert mnist["sgd"]["lr"] == 0.1 and mnist["sgd"]["tuning_steps"]["0.1"] == 40
    assert mnist["momentum"]["curve"]["losses"] == [2.3, math.inf]
    assert math.isnan(numbers["landscapes"]["quadratic"]["sgd"]["trace"][2])
    v = study.judge(numbers)
    assert v.verdict == "inconclusive" and "never reached by 1 vs 0" in v.key_number


def judged(a, b) -> str:
    arm = {"lr": 0.1, "steps": [100] * 5}
    lands = {land: {"momentum": arm, "sgd": arm} for land in mom.LANDSCAPES}
    mnist = {"data": "mnist5k", "batch": 512, "max_steps": CAP, "momentum": {"lr": 0.1, "steps": a}}
    mnist["sgd"] = {"lr": 0.3, "steps": b}
    return get_study("momentum").judge({"mnist": mnist, "landscapes": lands}).verdict


def test_judge_gives_each_verdict():
    assert judged(CLEAR["momentum"], CLEAR["sgd"]) == "supported"
    assert judged(CLEAR["sgd"], CLEAR["momentum"]) == "contradicted"
    assert judged([100, 101, 99, 100, 100], [100, 100, 101, 99, 100]) == "contradicted"  # within 10 %
    assert judged(NOISY["momentum"][:5], NOISY["sgd"][:5]) == "inconclusive"


def test_landscape_trace_follows_the_start_asked_for():
    starts = mom.random_starts("quadratic", 3, 0)
    r = mom.landscape_steps("momentum", "quadratic", starts, (1e-3, 1e-2), 1e-4, 30, traced=2)
    x, y = starts[2]
    assert r["trace"][0, 0].item() == pytest.approx(float(get_landscape("quadratic")(x, y)))


def test_tuned_matches_tune_lr_capping_each_run_at_the_best_so_far(monkeypatch) -> None:
    """From runs capped at the first run's count, `tuned` picks the lr `tune_lr` picks and shows its counts."""
    rng = random.Random(0)
    for trial in range(300):
        hits = {lr: rng.choice([None, None, *range(4, 120, 4)]) for lr in mom.MNIST_LRS}
        name = rng.choice(["sgd", "momentum"])

        def fake(ctx, lr, max_steps, *, every=1, threshold=None, size=None, hits=hits):
            hit = hits[lr] if hits[lr] is not None and hits[lr] <= max_steps else None
            return {"hit": hit, "diverged": False, "final": 1.0, "losses": [2.3, 1.0], "steps": [0, max_steps]}

        monkeypatch.setattr(lr_study, "probe_run", fake)
        best, grid = lr_study.tune_lr(None, lambda lr: lr, mom.MNIST_LRS, 100, threshold=0.1, start=default_lr(name))
        expected = (default_lr(name) if best is None else best, {k: v["hit"] for k, v in grid.items()})
        first = lr_study.outward(mom.MNIST_LRS, default_lr(name))[0]
        cap = min(100, hits[first] or 100)
        runs = {lr: fake(None, lr, 100 if lr == first else cap) for lr in mom.MNIST_LRS}
        assert mom.tuned(runs, name, 100) == expected, trial
