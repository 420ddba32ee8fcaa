"""The optimizer studies as declared runs: what `plan` asks for in each stage, which runs two studies share,
and that `collect` on fake run values gives numbers `judge` accepts (the shape of the fakes)."""

from __future__ import annotations

import json
import math
import random
from types import SimpleNamespace

import matplotlib.pyplot as plt
import pytest
from fakes.optimization import FAKES

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.lab.study import VERDICTS
from dlbasic.optim import default_lr
from dlbasic.studies import get_study
from dlbasic.studies import learning_rate as lr_study
from dlbasic.studies import momentum as momentum_study

TRAIN_IMAGES = 1295  # the digits' training pool, so no test loads data


@pytest.fixture
def ctx(monkeypatch) -> LabContext:
    monkeypatch.setattr(lr_study, "train_size", lambda ctx, cfg: TRAIN_IMAGES)
    monkeypatch.setattr(
        momentum_study,
        "mnist_settings",
        lambda ctx, batch: {"threshold": 0.115, "max_steps": momentum_study.BATCHES[batch], "probe_every": 4},
    )
    classes = SimpleNamespace(train=SimpleNamespace(num_classes=10))
    monkeypatch.setattr("dlbasic.training.run.load_data", lambda cfg: classes)
    yield LabContext(make_profile("quick"))
    plt.close("all")


def declared(runs) -> dict[str, tuple[str, str]]:
    """Run name -> (fn, args as sorted JSON): what makes two runs one computation."""
    return {r.name: (r.fn, json.dumps(r.args, sort_keys=True)) for r in runs}


def collected(study_id: str, ctx, results: dict) -> dict:
    """The numbers `collect` makes of `results`, checked to be JSON and judged to a verdict."""
    numbers = get_study(study_id).collect(ctx, results).numbers
    assert get_study(study_id).judge(json.loads(json.dumps(numbers))).verdict in VERDICTS
    return numbers


def assert_has_fake_shape(numbers: dict, fake: dict) -> None:
    """Every key of the fake numbers is in `numbers`, nested dicts alike, lists as lists of the same kind."""
    for key, value in fake.items():
        assert key in numbers, key
        if isinstance(value, dict):
            assert isinstance(numbers[key], dict)
            assert_has_fake_shape(numbers[key], value)
        elif isinstance(value, list):
            assert isinstance(numbers[key], list)


# -- momentum and nesterov ---------------------------------------------------------------------------------


def test_tuned_matches_tune_lr_capping_each_run_at_the_best_so_far(monkeypatch) -> None:
    """From runs capped at the first run's count, `tuned` picks the lr `tune_lr` picks and shows its counts."""
    rng = random.Random(0)
    for trial in range(300):
        hits = {lr: rng.choice([None, None, *range(4, 120, 4)]) for lr in momentum_study.MNIST_LRS}
        name = rng.choice(["sgd", "momentum", "nesterov"])

        def fake(ctx, lr, max_steps, *, every=1, threshold=None, size=None, hits=hits):
            hit = hits[lr] if hits[lr] is not None and hits[lr] <= max_steps else None
            return {"hit": hit, "diverged": False, "final": 1.0, "losses": [2.3, 1.0], "steps": [0, max_steps]}

        monkeypatch.setattr(lr_study, "probe_run", fake)
        best, grid = lr_study.tune_lr(
            None, lambda lr: lr, momentum_study.MNIST_LRS, 100, threshold=0.1, start=default_lr(name), every=4
        )
        expected = (default_lr(name) if best is None else best, {k: v["hit"] for k, v in grid.items()})
        first = lr_study.outward(momentum_study.MNIST_LRS, default_lr(name))[0]
        cap = min(100, hits[first] or 100)
        runs = {lr: fake(None, lr, 100 if lr == first else cap) for lr in momentum_study.MNIST_LRS}
        assert momentum_study.tuned(runs, name, 100) == expected, trial


