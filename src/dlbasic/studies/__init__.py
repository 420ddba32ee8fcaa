"""The lab's studies, one module per claim of the notebook; each declares its runs and judges their results
by a rule fixed in advance. The engine that runs them is `dlbasic.lab`, whose public names are also here.

>>> from dlbasic.studies import list_studies, run_study
>>> result = run_study("conv-shapes", "quick")   # doctest: +SKIP
"""

from dlbasic.lab import (
    CONTRADICTED,
    INCONCLUSIVE,
    SUPPORTED,
    LabContext,
    Measurements,
    Profile,
    Run,
    Study,
    Verdict,
    get_study,
    list_studies,
    make_profile,
    register_study,
    run_study,
)

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
    "run_study",
]
