"""The runs of the normalization and regularization studies (weight decay, early stopping): what `plan`
declares, stage by stage, and that `collect` turns run values into the numbers `judge` reads (the fake
measurements, rebuilt from fake run values)."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pytest
from fakes.regularization import FAKES

from dlbasic.lab import LabContext, Profile
from dlbasic.studies import early_stopping, get_study, weight_decay


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def same(a, b) -> bool:
    """Equal numbers (NaN equal to NaN, key order aside)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def by_name(runs) -> dict:
    return {r.name: r for r in runs}


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
