"""The lab: one study per claim of the notebook, each measured and judged by a rule fixed in advance.

>>> from dlbasic.studies import list_studies, run_study
>>> result = run_study("conv-shapes", "quick")   # doctest: +SKIP
"""

from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict
from dlbasic.studies.context import LabContext, Profile, make_profile
from dlbasic.studies.registry import get_study, list_studies, register_study, run_study

__all__ = [
    "CONTRADICTED",
    "INCONCLUSIVE",
    "SUPPORTED",
    "LabContext",
    "Measurements",
    "Profile",
    "Study",
    "Verdict",
    "get_study",
    "list_studies",
    "make_profile",
    "register_study",
    "run_study",
]
