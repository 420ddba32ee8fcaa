"""batch-size: Keskar et al.'s protocol, tuning then paired seeds in looks; two parts (accuracy and sharpness)."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import matplotlib.pyplot as plt
import pytest
from staging import plan_stages
from torch import nn

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.studies import batch_size as bs
from dlbasic.studies import get_study


@pytest.fixture
def ctx() -> LabContext:
    yield LabContext(make_profile("quick"))
    plt.close("all")


def value(arm: str, lr: float, acc: float = 0.95, sharp: float | None = 2.0, reached: bool = True) -> dict:
    """A `train_to_target` value."""
    return {
        "batch": 16 if arm == "small" else 360,
        "lr": lr,
        "reached": reached,
        "steps": 2000 if arm == "small" else 150,
        "train_loss": 0.009,
        "train_accuracy": 1.0,
        "val_accuracy": 0.93 + (0.01 if lr == 1e-3 else 0.0),
        "test_accuracy": acc,
        "hessian_top": sharp,
        "eps_sharpness": 10.0,
    }


def tuned() -> dict:
    """Tuning results: each batch size's best validation accuracy at 1e-3."""
    return {bs.tuning_name(arm, lr): value(arm, lr) for arm in bs.LRS for lr in bs.LRS[arm]}


def fill(results: dict, runs, acc: dict, sharp: dict) -> None:
    for r in runs:
        seed, arm = r.args["seed"], r.args["arm"]
        results[r.name] = value(arm, r.args["lr"], acc[arm][seed], sharp[arm][seed])


CLEAR_ACC = {"small": [0.97, 0.975, 0.972, 0.968, 0.971], "large": [0.95, 0.952, 0.949, 0.951, 0.95]}
CLEAR_SHARP = {"small": [1.0, 1.1, 0.9, 1.05, 0.95], "large": [3.0, 3.3, 2.9, 3.1, 3.2]}


def test_plan_tunes_on_the_tuning_seed_then_runs_the_first_look(ctx):
    study = get_study("batch-size")
    first = study.plan(ctx, {})
    assert [(r.name, r.args) for r in first] == [
        (bs.tuning_name(arm, lr), {"seed": 1000, "arm": arm, "lr": lr}) for arm in bs.LRS for lr in bs.LRS[arm]
    ]
    assert {r.fn for r in first} == {bs.RUN} and [r.cost for r in first[:1]] == [bs.TUNING_COST["small"]]
    partial = dict(list(tuned().items())[:-1])
    assert [r.name for r in study.plan(ctx, partial)] == [first[-1].name]  # waits for every tuning run
    second = study.plan(ctx, tuned())
    assert [(r.name, r.args) for r in second] == [
        (bs.seed_name(s, arm), {"seed": s, "arm": arm, "lr": 1e-3}) for s in range(5) for arm in ("small", "large")
    ]
    assert {r.cost for r in second} == set(bs.RUN_COST.values())
    assert not {r.args["seed"] for r in second} & {1000}  # no judged run repeats a tuning run


def test_more_seeds_only_while_undecided(ctx):
    study = get_study("batch-size")

    def looks(acc: dict, sharp: dict) -> list[list[str]]:
        """The judged runs of each look, answering tuning as `tuned` and seed s of an arm with acc and sharp[s]."""
        tuning = tuned()

        def answer(r):
            arm, seed = r.args["arm"], r.args["seed"]
            return tuning[r.name] if r.name in tuning else value(arm, r.args["lr"], acc[arm][seed], sharp[arm][seed])

        stages, _ = plan_stages(study, ctx, answer)
        assert [r.name for r in stages[0]] == list(tuning)
        return [[r.name for r in stage] for stage in stages[1:]]

    def seeds(first: int, end: int) -> list[str]:
        return [bs.seed_name(s, arm) for s in range(first, end) for arm in ("small", "large")]

    assert looks(CLEAR_ACC, CLEAR_SHARP) == [seeds(0, bs.SCHEDULE[0])]  # decided at the first look
    acc = {"small": [0.97, 0.95, 0.96, 0.94, 0.97] * 4, "large": [0.95, 0.96, 0.95, 0.95, 0.96] * 4}
    sharp = {arm: v * 4 for arm, v in CLEAR_SHARP.items()}
    # undecided at every look but the last, which ends the plan
    assert looks(acc, sharp) == [seeds(before, n) for before, n in zip((0, *bs.SCHEDULE), bs.SCHEDULE)]


