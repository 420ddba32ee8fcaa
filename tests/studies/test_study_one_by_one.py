"""one-by-one: its counts against the lecture's example and GoogLeNet's Table 1, and the exact checks."""

import copy

import pytest

from dlbasic.lab import LabContext, make_profile
from dlbasic.models.googlenet import INCEPTION
from dlbasic.studies import get_study
from dlbasic.studies.one_by_one import direct, googlenet_branches, reduced


def test_one_by_one_counts_match_the_lecture_example():
    assert direct(128, 128, 3) == 147_456
    assert reduced(128, 32, 128, 3) == 4_096 + 36_864


def test_googlenet_branches_follow_table_1():
    rows = googlenet_branches()
    assert len(rows) == 2 * len(INCEPTION)
    first = rows[0]  # 3a, 3x3 branch: 192 -> 96 -> 128
    assert (first["in"], first["reduce"], first["out"]) == (192, 96, 128)
    assert first["direct"] == 9 * 192 * 128 and first["reduced"] == 192 * 96 + 9 * 96 * 128
    # the input of 4a is 3b's output: 128 + 192 + 96 + 64 = 480 channels (Table 1)
    assert next(r["in"] for r in rows if r["module"] == "4a") == 480


@pytest.fixture(scope="module")
def measured():
    study = get_study("one-by-one")
    assert [r.name for r in study.plan(LabContext(make_profile("quick")), {})] == ["study"]
    return study.measure(LabContext(make_profile("quick"))).numbers


def test_measured_numbers_are_checked(measured):
    v = get_study("one-by-one").judge(measured)
    assert v.verdict == "checked" and len(v.checks) == 4 and all(c["holds"] for c in v.checks)
    assert measured["first_width_not_cheaper"] == 116 and measured["break_even_width"] == pytest.approx(115.2)
    assert "147,456 -> 40,960" in v.key_number


@pytest.mark.parametrize(
    "change, failing",
    [
        (lambda m: m["example"].update(reduced=160_000), 0),
        (lambda m: m["example"].update(depth_reduced=1), 0),
        (lambda m: m["googlenet_branches"][0].update(reduced=10**7), 1),
        (lambda m: m.update(formula_ok=False), 2),
        (lambda m: m.update(first_width_not_cheaper=100), 3),
    ],
)
def test_each_check_fails_on_its_own(measured, change, failing):
    m = copy.deepcopy(measured)
    change(m)
    v = get_study("one-by-one").judge(m)
    assert v.verdict == "failed" and [i for i, c in enumerate(v.checks) if not c["holds"]] == [failing]