LANDSCAPE_VALUE = {
    "lr": 0.01,
    "sign_changes": [3] * 30,
    "tuning_score": {f"{x:g}": 5.0 for x in momentum_study.LANDSCAPE_LRS},
    "trace": [1.0, 0.1, None],  # a non-finite loss, as a saved run holds it
}


def race_stages(ctx, names: tuple[str, str], fav_hit: int, other_hit: int) -> tuple[list[list], dict]:
    """Each stage of `race_runs` with fake values: the landscapes and the MNIST tuning reach the threshold at lr
    0.1 only (step 40), the judged MNIST runs at `fav_hit` / `other_hit` steps (plus the seed mod 7)."""
    stages, results = [], {}
    while runs := [r for r in momentum_study.race_runs(ctx, names, results) if r.name not in results]:
        stages.append(runs)
        for r in runs:
            hit = fav_hit if r.args["optimizer"] == names[0] else other_hit
            if r.fn == momentum_study.LANDSCAPE:
                results[r.name] = {**LANDSCAPE_VALUE, "steps": [hit + i for i in range(30)]}
            elif "seed" in r.name:
                results[r.name] = {
                    "hit": hit + r.args["seed"] % 7,
                    "diverged": False,
                    "steps": [0, 4],
                    "losses": [2.3, None],
                }
            else:
                results[r.name] = {
                    "hit": 40 if r.args["lr"] == 0.1 else None,
                    "diverged": False,
                    "steps": [],
                    "losses": [],
                }
    return stages, results


@pytest.mark.parametrize("study_id, names", [("momentum", ("momentum", "sgd"))])
def test_race_plans_landscapes_and_tuning_then_the_seeds(ctx, study_id: str, names: tuple[str, str]) -> None:
    study = get_study(study_id)
    first = {n: lr_study.outward(momentum_study.MNIST_LRS, default_lr(n))[0] for n in names}
    stage1 = study.plan(ctx, {})
    assert [r.name for r in stage1] == [f"{land} {n}" for land in ("quadratic", "rosenbrock") for n in names] + [
        f"batch {b} {n} lr {first[n]:g}" for b in (32, 512) for n in names
    ]
    assert stage1[-1].args == {"optimizer": names[1], "lr": first[names[1]], "batch": 512, "seed": 1000}
    stages, results = race_stages(ctx, names, 100, 400)
    assert len(stages) == 3 and [r.name for r in stages[0]] == [r.name for r in stage1]
    capped = {r.name: r.args.get("max_steps") for r in stages[1]}
    assert len(capped) == 2 * 2 * (len(momentum_study.MNIST_LRS) - 1)
    for n in names:  # capped at the first run's 40 steps where it reached the threshold, else not at all
        assert capped[f"batch 32 {n} lr 1"] == (40 if first[n] == 0.1 else None)
    seeds = [s + 100 * k for k in range(3) for s in (0, 1, 2)]
    assert [(r.name, r.args) for r in stages[2]] == [
        (f"batch {b} {n} seed {s}", {"optimizer": n, "lr": 0.1, "batch": b, "seed": s})
        for b in (32, 512)
        for n in names
        for s in seeds
    ]
    assert all(r.name in results for r in study.plan(ctx, results))
    numbers = collected(study_id, ctx, results)
    assert list(numbers["problems"]) == ["quadratic", "rosenbrock", "mnist5k batch 32", "mnist5k batch 512"]
    mnist = numbers["problems"]["mnist5k batch 32"]
    assert mnist["seeds"] == seeds and mnist[names[0]]["lr"] == 0.1
    assert mnist[names[0]]["tuning_steps"] == {"0.01": None, "0.03162": None, "0.1": 40, "0.3162": None, "1": None}
    assert mnist[names[0]]["curve"]["losses"] == [2.3, math.inf]
    assert math.isnan(numbers["problems"]["quadratic"][names[0]]["trace"][2])
    assert get_study(study_id).judge(numbers).verdict == "supported"
    assert_has_fake_shape(numbers, FAKES[study_id][0][0])
