"""fcn: one run per architecture and one heat map, the numbers `judge` reads, and the exact checks."""

import pytest

from dlbasic.lab import LabContext, Measurements, make_profile
from dlbasic.studies import fcn, get_study

ARCH = {"params_before": 100, "params_after": 100, "max_logit_diff": 1e-16, "heat_map_shape": [10, 3, 3]}
HEAT = {
    "right": 62,
    "total": 100,
    "test_accuracy": 0.95,
    "side": 2,
    "example": {"classes": [[[-1, 3], [2, -1]]] * 3, "images": [[[0.0] * 8] * 8] * 3, "digits": [[3, 2]] * 3},
}


@pytest.fixture
def ctx():
    return LabContext(make_profile("quick"))


def results(**arch):
    return {f"arch-{name}": dict(ARCH, **arch) for name, _ in fcn.ARCHS} | {"heat-map-seed0": HEAT}


def test_plans_one_run_per_architecture_and_one_heat_map(ctx):
    study = get_study("fcn")
    runs = study.plan(ctx, {})
    assert [r.name for r in runs] == [f"arch-{name}" for name, _ in fcn.ARCHS] + ["heat-map-seed0"]
    assert runs[-1].args == {"seed": 0} and runs[-1].fn == "dlbasic.studies.fcn:heat_map"
    assert not any(r.trains for r in runs) and sum(r.cost for r in runs) < 10
    assert study.plan(ctx, {r.name: {} for r in runs}) == [] and study.form == "structural"
    assert "Fixed data" in study.method


def test_architecture_run_keeps_parameters_and_logits(ctx):
    arch = fcn.convolutionalized(ctx, "simple_cnn", 28)
    assert arch["params_before"] == arch["params_after"] and arch["max_logit_diff"] < 1e-10
    assert arch["heat_map_shape"][1] > 1


def test_collects_the_numbers_judge_reads(ctx):
    m = get_study("fcn").collect(ctx, results())
    assert isinstance(m, Measurements) and m.figures and m.seeds == [0]
    assert m.numbers["centre_accuracy"] == 0.62 and list(m.numbers["architectures"]) == [n for n, _ in fcn.ARCHS]
    v = get_study("fcn").judge(m.numbers)
    assert v.verdict == "checked" and len(v.checks) == 3 and "0.620 of 100 digits" in v.key_number


@pytest.mark.parametrize(
    "arch, failing",
    [({"params_after": 101}, 0), ({"max_logit_diff": 1e-6}, 1), ({"heat_map_shape": [10, 1, 1]}, 2)],
)
def test_each_check_fails_on_its_own(ctx, arch, failing):
    v = get_study("fcn").judge(get_study("fcn").collect(ctx, results(**arch)).numbers)
    assert v.verdict == "failed" and [i for i, c in enumerate(v.checks) if not c["holds"]] == [failing]


def test_a_heat_map_at_chance_is_reported_not_judged(ctx):
    numbers = get_study("fcn").collect(ctx, results()).numbers | {"centre_accuracy": 0.1}
    assert get_study("fcn").judge(numbers).verdict == "checked"
