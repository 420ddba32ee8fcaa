"""cutmix-ratio: a structural claim, reported as checked (or failed) from exact checks, never a t-test."""

from dlbasic.lab.study import CHECKED, FAILED
from dlbasic.studies import get_study, run_study
from dlbasic.studies.cutmix_ratio import MIN_CLIPPED, TOLERANCE


def numbers(error=0.0, clipped=500):
    return {
        "samples": 1000,
        "clipped_samples": clipped,
        "clipped_exact": clipped,
        "max_abs_error": error,
        "uncorrected_mean_abs_error": 0.2,
        "uncorrected_max_abs_error": 0.5,
    }


def test_the_checks_decide_checked_or_failed_and_no_comparison_is_made():
    study = get_study("cutmix-ratio")
    assert study.form == "structural"
    v = study.judge(numbers())
    assert v.verdict == CHECKED and v.comparisons == [] and all(c["holds"] for c in v.checks)
    assert study.judge(numbers(error=10 * TOLERANCE)).verdict == FAILED
    assert study.judge(numbers(clipped=MIN_CLIPPED - 1)).verdict == FAILED
    assert study.judge(numbers(clipped=MIN_CLIPPED)).verdict == CHECKED


def test_the_librarys_cutmix_weights_are_the_kept_fraction_exactly():
    result = run_study("cutmix-ratio")
    assert result["verdict"] == CHECKED
    assert result["numbers"]["max_abs_error"] == 0.0
    assert result["numbers"]["clipped_samples"] >= MIN_CLIPPED
    assert result["numbers"]["uncorrected_mean_abs_error"] > 0.01  # the uncorrected draw is not the area
