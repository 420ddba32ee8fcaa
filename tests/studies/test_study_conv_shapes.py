"""conv-shapes: one whole-study run, two exact checks from its counts (checked, or failed by any mismatch)."""

from dlbasic.lab import LabContext, make_profile
from dlbasic.studies import get_study


def numbers(shape=0, channel=0, cases=714):
    return {"cases": cases, "shape_mismatches": shape, "channel_mismatches": channel}


def test_plan_is_one_run_without_training():
    study = get_study("conv-shapes")
    runs = study.plan(LabContext(make_profile("quick")), {})
    assert [r.name for r in runs] == ["study"] and not runs[0].trains and runs[0].cost <= 2
    assert study.form == "structural" and not study.schedule


def test_measure_counts_every_case_and_checks_hold():
    study = get_study("conv-shapes")
    m = study.measure(LabContext(make_profile("quick")))
    assert m.numbers == numbers() and m.figures
    v = study.judge(m.numbers)
    assert v.verdict == "checked" and [c["holds"] for c in v.checks] == [True, True] and not v.comparisons


def test_any_mismatch_fails_its_check():
    study = get_study("conv-shapes")
    v = study.judge(numbers(shape=3))
    assert v.verdict == "failed" and [c["holds"] for c in v.checks] == [False, True]
    assert study.judge(numbers(channel=1)).verdict == "failed"
    assert study.judge(numbers(cases=0)).verdict == "failed"  # no case measured proves nothing
