"""The study registry: `list_studies()`, `get_study(id)`, `run_study(id, profile)`."""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import time
from typing import Any

from dlbasic.registry import Registry
from dlbasic.studies.base import Study
from dlbasic.studies.context import LabContext, make_profile

studies: Registry[type[Study]] = Registry("study")

_FRAMEWORK = {"base", "context", "executors", "registry", "runner"}


def register_study(cls: type[Study]) -> type[Study]:
    """Class decorator: registers a study under its claim id."""
    studies.add(cls.id, cls)
    return cls


def _import_all() -> None:
    import dlbasic.studies as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in _FRAMEWORK:
            importlib.import_module(f"dlbasic.studies.{info.name}")


def list_studies() -> list[str]:
    """The ids of all registered studies, sorted (importing every study module first)."""
    _import_all()
    return studies.names()


def get_study(study_id: str) -> Study:
    """A new instance of the study registered as `study_id`; `UserError` with a suggestion for an unknown id."""
    if study_id not in studies:  # its own module first (a lab worker needs no other study's imports)
        with contextlib.suppress(ImportError):
            importlib.import_module(f"dlbasic.studies.{study_id.replace('-', '_')}")
    if study_id not in studies:
        _import_all()
    return studies.get(study_id)()


def run_study(study_id: str, profile: str = "quick", ctx: LabContext | None = None) -> dict[str, Any]:
    """Run one study and return its result: claim, rule, numbers, verdict (figures as Figure objects)."""
    study = get_study(study_id)
    ctx = ctx or LabContext(make_profile(profile))
    start = time.perf_counter()
    m = study.measure(ctx)
    verdict = study.judge(m.numbers)
    return {
        "id": study.id,
        "section": study.section,
        "claim": study.claim,
        "note": study.note,
        "literature": study.literature,
        "method": study.method,
        "rule": study.rule,
        "verdict": verdict.verdict,
        "key_number": verdict.key_number,
        "reason": verdict.reason,
        "test": verdict.test,
        "numbers": m.numbers,
        "seeds": list(m.seeds),
        "figures": m.figures,
        "seconds": time.perf_counter() - start,
        "profile": ctx.profile.name,
    }
