"""The batch-norm study: steps to a training-loss target, the learning rate each arm is tuned to, the runs
`plan` declares stage by stage, and the verdict `judge` reads from steps per paired seed."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pytest

from dlbasic.lab import LabContext, Profile
from dlbasic.studies import batch_norm as bn
from dlbasic.studies import get_study

N = 84  # steps of a fake run


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def curve(k: int, n: int = N) -> list[float]:
    """Step losses whose mean over the last WINDOW steps first reaches the target at step k (k > n: never)."""
    if k > n:
        return [2.3] * n
    return [2.3] * (k - 4) + [0.0] * (n - k + 4)


def run(k: int, loss: float | None = 0.1) -> dict:
    return {"train_loss": loss, "test_accuracy": 0.9, "step_losses": curve(k)}


def test_window_steps_to_reads_a_window_mean_and_counts_a_miss_as_the_budget_plus_one():
    assert bn.WINDOW == 5 and bn.TARGET == 0.5
    assert bn.window_steps_to([2.3, 2.3, 0.0, 0.0, 0.0, 0.0]) == 6  # mean 0.46 at step 6; 0.92 at step 5
    assert bn.window_steps_to(curve(20)) == 20
    assert bn.window_steps_to([2.3] * 10) == 11
    assert bn.window_steps_to([2.3, None, 0.0, 0.0, 0.0, 0.0, 0.0]) == 8  # diverged: never reached
    assert bn.window_steps_to([0.1, 0.1]) == 3  # shorter than a window


def test_plan_tunes_then_runs_the_first_look_at_the_chosen_rates_then_more_seeds_only_while_undecided():
    ctx = LabContext(Profile(seeds=(3, 4, 5)))
    study = get_study("batch-norm")
    tuning = {r.name: r for r in study.plan(ctx, {})}
    assert len(tuning) == 2 * len(bn.LRS) and {r.args["seed"] for r in tuning.values()} == {bn.TUNING_SEED + 3}
    assert tuning["tune-batch-lr0.1"].args == {"norm": "batch", "lr": 0.1, "seed": 1003}
    assert all(r.fn == bn.TRAIN and r.cost > 0 for r in tuning.values())
    # batch norm is fastest at 0.1 and 0.3 (tie: the lower final loss wins), no norm at 0.01; 1.0 diverges
    fastest = {("batch", 0.1): run(10, 0.2), ("batch", 0.3): run(10, 0.3), ("none", 0.01): run(40)}
    results = {
        name: fastest.get((r.args["norm"], r.args["lr"]), run(N + 1, None if r.args["lr"] == 1.0 else 2.0))
        for name, r in tuning.items()
    }
    first = {r.name: r for r in study.plan(ctx, results)}
    assert set(first) == {f"{n}-seed{s}" for n in ("batch", "none") for s in (3, 4, 5)}
    assert first["batch-seed4"].args == {"norm": "batch", "lr": 0.1, "seed": 4}
    assert first["none-seed5"].args == {"norm": "none", "lr": 0.01, "seed": 5}
    decided = {**results, **{f"batch-seed{s}": run(10 + s) for s in (3, 4, 5)}}
    decided |= {f"none-seed{s}": run(40 + s) for s in (3, 4, 5)}
    assert study.plan(ctx, decided) == []
    noisy = {**decided, "batch-seed4": run(60), "none-seed4": run(20)}
    more = {r.name for r in study.plan(ctx, noisy)}
    assert more == {f"{n}-seed{s}" for n in ("batch", "none") for s in (6, 7, 8)}


def test_collect_puts_the_runs_steps_losses_and_accuracies_into_the_numbers_judge_reads():
    ctx = LabContext(Profile(seeds=(0, 1, 2)))
    study = get_study("batch-norm")
    results = {bn.tuning_name(n, lr): run(30 if lr == 0.03 else N + 1) for n in bn.NORMS for lr in bn.LRS}
    results |= {bn.judged_name("batch", s): run(10 + s, 0.1 + s) for s in (0, 1)}
    results |= {bn.judged_name("none", s): run(N + 1, math.nan) for s in (0, 1, 2)}  # seed 2 lacks its BN run
    m = study.collect(ctx, results)
    assert m.seeds == [0, 1]
    assert m.numbers["chosen_lr"] == {"batch": "0.03", "none": "0.03"}
    assert m.numbers["tuning"]["none"]["0.03"] == [30, pytest.approx(0.1)]
    assert m.numbers["steps"] == {"batch": [10, 11], "none": [N + 1, N + 1]}
    assert m.numbers["budget"] == N
    assert m.numbers["final_loss"]["batch"] == pytest.approx([0.1, 1.1])
    assert len(m.figures) == 1


def numbers(batch: list[int], none: list[int]) -> dict:
    arms = {"batch": batch, "none": none}
    return {
        "tuning": {},
        "chosen_lr": {"batch": "0.1", "none": "0.01"},
        "steps": arms,
        "budget": N,
        "final_loss": {n: [0.2] * len(v) for n, v in arms.items()},
        "test_accuracy": {n: [0.9] * len(v) for n, v in arms.items()},
    }


@pytest.mark.parametrize(
    ("batch", "none", "verdict", "more"),
    [
        ([20, 22, 19], [80, 85, 85], "supported", None),  # 4x fewer steps
        ([40, 41, 40], [40, 42, 41], "contradicted", None),  # equivalent within 10 %
        ([60, 62, 61], [30, 31, 30], "contradicted", None),  # twice the steps
        ([20, 60, 25], [40, 30, 45], "inconclusive", 6),  # undecided at the first look: 6 seeds next
        ([20, 60, 25, 30, 50, 20], [40, 30, 45, 28, 55, 22], "inconclusive", 12),  # still undecided: 12 next
        (
            [20, 60, 25, 30, 50, 20, 35, 22, 55, 28, 40, 45],
            [40, 30, 45, 28, 55, 22, 30, 45, 25, 50, 35, 30],
            "inconclusive",
            None,
        ),  # the last look: no more seeds, decided or not
    ],
)
def test_judge_reads_steps_on_the_log_scale_against_ten_percent(batch, none, verdict, more):
    v = get_study("batch-norm").judge(numbers(batch, none))
    assert (v.verdict, v.more) == (verdict, more)
    c = v.comparisons[0]
    assert c["margin"] == pytest.approx(math.log(1.1)) and c["scale"] == "log ratio" and c["seeds"] == len(batch)
