"""The lab's engine: studies declare runs, the engine plans them in stages, computes each once (content-
addressed, cached in the lab folder), spreads them over worker processes or a Ray cluster, and judges and
reports the studies. The studies themselves, one per claim of the notebook, live in `dlbasic.studies`.

>>> from dlbasic.lab import run_study
>>> result = run_study("conv-shapes", "quick")   # doctest: +SKIP
"""

from dlbasic.lab.context import LabContext, Profile, make_profile
from dlbasic.lab.engine import run_lab
from dlbasic.lab.registry import get_study, list_studies, register_study, run_study
from dlbasic.lab.study import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Run, Study, Verdict

__all__ = [
    "CONTRADICTED",
    "INCONCLUSIVE",
    "SUPPORTED",
    "LabContext",
    "Measurements",
    "Profile",
    "Run",
    "Study",
    "Verdict",
    "get_study",
    "list_studies",
    "make_profile",
    "register_study",
    "run_lab",
    "run_study",
]
