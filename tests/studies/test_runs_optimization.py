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
from dlbasic.studies import rmsprop_adam as ra

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


@pytest.mark.parametrize("study_id, names", [("momentum", ("momentum", "sgd")), ("nesterov", ("nesterov", "momentum"))])
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


def test_nesterov_shares_the_momentum_runs_of_the_momentum_study(ctx) -> None:
    mom_stages, _ = race_stages(ctx, ("momentum", "sgd"), 100, 400)
    nag_stages, _ = race_stages(ctx, ("nesterov", "momentum"), 100, 400)
    mom_runs, nag_runs = (declared(r for stage in stages for r in stage) for stages in (mom_stages, nag_stages))
    shared = {name for name in mom_runs if " momentum" in name}
    assert len(shared) == 2 + 2 * (len(momentum_study.MNIST_LRS) + 9)
    assert all(mom_runs[name] == nag_runs[name] for name in shared)


# -- adagrad and adadelta ----------------------------------------------------------------------------------


def tracked_record(shrink: float, rare: float) -> dict:
    """A fake `tracked` record: 30 epochs of median steps falling to `shrink` of the first; rare inputs'
    (activity 0.1) steps `rare` times the frequent ones' (activity 0.9)."""
    return {
        "medians": [1e-3 * shrink ** (e / 29) for e in range(30)],
        "per_feature": [rare, rare, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        "activity": [0.1, 0.1, 0.5, 0.5, 0.5, 0.5, 0.9, 0.9],
        "val_accuracy": 0.95,
        "train_loss": 0.05,
    }


def test_adagrad_and_adadelta_share_the_adagrad_runs(ctx) -> None:
    adagrad, adadelta = declared(get_study("adagrad").plan(ctx, {})), declared(get_study("adadelta").plan(ctx, {}))
    assert list(adagrad) == [f"{n} seed {s}" for n in ("adagrad", "rmsprop") for s in (0, 1, 2)]
    assert list(adadelta) == [f"{n} seed {s}" for n in ("adadelta", "adagrad") for s in (0, 1, 2)]
    assert all(adagrad[f"adagrad seed {s}"] == adadelta[f"adagrad seed {s}"] for s in (0, 1, 2))
    assert json.loads(adagrad["rmsprop seed 2"][1]) == {"optimizer": "rmsprop", "seed": 2}
    assert get_study("adagrad").plan(ctx, {f"{n} seed {s}": {} for n in ("adagrad", "rmsprop") for s in (0, 1, 2)})


def test_adagrad_and_adadelta_collect_the_numbers_judge_reads(ctx) -> None:
    results = {f"adagrad seed {s}": tracked_record(0.3, 1.3) for s in (0, 1, 2)}
    results.update({f"rmsprop seed {s}": tracked_record(1.2, 1.0) for s in (0, 1, 2)})
    results.update({f"adadelta seed {s}": tracked_record(3.0, 1.0) for s in (0, 1, 2)})
    numbers = collected("adagrad", ctx, {k: v for k, v in results.items() if not k.startswith("adadelta")})
    assert numbers["adagrad"]["shrink"] == pytest.approx([0.3] * 3)
    assert (
        numbers["adagrad"]["rare_step"] == pytest.approx([1.3] * 3) and numbers["adagrad"]["frequent_step"] == [1.0] * 3
    )
    assert_has_fake_shape(numbers, FAKES["adagrad"][0][0])
    numbers = collected("adadelta", ctx, {k: v for k, v in results.items() if not k.startswith("rmsprop")})
    assert numbers["classes"] == 10 and numbers["adadelta"]["ratio"] == pytest.approx([3.0] * 3)
    assert_has_fake_shape(numbers, FAKES["adadelta"][0][0])


# -- rmsprop-adam ------------------------------------------------------------------------------------------


def curves(seed: int) -> dict[str, list[float]]:
    """A one-peak accuracy curve over ra.GRID per optimizer, peaks apart; adadelta's peak is far below the
    others' best, so the scan falls back to its whole grid."""
    out = {}
    for k, name in enumerate(ra.OPTIMIZERS):
        peak = ra.default_index(name) + (k % 3) - 1
        top = 0.6 if name == "adadelta" else 0.95 - 0.002 * k + 0.001 * seed
        out[name] = [max(0.1, top - 0.08 * abs(i - peak)) for i in range(len(ra.GRID))]
    return out


def walked(curve: list[float], start: int) -> dict:
    """What `walk_cells` returns on `curve`: the cells of the walk at the level of its own best."""
    seen: dict[str, float] = {}

    def evaluate(i: int) -> float:
        seen[str(i)] = curve[i]
        return curve[i]

    ra.walk(evaluate, len(curve), start, lambda: ra.GOOD * max(seen.values()))
    return {"accuracy": seen, "diverged": [i for i in map(int, seen) if curve[i] == 0.1]}


def test_rmsprop_adam_replays_the_scan_and_runs_the_rest_of_a_grid_it_needs(ctx) -> None:
    study = get_study("rmsprop-adam")
    stage1 = study.plan(ctx, {})
    assert [r.name for r in stage1] == [f"{n} seed {s}" for s in (0, 1, 2) for n in ra.OPTIMIZERS]
    assert {r.fn for r in stage1} == {ra.WALK} and stage1[0].args == {"optimizer": "sgd", "seed": 0}
    results = {f"{n} seed {s}": walked(curves(s)[n], ra.default_index(n)) for s in (0, 1, 2) for n in ra.OPTIMIZERS}
    stage2 = study.plan(ctx, results)
    assert [r.name for r in stage2] == [f"adadelta seed {s} rest" for s in (0, 1, 2)]
    rest = stage2[0].args["indices"]
    assert stage2[0].fn == ra.GRID_CELLS and rest == [
        i for i in range(len(ra.GRID)) if str(i) not in results["adadelta seed 0"]["accuracy"]
    ]
    for r in stage2:
        curve = curves(r.args["seed"])["adadelta"]
        results[r.name] = {
            "accuracy": {str(i): curve[i] for i in rest},
            "diverged": [i for i in rest if curve[i] == 0.1],
        }
    assert study.plan(ctx, results) == []
    numbers = collected("rmsprop-adam", ctx, results)
    for s in (0, 1, 2):  # the scan on the whole curves, as the study ran it in one piece
        scan = ra.SeedScan(lambda name, lr, s=s: curves(s)[name][ra.GRID.index(lr)])
        for name in ra.OPTIMIZERS:
            scan.optimizer(name)
        for name in ra.OPTIMIZERS:
            assert [numbers["held_out_accuracy"][name][f"{lr:g}"][s] for lr in ra.GRID] == [
                scan.cells.get((name, i)) for i in range(len(ra.GRID))
            ]
        assert sum(1 for v in numbers["held_out_accuracy"]["adadelta"].values() if v[s] is not None) == len(ra.GRID)
    assert numbers["diverged"]["adadelta"][0].endswith("(seed 0)")
    assert_has_fake_shape(numbers, FAKES["rmsprop-adam"][0][0])
