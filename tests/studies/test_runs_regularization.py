"""The runs of the dropout, noise and augmentation studies: what `plan` declares, and that `collect`
puts the runs' values back into the numbers `judge` reads (built here from the fake measurements)."""

from __future__ import annotations

import importlib
import json

from dlbasic.studies import LabContext, Measurements, Profile


def context(seeds: tuple[int, ...], profile: str = "quick") -> LabContext:
    return LabContext(Profile(profile, seeds, 1.0, None, "cpu"))


def check_runs(runs, fn: str) -> None:
    """Every run calls `fn`, has JSON arguments, a name of its own and a cost well under the longest allowed."""
    assert len({r.name for r in runs}) == len(runs)
    for run in runs:
        assert run.fn == fn and run.trains
        assert json.loads(json.dumps(run.args)) == run.args
        assert 0 < run.cost <= 12
    module, _, name = fn.partition(":")
    assert callable(getattr(importlib.import_module(module), name))


def cycled(values: list, n: int) -> list:
    """`values` repeated to length `n` (the fakes hold fewer seeds than some profiles have units)."""
    return [values[i % len(values)] for i in range(n)]


def collected(study, ctx, results) -> dict:
    m = study.collect(ctx, results)
    assert isinstance(m, Measurements) and len(m.figures) == 1
    return m.numbers
