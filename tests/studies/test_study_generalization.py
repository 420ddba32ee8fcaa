"""The generalization study: its staged runs, what `collect` makes of their values, and its verdict on hand-made
numbers (nothing trains here)."""

import pytest
import torch
from staging import added_seeds, plan_stages

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.studies import get_study
from dlbasic.studies.generalization import SEED_RUN, WIDTHS, corrupt_labels, past_optimum


@pytest.fixture
def ctx():
    return LabContext(make_profile("quick"))


def fake_run(seed, rise=1.5, gap=0.15, spread=0.0):
    """A seed's run: test loss at the end `rise` times its value at e* (epoch 5, give or take `spread`),
    noisy-label gap `gap`."""
    j = 0.01 * (seed % 3)
    val = [1.0, 0.6, 0.4, 0.35, 0.3 - j, 0.32, 0.34, 0.36]
    test = [
        1.0,
        0.6,
        0.4,
        0.35,
        0.3,
        0.3 + (rise - 1) * 0.1,
        0.3 + (rise - 1) * 0.2,
        0.3 * rise * (1 + j + spread * (seed % 3 - 1)),
    ]
    train = [1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005 * (1 + j)]
    acc = {str(w): 1.0 for w in WIDTHS} | {str(WIDTHS[0]): 0.3}
    return {
        "train_accuracy": {"clean": acc, "noisy": acc},
        "test_accuracy": {
            "clean": {w: 0.93 * a for w, a in acc.items()},
            "noisy": {w: a - gap - j for w, a in acc.items()},
        },
        "curves": {"clean": {"val_loss": val, "train_loss": train, "test_loss": test}},
    }


def run_stages(study, ctx, **kw):
    return plan_stages(study, ctx, lambda r: fake_run(r.args["seed"], **kw))


def test_plan_declares_one_run_per_seed_and_adds_seeds_only_while_undecided(ctx):
    study = get_study("generalization")
    first = study.plan(ctx, {})
    assert [(r.name, r.fn, r.args) for r in first] == [(f"seed{s}", SEED_RUN, {"seed": s}) for s in range(8)]
    assert all(0 < r.cost <= 5 and r.trains for r in first)
    stages, _ = run_stages(study, ctx)
    assert [len(s) for s in stages] == [8]  # decided at the first look
    stages, results = run_stages(study, ctx, rise=1.1, spread=0.1)  # the rise sits on the margin: undecided
    assert [len(s) for s in stages] == added_seeds(study.schedule)  # the last look ends the plan
    assert sorted(results) == sorted(f"seed{s}" for s in range(study.schedule[-1]))


def test_collect_gives_the_numbers_judge_reads(ctx):
    study = get_study("generalization")
    _, results = run_stages(study, ctx)
    m = study.collect(ctx, results)
    o = m.numbers["past_optimum"]
    assert o["best_epoch"] == [5] * 8 and o["test_loss_best"] == [0.3] * 8
    assert o["test_loss_end"][1] == pytest.approx(0.45 * 1.01)
    assert m.numbers["test_accuracy"]["noisy"]["512"][2] == pytest.approx(1 - 0.15 - 0.02)
    assert m.seeds == list(range(8)) and m.figures
    v = study.judge(m.numbers)
    assert v.verdict == "supported" and len(v.comparisons) == 3


def numbers(n=8, rise=1.5, gap=0.15, spread=0.0, fall=10.0):
    """Hand-made numbers of `n` seeds: the test loss rises `rise` times past e* (give or take `spread`), the
    training loss falls `fall` times, and the noisy-label gap is `gap` (give or take 0.01)."""
    eps = [(s % 3 - 1) for s in range(n)]
    end = [0.3 * rise * (1 + spread * e) for e in eps]
    wide = str(WIDTHS[-1])
    return {
        "widths": list(WIDTHS),
        "noise": 0.2,
        "past_optimum": {
            "best_epoch": [5] * n,
            "test_loss_best": [0.3] * n,
            "test_loss_end": end,
            "train_loss_best": [0.05 * (1 + 0.01 * e) for e in eps],
            "train_loss_end": [0.05 / fall] * n,
        },
        "train_accuracy": {c: {wide: [1.0] * n, "2": [0.3] * n} for c in ("clean", "noisy")},
        "test_accuracy": {c: {wide: [1 - gap + 0.01 * e for e in eps], "2": [0.3] * n} for c in ("clean", "noisy")},
    }


def test_judge_gives_each_verdict():
    study = get_study("generalization")
    judge = study.judge
    assert judge(numbers()).verdict == "supported"
    flat = judge(numbers(rise=1.0))  # test loss does not rise past e*: equivalent within 10 %
    assert flat.verdict == "contradicted" and flat.comparisons[0]["outcome"] == "equivalent"
    assert judge(numbers(fall=1.0)).verdict == "contradicted"  # the training loss stops falling
    assert judge(numbers(gap=-0.05)).verdict == "contradicted"  # test accuracy above training accuracy
    first, second, last = study.schedule
    undecided = judge(numbers(first, rise=1.1, spread=0.1))
    assert undecided.verdict == "inconclusive" and undecided.more == second
    still = judge(numbers(second, rise=1.1, spread=0.1))
    assert still.verdict == "inconclusive" and still.more == last
    assert judge(numbers(last, rise=1.1, spread=0.1)).more is None  # the last look


def test_past_optimum_reads_the_lowest_validation_loss():
    o = past_optimum([3, 1, 2, 1], [5, 4, 3, 2], [9, 8, 7, 6])
    assert o == {"best_epoch": 2, "test_loss_best": 8, "test_loss_end": 6, "train_loss_best": 4, "train_loss_end": 2}


def test_corrupt_labels_replaces_a_fraction_with_uniform_classes():
    labels = torch.arange(10).repeat(1000)  # 10,000 labels
    assert torch.equal(corrupt_labels(labels, 0.0, 10, seed=0), labels)
    noisy = corrupt_labels(labels, 0.2, 10, seed=0)
    changed = (noisy != labels).float().mean().item()
    assert abs(changed - 0.2 * 9 / 10) < 0.015  # a random class equals the true one 1 time in 10
    assert torch.equal(noisy, corrupt_labels(labels, 0.2, 10, seed=0))
    assert not torch.equal(noisy, corrupt_labels(labels, 0.2, 10, seed=1))
