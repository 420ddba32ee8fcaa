"""Each study's verdict is computed from its measurements: fake measurements change the verdict.

Every registered study has its own tests, `test_study_<module>.py`, whose hand-made numbers drive `judge` to
each of its verdicts; the studies with entries in the `fakes/*.py` modules ((numbers, expected verdict) pairs
covering at least two different verdicts) are checked here too.
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
def test_every_study_has_tests_of_its_own_that_judge_numbers(study_id):
    module = type(get_study(study_id)).__module__.rsplit(".", 1)[-1]
    own = Path(__file__).parent / f"test_study_{module}.py"
    texts = [p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_study_*.py")]
    judged = [t for t in texts if (module in t or study_id in t) and ".judge(" in t]
    assert own.is_file() or judged, f"add {own.name}: its plan, collect, and judge on hand-made numbers"
    assert judged or study_id in FAKES, f"no test judges hand-made numbers of {study_id}"


@pytest.mark.parametrize("study_id", sorted(FAKES))
def test_fake_measurements_drive_the_verdict(study_id):
    study = get_study(study_id)
    seen = set()
    for numbers, expected in FAKES[study_id]:
        assert study.judge(numbers).verdict == expected, numbers
        seen.add(expected)
    assert len(seen) >= 2