def test_collect_keeps_the_runs_values_and_a_missing_sharpness(ctx):
    study = get_study("batch-size")
    results = tuned()
    sharp = {"small": [1.0, None, 0.9, 1.05, 0.95], "large": CLEAR_SHARP["large"]}
    fill(results, study.plan(ctx, results), CLEAR_ACC, sharp)
    numbers = json.loads(json.dumps(study.collect(ctx, results).numbers, allow_nan=False))
    assert numbers["seeds"] == [0, 1, 2, 3, 4] and numbers["lr"] == {"small": 1e-3, "large": 1e-3}
    assert numbers["small"]["test_accuracy"] == CLEAR_ACC["small"] and numbers["small"]["hessian_top"][1] is None
    assert numbers["batch_sizes"] == {"small": 16, "large": 360}
    v = study.judge(numbers)  # a diverged run's sharpness: the sharpness part is undecided, no crash
    assert v.verdict == "inconclusive" and len(v.comparisons) == 1 and "not finite" in v.reason


def judged(acc: dict, sharp: dict, reached: list[bool] | None = None):
    arms = {arm: {"test_accuracy": acc[arm], "hessian_top": sharp[arm]} for arm in ("small", "large")}
    for arm in arms:
        n = len(acc[arm])
        done = reached if reached and arm == "small" else [True] * n
        arms[arm] |= {"eps_sharpness": [10.0] * n, "steps": [100] * n, "reached": done}
    return get_study("batch-size").judge({"target_loss": 0.01, **arms})


def test_judge_gives_each_verdict_and_reports_the_notes_claim():
    v = judged(CLEAR_ACC, CLEAR_SHARP)
    assert v.verdict == "supported" and len(v.comparisons) == 2 and v.checks[0]["holds"]
    assert "as Keskar et al. say of sharp minima, against the note" in v.key_number
    flipped = {"small": CLEAR_ACC["large"], "large": CLEAR_ACC["small"]}
    v = judged(flipped, CLEAR_SHARP)  # the large batch tests better: sharper minima generalize better here
    assert v.verdict == "contradicted" and "as the note says" in v.key_number
    assert judged(CLEAR_ACC, {"small": CLEAR_SHARP["small"], "large": CLEAR_SHARP["small"]}).verdict == (
        "contradicted"  # equally sharp
    )
    noisy = {"small": [0.97, 0.95, 0.96, 0.94, 0.97], "large": [0.95, 0.96, 0.95, 0.95, 0.96]}
    assert judged(noisy, CLEAR_SHARP).verdict == "inconclusive"
    assert judged(CLEAR_ACC, {"small": CLEAR_SHARP["small"], "large": [3.0, 3.3, 2.9, 3.1, math.nan]}).verdict == (
        "inconclusive"
    )
    v = judged(CLEAR_ACC, CLEAR_SHARP, reached=[True, True, False, True, True])  # not at matched loss
    assert v.verdict == "failed" and not v.checks[0]["holds"] and "small 4/5" in v.checks[0]["check"]


def test_choose_lr_prefers_reached_runs_then_validation_then_fewer_steps():
    runs = [
        {"reached": False, "val_accuracy": 0.99, "steps": 10, "train_loss": 0.5},
        {"reached": True, "val_accuracy": 0.97, "steps": 900, "train_loss": 0.02},
        {"reached": True, "val_accuracy": 0.97, "steps": 300, "train_loss": 0.02},
        {"reached": True, "val_accuracy": 0.96, "steps": 100, "train_loss": 0.01},
    ]
    assert bs.choose_lr(runs) == 2
    assert bs.choose_lr([{**r, "reached": False} for r in runs]) == 3  # the lowest training loss
    assert bs.large_batch(3600) == 360 and bs.large_batch(1295) == 130


def test_stop_at_train_loss_stops_on_the_loss_at_the_cap_and_on_divergence():
    for losses, stopped_at, reached in (
        ([0.5, 0.1, 0.01], 6, True),
        ([0.5] * 10, 5, False),
        ([0.5, math.nan], 4, False),
    ):
        values = iter(losses)
        model = nn.Linear(1, 1)
        trainer = SimpleNamespace(
            model=model,
            train_data=None,
            stop_training=False,
            global_step=0,
            evaluate=lambda d, v=values: {"loss": next(v)},
        )
        stop = bs.StopAtTrainLoss(0.02, every=2, max_steps=5 if not reached else None)
        for step in range(1, 11):
            trainer.global_step = step
            stop.on_batch_end(trainer, {})
            if trainer.stop_training:
                break
        assert trainer.stop_training and stop.reached == reached and stop.step == stopped_at
        assert model.training  # back in training mode after the check


def test_sharpness_is_positive_and_none_where_the_loss_is_not_finite():
    import torch

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    s = bs.sharpness(model, x, y, seed=0)
    assert s["hessian_top"] > 0 and s["eps_sharpness"] >= 0
    with torch.no_grad():
        model[0].weight.fill_(math.inf)
    assert bs.sharpness(model, x, y, seed=0) == {"hessian_top": None, "eps_sharpness": None}
