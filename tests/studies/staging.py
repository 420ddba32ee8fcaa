"""Driving a study's staged plan without training: plan, answer every run, plan again until it asks for nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def plan_stages(study, ctx, answer: Callable[[Any], Any]) -> tuple[list[list], dict[str, Any]]:
    """Each stage's runs and every run's value (`answer(run)`), as the engine would see them; a stage never
    asks again for a run it already has."""
    results: dict[str, Any] = {}
    stages: list[list] = []
    while runs := study.plan(ctx, dict(results)):
        assert not any(r.name in results for r in runs), [r.name for r in runs if r.name in results]
        stages.append(runs)
        results.update({r.name: answer(r) for r in runs})
    return stages, results


def added_seeds(schedule: tuple[int, ...]) -> list[int]:
    """The paired seeds each look of a staged schedule adds: (3, 6, 12) -> [3, 3, 6]."""
    return [n - before for before, n in zip((0, *schedule), schedule)]
