"""The relu study: steps to a training-error target per activation in a deep un-normalized CNN (the probes, the
rate tuning, what `plan` declares stage by stage and look by look, what `collect` reads, how `judge` decides)."""

import itertools
import math

import pytest
import torch
from torch import nn

from dlbasic.lab import LabContext, make_profile
from dlbasic.models import create_model
from dlbasic.studies import get_study, relu
from dlbasic.studies.relu import (
    ACTS,
    LRS,
    RunningError,
    best_lr,
    censored_steps_to,
    gain_init,
    grad_norms_at_init,
    tuning_score,
)

STUDY = get_study("relu")
GRADS = {"relu": [0.2, 0.5, 1, 1.2], "tanh": [0.3, 0.5, 1, 1.5], "sigmoid": [1e-3, 0.1, 1, 1]}


@pytest.fixture(scope="module")
def ctx():
    return LabContext(make_profile("quick"))


def test_gain_init_scales_weights_by_the_activation_gain():
    net = nn.Sequential(nn.Linear(400, 300), nn.Conv2d(16, 200, 5))  # fan_in 400 both
    for act, gain in (("relu", math.sqrt(2)), ("tanh", 5 / 3), ("sigmoid", 1.0)):
        gain_init(net, act, seed=0)
        for layer in net:
            assert abs(layer.weight.std().item() - gain / 20) < 0.02 * gain / 20 * 3  # >= 80k samples: ~0.3 %
            assert layer.bias.abs().max().item() == 0


def test_grad_norms_one_per_layer_and_sigmoid_vanishes():
    torch.manual_seed(0)
    x, y = torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))
    norms = {act: grad_norms_at_init(relu.build(act, 10, 1, 28), act, x, y, seed=0) for act in ("relu", "sigmoid")}
    assert len(norms["relu"]) == len(norms["sigmoid"]) == 6  # four convolutions, the hidden layer, the classifier
    assert norms["sigmoid"][0] / norms["sigmoid"][-1] < 0.05 < norms["relu"][0] / norms["relu"][-1]
    assert isinstance(relu.build("tanh", 10, 3, 32), type(create_model("tiny_cnn", 10, 3, 32)))


def test_steps_to_target_censoring_and_tuning_score():
    assert censored_steps_to([0.5, 0.2, 0.05, 0.01], 0.05) == 3
    assert censored_steps_to([0.5, 0.2, 0.06], 0.05) == 4  # never: one past the budget
    assert censored_steps_to([float("nan"), 0.04], 0.05) == 2
    assert tuning_score([0.9, 0.3, 0.04, 0.03], 0.05) == (3, pytest.approx(0.3175))
    scores = {"0.01": (5, 0.2), "0.03": (3, 0.25), "0.1": (3, 0.21), "0.3": (41, 0.9)}
    assert best_lr(scores) == "0.1"  # fewest steps to the target, then the lower mean error
    assert best_lr({"0.3": (41, 0.9), "0.1": (41, 0.9)}) == "0.1"  # an exact tie goes to the smaller rate


class _Trainer:
    """What the probe reads from a Trainer: the step, the epoch's running sums, and a stop flag."""

    def __init__(self):
        self.global_step, self.sums, self.stop_training = 0, {}, False

    def step(self, wrong: int, n: int = 32) -> None:
        if not self.sums:
            self.sums = {"count": 0, "correct": 0.0}
        self.global_step += 1
        self.sums = {"count": self.sums["count"] + n, "correct": self.sums["correct"] + n - wrong}


def test_running_error_windows_batches_across_epochs_and_stops_at_target_or_budget():
    trainer, probe = _Trainer(), RunningError(steps=100, window=2, stop_at=0.05)
    for wrong in (16, 8):
        trainer.step(wrong)
        probe.on_batch_end(trainer, {})
    trainer.sums = {}  # a new epoch: the trainer's sums start again
    for wrong in (2, 1):
        trainer.step(wrong)
        probe.on_batch_end(trainer, {})
    assert math.isnan(probe.errors[0]) and probe.errors[1:] == [24 / 64, 10 / 64, 3 / 64]
    assert trainer.stop_training and censored_steps_to(probe.errors, 0.05) == 4
    trainer, probe = _Trainer(), RunningError(steps=3, window=1)
    for _ in range(3):
        trainer.step(16)
        probe.on_batch_end(trainer, {})
    assert trainer.stop_training and censored_steps_to(probe.errors, 0.05) == 4  # censored


def errors_reaching(step: int | None, budget: int) -> list:
    """A running-error curve (None for the first window) that reaches 4 % at `step`, or never within `budget`."""
    curve = [None] * 9 + [0.5] * (budget - 9)
    return [*curve[: step - 1], 0.04] if step else curve


def tuning(chosen: dict[str, float]) -> dict:
    """Tuning results where each activation reaches the target only at rate `chosen[act]`."""
    return {
        f"tune-{act}-lr{lr:g}": {"errors": errors_reaching(50 if lr == chosen[act] else None, relu.TUNE_STEPS)}
        for act in ACTS
        for lr in LRS
    }


CHOSEN = {"relu": 0.01, "tanh": 0.03, "sigmoid": 0.3}


