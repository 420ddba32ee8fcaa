"""The runs of the normalization and regularization studies (group norm, batch norm, weight decay, early
stopping): what `plan` declares, stage by stage, and that `collect` turns run values into the numbers `judge`
reads (the fake measurements, rebuilt from fake run values)."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pytest
from fakes.regularization import FAKES

from dlbasic.lab import LabContext, Profile
from dlbasic.studies import batch_norm, early_stopping, get_study, group_norm, weight_decay


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def same(a, b) -> bool:
    """Equal numbers (NaN equal to NaN, key order aside)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def by_name(runs) -> dict:
    return {r.name: r for r in runs}


def test_group_norm_declares_one_run_per_norm_batch_and_seed():
    ctx = LabContext(Profile(seeds=(0, 1, 2)))
    runs = by_name(get_study("group-norm").plan(ctx, {}))
    assert len(runs) == 2 * 2 * 3
    assert {r.fn for r in runs.values()} == {group_norm.TRAIN}
    assert runs["batch-batch2-seed1"].args == {"norm": "batch", "batch_size": 2, "seed": 1}
    assert {(r.args["norm"], r.args["batch_size"], r.args["seed"]) for r in runs.values()} == {
        (n, b, s) for n in ("batch", "group") for b in (2, 16) for s in (0, 1, 2)
    }
    assert max(r.cost for r in runs.values()) <= 12
    assert get_study("group-norm").plan(ctx, dict.fromkeys(runs, 0.9)) == []


@pytest.mark.parametrize("fake", range(len(FAKES["group-norm"])))
def test_group_norm_collects_the_fake_numbers_from_run_values(fake):
    numbers, verdict = FAKES["group-norm"][fake]
    ctx = LabContext(Profile(seeds=(0, 1, 2)))
    acc = numbers["test_accuracy"]
    results = {
        group_norm.run_name(n, int(b), seed): acc[n][b][i]
        for n in acc
        for b in acc[n]
        for i, seed in enumerate(ctx.seeds)
    }
    study = get_study("group-norm")
    m = study.collect(ctx, results)
    assert same(m.numbers, numbers)
    assert len(m.figures) == 1
    assert study.judge(m.numbers).verdict == verdict


def test_batch_norm_tunes_on_the_tuning_seed_then_trains_the_profile_seeds_at_the_chosen_rates():
    ctx = LabContext(Profile(seeds=(3, 4, 5)))
    study = get_study("batch-norm")
    tuning = by_name(study.plan(ctx, {}))
    assert len(tuning) == 2 * len(batch_norm.LRS)
    assert {r.args["seed"] for r in tuning.values()} == {batch_norm.TUNING_SEED + 3}
    assert tuning["tune-batch-lr0.03"].args == {"norm": "batch", "lr": 0.03, "seed": 1003}
    # batch norm trains best at 0.3 (1 diverged: None, as the run cache keeps NaN), no norm at 0.03
    losses = {"batch": {0.3: 0.2, 1.0: None}, "none": {0.03: 0.5, 1.0: None}}
    results = {
        name: {"train_loss": losses[r.args["norm"]].get(r.args["lr"], 1.5), "test_accuracy": 0.5, "step_losses": []}
        for name, r in tuning.items()
    }
    judged = by_name(study.plan(ctx, results))
    assert set(judged) == {f"{n}-seed{s}" for n in ("batch", "none") for s in (3, 4, 5)}
    assert judged["batch-seed4"].args == {"norm": "batch", "lr": 0.3, "seed": 4}
    assert judged["none-seed5"].args == {"norm": "none", "lr": 0.03, "seed": 5}
    assert {r.fn for r in [*tuning.values(), *judged.values()]} == {batch_norm.TRAIN}
    done = {**results, **{name: results["tune-batch-lr0.3"] for name in judged}}
    assert study.plan(ctx, done) == []


