"""The study registry: `list_studies()`, `get_study(id)`, `run_study(id, profile)`.

Studies are plug-ins: every module of the packages named in `STUDY_PACKAGES` registers its study with
`@register_study` when imported. The lab names its packages rather than importing them, so the engine sits below
the studies that build on it; a package of one's own studies is added to the tuple (before the lab runs, in
every worker)."""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
from typing import Any

import torch

from dlbasic.lab.context import LabContext, make_profile
from dlbasic.lab.study import Study
from dlbasic.registry import Registry

studies: Registry[type[Study]] = Registry("study")

STUDY_PACKAGES: tuple[str, ...] = ("dlbasic.studies",)  # one module per claim in each


def register_study(cls: type[Study]) -> type[Study]:
    """Class decorator: registers a study under its claim id."""
    studies.add(cls.id, cls)
    return cls


def _import_all() -> None:
    for name in STUDY_PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{name}.{info.name}")


def list_studies() -> list[str]:
    """The ids of all registered studies, sorted (importing every study module first)."""
    _import_all()
    return studies.names()


def get_study(study_id: str) -> Study:
    """A new instance of the study registered as `study_id`; `UserError` with a suggestion for an unknown id."""
    for name in STUDY_PACKAGES:  # its own module first (a lab worker needs no other study's imports)
        if study_id not in studies:
            with contextlib.suppress(ImportError):
                importlib.import_module(f"{name}.{study_id.replace('-', '_')}")
    if study_id not in studies:
        _import_all()
    return studies.get(study_id)()


def run_study(study_id: str, profile: str = "quick", ctx: LabContext | None = None) -> dict[str, Any]:
    """Run one study here, its runs one after another in this process as the serial lab computes them (no run
    cache unless `ctx` has a lab folder), and return its result: claim, rule, numbers, verdict, figures as PNG
    bytes and the runs it used."""
    from dlbasic.errors import UserError
    from dlbasic.lab.engine import study_result
    from dlbasic.lab.runs import as_measurements, execute
    from dlbasic.lab.scheduler import MAX_STAGES, StudyState

    state = StudyState(get_study(study_id))
    ctx = ctx or LabContext(make_profile(profile))
    threads = torch.get_num_threads()
    root = str(ctx.root) if ctx.root is not None else None
    while state.stages < MAX_STAGES:
        runs = [r for r in state.study.plan(ctx, dict(state.results)) if r.name not in state.results]
        if not runs:
            break
        state.stages += 1
        for run in runs:
            outcome = execute(run, ctx.profile, root, threads)
            if "user_error" in outcome:
                raise UserError(outcome["user_error"], outcome.get("hint"))
            if "error" in outcome:
                raise RuntimeError(f"run {run.name} failed: {outcome['error']}\n{outcome['traceback']}")
            state.results[run.name] = as_measurements(outcome["value"], outcome["figures"])
            state.run_seconds[run.name] = outcome["seconds"]
            state.seconds += outcome["seconds"]
            state.runs[run.name], state.stage_of[run.name] = run, state.stages
            state.computed += 1
    torch.set_num_threads(threads)
    return study_result(state, ctx)
