"""The mixing study: the runs `plan` declares look by look (label smoothing beside Mixup, CutMix and plain),
the numbers `collect` builds from the runs' values, and the two parts `judge` reads (Mixup vs plain, CutMix
vs plain)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from dlbasic.lab import LabContext, Profile
from dlbasic.studies import get_study
from dlbasic.studies import mixing as mx

PLAIN = [0.900, 0.905, 0.895]
GAIN = [0.920, 0.926, 0.915]  # 2 points above plain in every seed
NOISY = [0.930, 0.900, 0.915]  # +3, -0.5, +2 points: undecided at the first look


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def values(acc: dict[str, list[float]]) -> dict:
    """Run values from accuracies by method (one per seed); ECE and training accuracy made from them."""
    return {
        mx.run_name(name, s): {"accuracy": a, "ece": 1 - a, "train_accuracy": 1.0}
        for name, per_seed in acc.items()
        for s, a in enumerate(per_seed)
    }


def accuracies(mixup: list[float], cutmix: list[float]) -> dict[str, list[float]]:
    return {"plain": PLAIN, "mixup": mixup, "cutmix": cutmix, "label smoothing": PLAIN}


def test_plan_runs_four_targets_per_seed_then_more_seeds_only_while_undecided():
    ctx = LabContext(Profile(seeds=(0, 1, 2)))
    study = get_study("mixing")
    runs = {r.name: r for r in study.plan(ctx, {})}
    assert set(runs) == {mx.run_name(m, s) for m in ("plain", "mixup", "cutmix", "label smoothing") for s in (0, 1, 2)}
    assert runs["mixup seed 1"].args == {"options": {"mixup": 0.4}, "seed": 1}
    assert runs["cutmix seed 0"].args == {"options": {"cutmix": 1.0}, "seed": 0}
    assert runs["label smoothing seed 2"].args == {"options": {"label_smoothing": 0.1}, "seed": 2}
    assert runs["plain seed 0"].args == {"options": {}, "seed": 0}
    assert all(r.fn == mx.TRAIN and r.cost > 0 for r in runs.values())
    assert study.plan(ctx, values(accuracies(GAIN, GAIN))) == []  # decided: supported
    assert study.plan(ctx, values(accuracies(PLAIN, GAIN))) == []  # decided: Mixup equivalent, contradicted
    more = {r.name for r in study.plan(ctx, values(accuracies(GAIN, NOISY)))}
    assert more == {mx.run_name(m, s) for m in mx.METHODS for s in (3, 4, 5)}


def test_collect_puts_each_targets_values_of_the_paired_seeds_into_the_numbers():
    ctx = LabContext(Profile(seeds=(0, 1, 2)))
    study = get_study("mixing")
    results = values(accuracies(GAIN, NOISY))
    del results["cutmix seed 2"]  # unfinished: seed 2 is not paired yet
    m = study.collect(ctx, results)
    assert m.seeds == [0, 1]
    assert m.numbers["test_accuracy"] == {
        "plain": PLAIN[:2],
        "mixup": GAIN[:2],
        "cutmix": NOISY[:2],
        "label smoothing": PLAIN[:2],
    }
    assert m.numbers["ece"]["mixup"] == pytest.approx([1 - a for a in GAIN[:2]])
    assert m.numbers["train_accuracy"]["plain"] == [1.0, 1.0]
    assert len(m.figures) == 1


@pytest.mark.parametrize(
    ("mixup", "cutmix", "verdict", "more"),
    [
        (GAIN, GAIN, "supported", None),
        (GAIN, [0.880, 0.886, 0.875], "contradicted", None),  # CutMix 2 points worse
        (GAIN, [0.9005, 0.9052, 0.8948], "contradicted", None),  # CutMix equivalent to plain
        (GAIN, NOISY, "inconclusive", 6),
    ],
)
def test_judge_needs_mixup_and_cutmix_each_better_than_plain_by_half_a_point(mixup, cutmix, verdict, more):
    ece = {"plain": [0.05] * 3, "mixup": [0.03] * 3, "cutmix": [0.04] * 3, "label smoothing": [0.06] * 3}
    acc = accuracies(mixup, cutmix)
    v = get_study("mixing").judge({"test_accuracy": acc, "ece": ece, "train_accuracy": {m: [1.0] * 3 for m in acc}})
    assert (v.verdict, v.more) == (verdict, more)
    assert [c["label"] for c in v.comparisons] == ["test accuracy, mixup vs plain", "test accuracy, cutmix vs plain"]
    assert all(c["margin"] == 0.005 and c["form"] == "difference" for c in v.comparisons)
    assert "label smoothing" in v.key_number and "ECE" in v.key_number
