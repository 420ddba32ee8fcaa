"""The runs of the dropout, noise and augmentation studies: what `plan` declares, and that `collect`
puts the runs' values back into the numbers `judge` reads (built here from the fake measurements)."""

from __future__ import annotations

import importlib
import json

import pytest
from fakes.regularization import FAKES

from dlbasic.lab.study import VERDICTS
from dlbasic.studies import LabContext, Measurements, Profile, augmentation, dropout, noise


def context(seeds: tuple[int, ...], profile: str = "quick") -> LabContext:
    return LabContext(Profile(profile, seeds, 1.0, None, "cpu"))


def check_runs(runs, fn: str) -> None:
    """Every run calls `fn`, has JSON arguments, a name of its own and a cost well under the longest allowed."""
    assert len({r.name for r in runs}) == len(runs)
    for run in runs:
        assert run.fn == fn and run.trains
        assert json.loads(json.dumps(run.args)) == run.args
        assert 0 < run.cost <= 12
    module, _, name = fn.partition(":")
    assert callable(getattr(importlib.import_module(module), name))


def cycled(values: list, n: int) -> list:
    """`values` repeated to length `n` (the fakes hold fewer seeds than some profiles have units)."""
    return [values[i % len(values)] for i in range(n)]


def collected(study, ctx, results) -> dict:
    m = study.collect(ctx, results)
    assert isinstance(m, Measurements) and len(m.figures) == 1
    return m.numbers


def test_augmentation_runs_one_training_per_condition_and_seed():
    study, ctx = augmentation.Augmentation(), context((0, 1))
    runs = study.plan(ctx, {})
    check_runs(runs, "dlbasic.studies.augmentation:trained_accuracy")
    assert [r.args["seed"] for r in runs[:4]] == [0, 1, 2, 3]
    by_name = {r.name: r.args for r in runs}
    assert len(runs) == 4 * 4
    assert by_name["none seed 0"] == {"augment": "", "subset": 500, "seed": 0}
    assert by_name["rotate+translate+scale seed 3"] == {"augment": "rotate,translate,scale", "subset": 500, "seed": 3}
    assert by_name["flip seed 1"] == {"augment": "flip", "subset": 500, "seed": 1}
    assert by_name["twice the real data seed 2"] == {"augment": "", "subset": 1000, "seed": 2}
    assert study.plan(ctx, {r.name: 0.9 for r in runs}) == []


@pytest.mark.parametrize(("fake", "verdict"), FAKES["augmentation"])
def test_augmentation_collects_the_accuracies_by_condition_and_seed(fake, verdict):
    study, ctx = augmentation.Augmentation(), context((0, 1))
    runs = study.plan(ctx, {})
    accuracy = {label: cycled(values, 4) for label, values in fake["test_accuracy"].items()}
    results = {r.name: accuracy[r.name.rsplit(" seed ", 1)[0]][r.args["seed"]] for r in runs}
    numbers = collected(study, ctx, results)
    assert numbers == {"test_accuracy": accuracy}
    assert study.judge(numbers).verdict in VERDICTS


def test_noise_runs_one_training_per_way_of_training_and_seed():
    study, ctx = noise.Noise(), context((0, 2))
    runs = study.plan(ctx, {})
    check_runs(runs, "dlbasic.studies.noise:noise_curves")
    assert len(runs) == 3 * 6
    by_name = {r.name: r.args for r in runs}
    assert by_name["plain seed 0"] == {"options": {}, "seed": 0}
    assert by_name["input noise seed 7"] == {"options": {"input_noise": 0.3}, "seed": 7}
    assert by_name["weight noise seed 8"] == {"options": {"weight_noise": 0.03}, "seed": 8}
    assert sorted({r.args["seed"] for r in runs}) == [0, 1, 2, 6, 7, 8]
    assert study.plan(ctx, dict.fromkeys(by_name)) == []


@pytest.mark.parametrize(("fake", "verdict"), FAKES["noise"])
def test_noise_collects_the_curves_and_keeps_the_verdict(fake, verdict):
    study, ctx = noise.Noise(), context((0,))  # three units: the fakes' three seeds
    curves = {
        name: {"inputs": fake["noisy_inputs"].get(name), "weights": fake["noisy_weights"].get(name)}
        for name in ("plain", "input noise", "weight noise")
    }
    # the fakes hold the curve each way of training is judged on; the other kind's curve is plain's here
    curves["input noise"]["weights"] = curves["plain"]["weights"]
    curves["weight noise"]["inputs"] = curves["plain"]["inputs"]
    results = {}
    for run in study.plan(ctx, {}):
        name, seed = run.name.rsplit(" seed ", 1)[0], run.args["seed"]
        results[run.name] = {
            part: {k: v[seed] for k, v in curves[name][part].items()} for part in ("inputs", "weights")
        }
    numbers = collected(study, ctx, results)
    assert numbers["train_sigma"] == fake["train_sigma"]
    assert set(numbers) == set(fake)
    for table, trained in (("noisy_inputs", "input noise"), ("noisy_weights", "weight noise")):
        assert numbers[table]["plain"] == fake[table]["plain"]
        assert numbers[table][trained] == fake[table][trained]
    assert study.judge(numbers).verdict == verdict


def test_dropout_runs_one_training_per_rate_and_seed():
    study, ctx = dropout.DropoutStudy(), context((0, 1))
    runs = study.plan(ctx, {})
    check_runs(runs, "dlbasic.studies.dropout:accuracy_and_gap")
    assert [r.name for r in runs[:3]] == ["p=0 seed 0", "p=0 seed 1", "p=0 seed 2"]
    assert {r.name: r.args for r in runs}["p=0.5 seed 5"] == {"rate": 0.5, "seed": 5}
    assert len(runs) == 2 * 6
    assert study.plan(ctx, {r.name: None for r in runs}) == []


@pytest.mark.parametrize(("fake", "verdict"), FAKES["dropout"])
def test_dropout_collects_accuracy_and_gap_and_keeps_the_verdict(fake, verdict):
    study, ctx = dropout.DropoutStudy(), context((0,))  # three units: the fakes' three seeds
    results = {}
    for run in study.plan(ctx, {}):
        rate, seed = f"{run.args['rate']:g}", run.args["seed"]
        results[run.name] = {part: fake[part][rate][seed] for part in ("test_accuracy", "gap")}
    numbers = collected(study, ctx, results)
    assert numbers == fake
    assert study.judge(numbers).verdict == verdict