@pytest.mark.parametrize("fake", range(len(FAKES["batch-norm"])))
def test_batch_norm_collects_the_fake_numbers_from_run_values(fake, monkeypatch):
    numbers, verdict = FAKES["batch-norm"][fake]
    monkeypatch.setattr(batch_norm, "LRS", tuple(float(k) for k in numbers["tuning_loss"]["batch"]))
    ctx = LabContext(Profile(seeds=(0, 1, 2)))
    results = {
        batch_norm.tuning_name(n, float(k)): {"train_loss": None if v != v else v}  # NaN saved as None
        for n, losses in numbers["tuning_loss"].items()
        for k, v in losses.items()
    }
    for n in batch_norm.NORMS:
        for i, seed in enumerate(ctx.seeds):
            results[batch_norm.judged_name(n, seed)] = {
                "train_loss": numbers["final_loss"][n][i],
                "test_accuracy": numbers["test_accuracy"][n][i],
                "step_losses": [2.3, 1.0, None],
            }
    study = get_study("batch-norm")
    m = study.collect(ctx, results)
    assert same(m.numbers, numbers)
    assert len(m.figures) == 1
    assert study.judge(m.numbers).verdict == verdict


def test_weight_decay_declares_one_run_per_strength_and_seed():
    ctx = LabContext(Profile(seeds=(0, 1, 2)))
    runs = by_name(get_study("weight-decay").plan(ctx, {}))
    assert len(runs) == len(weight_decay.STRENGTHS) * 3
    assert {r.fn for r in runs.values()} == {weight_decay.MEASURE}
    assert runs["lambda0.01-seed2"].args == {"strength": 0.01, "seed": 2}
    assert runs["lambda0-seed0"].args == {"strength": 0.0, "seed": 0}
    assert get_study("weight-decay").plan(ctx, dict.fromkeys(runs, None)) == []


@pytest.mark.parametrize("fake", range(len(FAKES["weight-decay"])))
def test_weight_decay_collects_the_fake_numbers_from_run_values(fake, monkeypatch):
    numbers, verdict = FAKES["weight-decay"][fake]
    keys = list(numbers["weight_norm"])
    monkeypatch.setattr(weight_decay, "STRENGTHS", tuple(float(k) for k in keys))
    ctx = LabContext(Profile(seeds=(0, 1, 2)))
    results = {
        weight_decay.run_name(float(k), seed): {name: numbers[name][k][i] for name in numbers}
        for k in keys
        for i, seed in enumerate(ctx.seeds)
    }
    study = get_study("weight-decay")
    m = study.collect(ctx, results)
    assert same(m.numbers, numbers)
    assert study.judge(m.numbers).verdict == verdict


def test_early_stopping_declares_one_run_per_arm_and_unit_seed():
    ctx = LabContext(Profile(seeds=(0, 1)))
    runs = by_name(get_study("early-stopping").plan(ctx, {}))
    seeds = range(2 * early_stopping.UNITS)
    assert set(runs) == {f"{arm}-seed{s}" for arm in ("to_the_end", "early_stopping") for s in seeds}
    assert runs["to_the_end-seed5"].args == {"patience": 0, "seed": 5}
    assert runs["early_stopping-seed5"].args == {"patience": early_stopping.PATIENCE, "seed": 5}
    assert {r.fn for r in runs.values()} == {early_stopping.TRAIN}
    assert get_study("early-stopping").plan(ctx, dict.fromkeys(runs, None)) == []


@pytest.mark.parametrize("fake", range(len(FAKES["early-stopping"])))
def test_early_stopping_collects_the_fake_numbers_from_run_values(fake):
    numbers, verdict = FAKES["early-stopping"][fake]
    ctx = LabContext(Profile(seeds=(0,)))  # four unit seeds, as many as the fakes have
    results = {}
    for arm in early_stopping.ARMS:
        for i in range(early_stopping.UNITS):
            epochs, best = numbers[arm]["epochs"][i], numbers["best_epoch"][i]
            results[early_stopping.run_name(arm, i)] = {
                "test_accuracy": numbers[arm]["test_accuracy"][i],
                "test_loss": numbers[arm]["test_loss"][i],
                "epochs": epochs,
                "val_losses": [1.0 + abs(e - best) / 10 for e in range(1, epochs + 1)],  # least at `best`
            }
    study = get_study("early-stopping")
    m = study.collect(ctx, results)
    assert same(m.numbers, numbers)
    assert len(m.figures) == 1
    assert study.judge(m.numbers).verdict == verdict
