"""noise: what `plan` declares and stages, that `collect` reads the runs' curves, and that `judge` gives each
verdict on hand-made numbers (robust accuracy under input and under weight noise, margin 0.005 each)."""

import pytest
from staging import added_seeds, plan_stages

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.studies import get_study, noise
from dlbasic.studies.noise import CURVE, CURVES, SCHEDULE, TRAININGS

CTX = LabContext(make_profile("quick"))
KEYS = [f"{m:g}" for m in CURVE]


def curve(clean, away):
    """Accuracy at each test level: `clean` at 0, 0.85 at the training level, `away` at the other levels."""
    return {k: clean if k == "0" else 0.85 if k == "1" else away for k in KEYS}


def fake(gain, spread=0.0):
    """Run values: noise training adds `gain` (+- `spread` by seed) away from the training level, for its kind."""

    def value(options, seed):
        plain = 0.60 + 0.002 * seed
        up = gain + spread * (-1) ** seed
        return {
            "inputs": curve(0.9, plain + (up if "input_noise" in options else 0.0)),
            "weights": curve(0.9, plain + (up if "weight_noise" in options else 0.0)),
        }

    return value


def staged(value):
    study = get_study("noise")
    stages, results = plan_stages(study, CTX, lambda r: value(**r.args))
    return [len(s) for s in stages], study.collect(CTX, results).numbers


def test_plan_declares_one_run_per_way_of_training_and_seed():
    runs = get_study("noise").plan(CTX, {})
    assert len(runs) == len(TRAININGS) * SCHEDULE[0] and {r.fn for r in runs} == {CURVES}
    by_name = {r.name: r.args for r in runs}
    assert by_name["input noise seed 5"] == {"options": {"input_noise": 0.3}, "seed": 5}
    assert by_name["weight noise seed 0"] == {"options": {"weight_noise": 0.03}, "seed": 0}
    assert by_name["plain seed 3"] == {"options": {}, "seed": 3}


def test_collect_reads_the_curves_and_stages_seeds_only_while_undecided():
    looks, numbers = staged(fake(0.1))
    assert looks == [len(TRAININGS) * SCHEDULE[0]]
    assert numbers["noisy_inputs"]["input noise"]["2"] == pytest.approx([0.7 + 0.002 * s for s in range(6)])
    assert numbers["noisy_weights"]["input noise"]["2"] == pytest.approx([0.6 + 0.002 * s for s in range(6)])
    assert get_study("noise").judge(numbers).verdict == "supported"
    looks, numbers = staged(fake(0.02, spread=0.03))  # undecided until the last look, which ends the plan
    assert looks == [len(TRAININGS) * n for n in added_seeds(SCHEDULE)]
    assert len(numbers["noisy_inputs"]["plain"]["0"]) == SCHEDULE[-1]


def numbers(input_gain, weight_gain):
    """Per-seed gains of each noise training away from its training level (the plain curves fixed)."""
    n = len(input_gain)
    plain = {k: [0.6 + 0.01 * (i % 3) for i in range(n)] for k in KEYS}

    def trained(gains):
        return {k: [p + (g if k not in ("0", "1") else 0.0) for p, g in zip(plain[k], gains)] for k in KEYS}

    return {
        "train_sigma": {"input": 0.3, "weight": 0.03},
        "noisy_inputs": {"plain": plain, "input noise": trained(input_gain)},
        "noisy_weights": {"plain": plain, "weight noise": trained(weight_gain)},
    }


GAIN = [0.1, 0.12, 0.09, 0.11, 0.1, 0.13]


@pytest.mark.parametrize(
    ("inputs", "weights", "verdict"),
    [
        (GAIN, [0.05, 0.04, 0.06, 0.05, 0.045, 0.055], "supported"),
        (GAIN, [0.0, 0.001, -0.001, 0.0, 0.001, -0.001], "contradicted"),  # weight noise: equivalent
        ([-0.1, -0.12, -0.09, -0.1, -0.11, -0.1], GAIN, "contradicted"),  # input noise: less robust
        (GAIN, [0.08, -0.05, 0.06, -0.04, 0.02, 0.0], "inconclusive"),
    ],
)
def test_judge_needs_both_kinds_of_noise_to_help_by_half_a_point(inputs, weights, verdict):
    v = noise.Noise().judge(numbers(inputs, weights))
    assert v.verdict == verdict and [c["margin"] for c in v.comparisons] == [0.005, 0.005]
