"""densenet: the channel trace against the closed form and torchvision, and the exact checks."""

import copy

import pytest

from dlbasic.lab import LabContext, make_profile
from dlbasic.studies import get_study
from dlbasic.studies.densenet import channel_trace, expected_trace


def test_densenet121_trace_matches_torchvision_widths():
    trace, params = channel_trace(0.5)
    assert trace == expected_trace(0.5)
    assert [c for kind, c in trace if kind == "transition"] == [128, 256, 512]
    assert trace[-1] == ("layer", 1024 - 32)  # the last layer adds 32 maps: 1024 into the classifier
    assert params == 7_978_856  # torchvision's densenet121


@pytest.fixture(scope="module")
def measured():
    study = get_study("densenet")
    assert [r.name for r in study.plan(LabContext(make_profile("quick")), {})] == ["study"]
    return study.measure(LabContext(make_profile("quick"))).numbers


def test_measured_trace_is_checked(measured):
    v = get_study("densenet").judge(measured)
    assert v.verdict == "checked" and len(v.checks) == 4 and all(c["holds"] for c in v.checks)
    assert "256 -> 128, 512 -> 256, 1024 -> 512" in v.checks[2]["check"]


def _grow_by(m, k):  # a layer adding k + 1 channels
    i = next(i for i, t in enumerate(m["trace"]) if t[0] == "layer" and i > 0)
    m["trace"][i][1] += 1


@pytest.mark.parametrize(
    "change, failing",
    [
        (lambda m: m.update(matches_formula=False), [0]),
        (lambda m: _grow_by(m, 32), [1]),
        (lambda m: m["trace"][6].__setitem__(1, 300), [2]),  # the first transition keeps more than its input
        (lambda m: m.update(params=14_000_000), [3]),
    ],
)
def test_each_check_fails_on_its_own(measured, change, failing):
    m = copy.deepcopy(measured)
    assert m["trace"][6][0] == "transition"
    change(m)
    v = get_study("densenet").judge(m)
    assert v.verdict == "failed" and [i for i, c in enumerate(v.checks) if not c["holds"]][: len(failing)] == failing
