"""early-stopping: where the rule stops and what it restores, what `plan` declares and stages, that `collect`
reads both arms off one trajectory, and that `judge` gives each verdict (non-inferiority of test accuracy,
margin 0.005, and fewer epochs, log 10 % margin)."""

import pytest
from staging import added_seeds, plan_stages

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.studies import early_stopping, get_study
from dlbasic.studies.early_stopping import PATIENCE, SCHEDULE, TRAIN, arms, stopping_point

CTX = LabContext(make_profile("quick"))


def test_the_rule_restores_the_first_best_validation_epoch_and_stops_patience_epochs_after_it():
    val = [0.5, 0.7, 0.8, 0.8, 0.79, 0.8, 0.78]
    assert stopping_point(val, 3) == (3, 6)  # a tie is no improvement
    assert stopping_point(val, 10) == (3, 7)  # never stops: the end of the budget
    assert stopping_point([0.9, 0.8, 0.7], 1) == (1, 2)
    run = {"val_accuracy": val, "test_accuracy": [0.4, 0.6, 0.75, 0.7, 0.7, 0.7, 0.72], "test_loss": [1.0] * 7}
    a = arms(run, 3)
    assert a["early_stopping"] == {"test_accuracy": 0.75, "test_loss": 1.0, "epochs": 6, "best_epoch": 3}
    assert a["to_the_end"]["test_accuracy"] == 0.72 and a["to_the_end"]["epochs"] == 7


def trajectory(best, gain, epochs=40):
    """A run whose validation accuracy peaks at epoch `best`; test accuracy at the end is the peak's + `gain`."""
    val = [0.8 + 0.002 * min(e, best) - 0.001 * max(0, e - best) for e in range(1, epochs + 1)]
    test = [0.85] * (epochs - 1) + [0.85 + gain]
    return {"val_accuracy": val, "test_accuracy": test, "test_loss": [0.5] * epochs}


def staged(gain, spread=0.0):
    study = get_study("early-stopping")
    stages, results = plan_stages(study, CTX, lambda r: trajectory(12, gain + spread * (-1) ** r.args["seed"]))
    return [len(s) for s in stages], study.collect(CTX, results).numbers


def test_plan_declares_one_training_per_seed_and_stages_seeds_while_undecided():
    runs = get_study("early-stopping").plan(CTX, {})
    assert len(runs) == SCHEDULE[0] and {r.fn for r in runs} == {TRAIN} and all(r.cost > 0 for r in runs)
    assert sorted(r.args["seed"] for r in runs) == list(range(SCHEDULE[0]))
    looks, numbers = staged(0.0)
    assert looks == [SCHEDULE[0]]
    assert numbers["early_stopping"]["epochs"] == [12 + PATIENCE] * SCHEDULE[0]
    assert numbers["early_stopping"]["best_epoch"] == [12] * SCHEDULE[0]
    assert numbers["to_the_end"]["epochs"] == [40] * SCHEDULE[0]
    assert get_study("early-stopping").judge(numbers).verdict == "supported"
    looks, numbers = staged(0.0, spread=0.02)  # undecided until the last look, which ends the plan
    assert looks == added_seeds(SCHEDULE) and len(numbers["to_the_end"]["epochs"]) == SCHEDULE[-1]


def numbers(diffs, es_epochs):
    n = len(diffs)
    end = [0.88 + 0.002 * (i % 4) for i in range(n)]
    return {
        "early_stopping": {
            "test_accuracy": [e + d for e, d in zip(end, diffs)],
            "test_loss": [0.5] * n,
            "epochs": es_epochs * (n // len(es_epochs)),
            "best_epoch": [e - PATIENCE for e in es_epochs] * (n // len(es_epochs)),
        },
        "to_the_end": {"test_accuracy": end, "test_loss": [0.6] * n, "epochs": [40] * n, "best_epoch": [40] * n},
        "patience": PATIENCE,
    }


SAME = [0.001, -0.001, 0.0, 0.002] * 4


@pytest.mark.parametrize(
    ("diffs", "es_epochs", "verdict"),
    [
        (SAME, [20, 22, 25, 21], "supported"),  # not worse, about half the epochs
        ([-0.003, -0.004, -0.002, -0.003] * 4, [20, 22, 25, 21], "supported"),  # a little worse, within the margin
        ([-0.02, -0.018, -0.022, -0.019] * 4, [20, 22, 25, 21], "contradicted"),  # worse by two points
        (SAME, [40, 40, 39, 40], "contradicted"),  # no epochs saved
        ([0.01, -0.02, 0.015, -0.025] * 4, [20, 22, 25, 21], "inconclusive"),
    ],
)
def test_judge_is_non_inferiority_of_test_accuracy_and_fewer_epochs(diffs, es_epochs, verdict):
    v = early_stopping.EarlyStoppingStudy().judge(numbers(diffs, es_epochs))
    assert v.verdict == verdict
    acc, epochs = v.comparisons
    assert acc["form"] == "non-inferiority" and acc["margin"] == 0.005 and epochs["scale"] == "log ratio"
