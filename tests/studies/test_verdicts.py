"""Each study's verdict is computed from its measurements: fake measurements change the verdict.

Every registered study needs an entry here: (numbers, expected verdict) pairs covering at least two
different verdicts.
"""

import pytest

from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED, get_study, list_studies

FAKES = {
    "conv-shapes": [
        ({"cases": 700, "shape_mismatches": 0, "channel_mismatches": 0}, SUPPORTED),
        ({"cases": 700, "shape_mismatches": 3, "channel_mismatches": 0}, CONTRADICTED),
    ],
    "learning-rate": [
        ({"val_accuracy": {"0.01": [0.9, 0.91], "1": [0.1, 0.1]}, "diverged_runs": {}}, SUPPORTED),
        ({"val_accuracy": {"0.01": [0.9, 0.8], "1": [0.88, 0.86]}, "diverged_runs": {}}, CONTRADICTED),
        ({"val_accuracy": {"0.01": [0.9, 0.9], "1": [0.87, 0.87]}, "diverged_runs": {}}, INCONCLUSIVE),
    ],
}


@pytest.mark.parametrize("study_id", list_studies())
def test_fake_measurements_drive_the_verdict(study_id):
    assert study_id in FAKES, f"add fake measurements for {study_id} to tests/studies/test_verdicts.py"
    study = get_study(study_id)
    seen = set()
    for numbers, expected in FAKES[study_id]:
        assert study.judge(numbers).verdict == expected, numbers
        seen.add(expected)
    assert len(seen) >= 2
