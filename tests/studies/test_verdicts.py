"""Each study's verdict is computed from its measurements: fake measurements change the verdict.

Every registered study needs an entry in one of the `fakes/*.py` modules: (numbers, expected verdict)
pairs covering at least two different verdicts.
"""

import importlib
import pkgutil
from pathlib import Path

import pytest

from dlbasic.studies import get_study, list_studies


def all_fakes() -> dict:
    fakes = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent / "fakes")]):
        module = importlib.import_module(f"fakes.{info.name}")
        fakes.update(module.FAKES)
    return fakes


FAKES = all_fakes()


@pytest.mark.parametrize("study_id", list_studies())
def test_fake_measurements_drive_the_verdict(study_id):
    assert study_id in FAKES, f"add fake measurements for {study_id} to tests/studies/fakes/"
    study = get_study(study_id)
    seen = set()
    for numbers, expected in FAKES[study_id]:
        assert study.judge(numbers).verdict == expected, numbers
        seen.add(expected)
    assert len(seen) >= 2
