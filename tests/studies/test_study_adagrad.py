"""adagrad and adadelta: the tuning grids, then the long runs at the tuned rates on staged seeds; the loop
and the effective step they measure with."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pytest
import torch
from staging import plan_stages

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.optim import create_optimizer
from dlbasic.studies import adagrad as ag
from dlbasic.studies import get_study
from dlbasic.studies.adagrad import effective_steps, rare_and_frequent, train_steps


@pytest.fixture
def ctx() -> LabContext:
    yield LabContext(make_profile("quick"))
    plt.close("all")


def record(loss: float) -> dict:
    """A `long_run` value."""
    return {
        "final_loss": loss,
        "diverged": False,
        "val_accuracy": 0.9,
        "medians": [1.0, 0.5],
        "rare_over_frequent": 1.2,
    }


def tuning(best: dict[str, float]) -> dict:
    """Tuning results: the lowest final loss at `best[name]`."""
    return {f"tune {n} lr {lr:g}": record(0.01 + abs(lr - best[n])) for n in best for lr in ag.GRIDS[n]}


def run_all(results: dict, runs, loss: dict[str, list[float]]) -> None:
    for r in runs:
        results[r.name] = record(loss[r.args["optimizer"]][r.args["seed"]])


def test_plan_tunes_both_then_runs_the_first_look_at_the_tuned_rates(ctx):
    study = get_study("adagrad")
    first = study.plan(ctx, {})
    assert [r.name for r in first] == [f"tune {n} lr {lr:g}" for n in ("adagrad", "rmsprop") for lr in ag.GRIDS[n]]
    assert first[0].args == {"optimizer": "adagrad", "lr": 0.001, "seed": 1000}
    assert {r.fn for r in first} == {ag.LONG} and all(r.cost == ag.LONG_COST for r in first)
    results = tuning({"adagrad": 0.1, "rmsprop": 0.001})
    look = study.plan(ctx, results)
    assert [r.name for r in look] == [f"{n} seed {s}" for s in (0, 1, 2) for n in ("adagrad", "rmsprop")]
    assert look[1].args == {"optimizer": "rmsprop", "lr": 0.001, "seed": 0}


def test_adadelta_tunes_adagrad_only_and_shares_its_runs(ctx):
    results = tuning({"adagrad": 0.1, "rmsprop": 0.001})
    first = get_study("adadelta").plan(ctx, {})
    assert [r.name for r in first] == [f"tune adagrad lr {lr:g}" for lr in ag.GRIDS["adagrad"]]
    delta = {r.name: (r.fn, json.dumps(r.args, sort_keys=True)) for r in get_study("adadelta").plan(ctx, results)}
    grad = {r.name: (r.fn, json.dumps(r.args, sort_keys=True)) for r in get_study("adagrad").plan(ctx, results)}
    assert json.loads(delta["adadelta seed 2"][1]) == {"optimizer": "adadelta", "lr": 1.0, "seed": 2}
    assert all(delta[f"adagrad seed {s}"] == grad[f"adagrad seed {s}"] for s in (0, 1, 2))


NOISY_LOSS = [0.01, 0.002, 0.0005, 0.02, 0.001, 0.01, 0.0005, 0.02, 0.002, 0.01, 0.001, 0.015]


@pytest.mark.parametrize(
    "adagrad, more",
    [([0.01, 0.012, 0.011, 0.01, 0.013, 0.012] * 2, False), (NOISY_LOSS, True)],
)
def test_seeds_are_added_only_while_undecided(ctx, adagrad, more):
    study = get_study("adagrad")
    tuned = tuning({"adagrad": 0.1, "rmsprop": 0.001})
    loss = {"adagrad": adagrad, "rmsprop": [0.001, 0.0011, 0.0009, 0.001, 0.0012, 0.001] * 2}

    def answer(run):
        return tuned[run.name] if run.name in tuned else record(loss[run.args["optimizer"]][run.args["seed"]])

    stages, _ = plan_stages(study, ctx, answer)  # ends once a look decides, or after the last look
    assert [r.name for r in stages[0]] == list(tuned)  # the tuning grid comes first
    seen = study.schedule if more else study.schedule[:1]  # a clear ratio stops at the first look
    added = [range(before, n) for before, n in zip((0, *seen), seen)]
    per_look = [[r.args["seed"] for r in stage] for stage in stages[1:]]
    assert per_look == [[s for s in new for _ in range(2)] for new in added]  # each seed: both optimizers


def test_collect_puts_the_runs_into_the_numbers_judge_reads(ctx):
    study = get_study("adagrad")
    results = tuning({"adagrad": 0.1, "rmsprop": 0.001})
    run_all(results, study.plan(ctx, results), {"adagrad": [0.01, 0.02, 0.03], "rmsprop": [0.001, 0.002, 0.003]})
    m = study.collect(ctx, results).numbers
    assert m["seeds"] == [0, 1, 2] and m["adagrad"]["lr"] == 0.1 and m["rmsprop"]["lr"] == 0.001
    assert m["adagrad"]["final_loss"] == [0.01, 0.02, 0.03] and m["rmsprop"]["shrink"] == [0.5] * 3
    assert m["adagrad"]["rare_over_frequent"] == [1.2] * 3
    v = study.judge(json.loads(json.dumps(m)))
    assert v.verdict == "supported" and v.comparisons[0]["seeds"] == 3
    results.update({f"adadelta seed {s}": record(0.001) for s in (0, 1, 2)})
    d = get_study("adadelta").collect(ctx, results).numbers
    assert d["adadelta"]["lr"] == 1.0 and d["adagrad"]["final_loss"] == [0.01, 0.02, 0.03]


def numbers(a: list[float], b: list[float], first: str, second: str) -> dict:
    return {
        "epochs": 60,
        first: {"lr": 0.1, "final_loss": a, "shrink": [0.5] * len(a), "rare_over_frequent": [1.2] * len(a)},
        second: {"lr": 0.01, "final_loss": b, "shrink": [1.0] * len(b), "rare_over_frequent": [None] * len(b)},
    }


HIGH, LOW = [0.010, 0.012, 0.011], [0.001, 0.0012, 0.0011]
SAME = [0.0101, 0.0119, 0.0111]
NOISY = [0.02, 0.001, 0.012]


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (HIGH, LOW, "supported"),
        (LOW, HIGH, "contradicted"),
        (HIGH, SAME, "contradicted"),
        (NOISY, HIGH, "inconclusive"),
    ],
)
def test_adagrad_judges_the_final_loss_ratio(a, b, expected):
    v = get_study("adagrad").judge(numbers(a, b, "adagrad", "rmsprop"))
    assert v.verdict == expected and v.comparisons[0]["scale"] == "log ratio"


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (LOW, HIGH, "supported"),
        (HIGH, LOW, "contradicted"),
        (SAME, HIGH, "contradicted"),
        (NOISY, HIGH, "inconclusive"),
    ],
)
def test_adadelta_judges_the_final_loss_ratio_lower_is_better(a, b, expected):
    assert get_study("adadelta").judge(numbers(a, b, "adadelta", "adagrad")).verdict == expected


def test_train_steps_follows_the_seed_probes_and_stops_on_divergence():
    x, y = torch.randn(70, 1, 2, 2), torch.randint(0, 3, (70,))

    def fit(lr: float, seed: int):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
        seen: list[int] = []
        opt = create_optimizer("sgd", model.parameters(), lr=lr)
        diverged = train_steps(model, opt, (x, y), 32, 5, seed, seen.append, 2)
        return model[1].weight.detach().clone(), seen, diverged

    w0, seen, diverged = fit(0.1, 1)
    assert seen == [0, 2, 4] and not diverged  # 2 batches an epoch: the 5 steps span 3 epochs
    assert torch.equal(w0, fit(0.1, 1)[0]) and not torch.equal(w0, fit(0.1, 2)[0])
    assert fit(float("inf"), 1)[2]


def test_rare_and_frequent_are_the_outer_quarters_of_active_inputs() -> None:
    activity = torch.tensor([0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 0.9])  # quartiles at 0.2 and 0.6
    rare, frequent = rare_and_frequent(activity)
    active = activity[activity > 0]
    assert active[rare].tolist() == pytest.approx([0.05, 0.1, 0.2])
    assert active[frequent].tolist() == pytest.approx([0.6, 0.8, 0.9])


@pytest.mark.parametrize(
    "name, cls, kw",
    [
        ("adagrad", torch.optim.Adagrad, {"lr": 0.01}),
        ("rmsprop", torch.optim.RMSprop, {"lr": 1e-3}),
        ("adadelta", torch.optim.Adadelta, {"lr": 1.0}),
    ],
)
def test_effective_step_is_the_step_torch_takes(name: str, cls, kw: dict) -> None:
    """After a warm-up, the next update of a parameter equals effective_step * (its gradient transform)."""
    torch.manual_seed(0)
    w = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    ref = w.detach().clone().requires_grad_(True)
    ours, theirs = create_optimizer(name, [w], **kw), cls([ref], **kw)
    for _ in range(3):
        g = torch.randn(5, 4, dtype=torch.float64)
        for p, opt in ((w, ours), (ref, theirs)):
            p.grad = g.clone()
            opt.step()
    g = torch.randn(5, 4, dtype=torch.float64)
    before = ref.detach().clone()
    ref.grad = g.clone()
    theirs.step()
    w.grad = g.clone()
    ours.step()
    state = theirs.state[ref]  # after the step, as the study's callback reads it
    if name == "adagrad":  # the step just taken was exactly effective_step * g
        expected = 0.01 / (state["sum"].sqrt() + 1e-10)
        torch.testing.assert_close(before - ref.detach(), expected * g, rtol=1e-10, atol=1e-14)
    elif name == "rmsprop":
        expected = 1e-3 / (state["square_avg"].sqrt() + 1e-8)
        torch.testing.assert_close(before - ref.detach(), expected * g, rtol=1e-10, atol=1e-14)
    else:  # Zeiler's RMS[dx] lags one step: the numerator already holds the update just made
        expected = (state["acc_delta"] + 1e-6).sqrt() / (state["square_avg"] + 1e-6).sqrt()
    torch.testing.assert_close(effective_steps(ours, w), expected, rtol=1e-10, atol=1e-14)


def test_data_name_is_short_and_follows_the_data():
    assert ag.data_name("digits") == "digits" and ag.data_name("mnist5k") == "mnist5k"
    assert ag.data_name("subset:1438+359:idx:/usr/share/datasets/fashion-mnist/") == "fashion-mnist (1438+359)"