def judged(steps: dict[str, list], first: int = 0) -> dict:
    """The seeds' runs: each activation reaches the target at `steps[act][i]` (None: never) on seed first + i."""
    results = {}
    for i in range(len(steps["relu"])):
        results[f"grads-seed{first + i}"] = GRADS
        for act in ACTS:
            results[f"{act}-seed{first + i}"] = {"errors": errors_reaching(steps[act][i], relu.STEPS)}
    return results


FAST = {"relu": [100, 120, 110], "tanh": [300, 280, 330], "sigmoid": [None] * 3}


def test_plan_tunes_first_then_runs_the_looks_at_the_chosen_rates(ctx):
    first = STUDY.plan(ctx, {})
    assert [r.name for r in first] == [f"tune-{a}-lr{lr:g}" for a in ACTS for lr in LRS]
    assert first[0].fn == "dlbasic.studies.relu:to_target" and first[0].args == {
        "act": "relu",
        "lr": 0.01,
        "seed": 999,
        "steps": relu.TUNE_STEPS,
    }
    results = tuning(CHOSEN)
    second = STUDY.plan(ctx, results)
    assert [r.name for r in second] == [f"{n}-seed{s}" for s in range(3) for n in ("grads", *ACTS)]
    assert {r.name: r.args["lr"] for r in second if r.name.endswith("seed1") and "lr" in r.args} == {
        "relu-seed1": 0.01,
        "tanh-seed1": 0.03,
        "sigmoid-seed1": 0.3,
    }
    assert all(r.cost > 0 and r.trains for r in second)
    assert {r.args["target"] for r in second if "lr" in r.args} == {relu.TARGET}
    assert STUDY.plan(ctx, {**results, **judged(FAST)}) == []  # decided at the first look
    noisy = {"relu": [100, 300, 110], "tanh": [300, 120, 330], "sigmoid": [None] * 3}  # seed s: its s mod 3
    done = {**results, **judged(noisy)}
    for before, n in itertools.pairwise(STUDY.schedule):  # undecided: each later look adds its seeds
        more = STUDY.plan(ctx, done)
        assert [r.name for r in more] == [f"{a}-seed{s}" for s in range(before, n) for a in ("grads", *ACTS)]
        done |= judged({a: [v[s % 3] for s in range(before, n)] for a, v in noisy.items()}, first=before)
    assert STUDY.plan(ctx, done) == []  # the last look


def test_the_target_is_five_percent_unless_no_tuning_run_reaches_it():
    assert relu.target(tuning(CHOSEN)) == 0.05
    hard = {name: {"errors": [None, 0.6, 0.3, 0.2]} for name in tuning(CHOSEN)}
    hard["tune-tanh-lr0.03"] = {"errors": [None, 0.5, 0.183, 0.19]}
    assert relu.target(hard) == pytest.approx(0.19)  # the lowest error reached, rounded up to a whole percent
    runs = STUDY.plan(LabContext(make_profile("quick")), hard)
    assert [r.args["target"] for r in runs if r.name.startswith(ACTS)] == [pytest.approx(0.19)] * 9


def test_collect_puts_the_runs_into_the_numbers_judge_reads(ctx):
    m = STUDY.collect(ctx, {**tuning(CHOSEN), **judged(FAST)})
    n = m.numbers
    assert n["seeds"] == [0, 1, 2] and m.seeds == [0, 1, 2] and m.figures
    censored = relu.STEPS + 1
    assert n["steps_to_target"] == {**FAST, "sigmoid": [censored] * 3}
    assert n["chosen_lr"] == CHOSEN and n["tuning"]["relu"]["0.01"][0] == 50
    assert n["first_over_last_layer"]["sigmoid"] == [1e-3] * 3
    v = STUDY.judge(n)
    assert v.verdict == "supported" and [c["seeds"] for c in v.comparisons] == [3, 3]
    assert "vanishing towards the input: sigmoid" in v.key_number


def numbers(steps: dict[str, list]) -> dict:
    return {
        "target": 0.05,
        "budget_steps": 600,
        "chosen_lr": CHOSEN,
        "steps_to_target": steps,
        "first_over_last_layer": {"relu": [0.15, 0.16, 0.2], "tanh": [0.18, 0.2, 0.2], "sigmoid": [0.005] * 3},
    }


def test_judge_gives_each_verdict():
    never = [601] * 3
    assert STUDY.judge(numbers({**FAST, "sigmoid": never})).verdict == "supported"
    slower = STUDY.judge(numbers({"relu": [300, 280, 330], "tanh": [100, 120, 110], "sigmoid": never}))
    assert slower.verdict == "contradicted" and slower.comparisons[1]["outcome"] == "B better"
    same = [100, 120, 110]
    assert STUDY.judge(numbers({"relu": same, "tanh": [101, 120, 111], "sigmoid": never})).verdict == "contradicted"
    noisy = STUDY.judge(numbers({"relu": [100, 300, 110], "tanh": [300, 120, 330], "sigmoid": never}))
    assert noisy.verdict == "inconclusive" and noisy.more == 6
    assert [c["scale"] for c in noisy.comparisons] == ["log ratio"] * 2
