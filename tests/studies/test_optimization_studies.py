"""The measuring helpers of the optimizer studies (learning-rate, gd-variants, momentum), against literal
references (torch.optim, single trajectories, loops, formulas)."""

from __future__ import annotations

import math

import pytest
import torch

from dlbasic.optim.landscapes import get_landscape, trajectory
from dlbasic.studies import learning_rate as lr_study
from dlbasic.studies.learning_rate import half_decades, outward, tune_lr
from dlbasic.studies.momentum import landscape_steps, random_starts
from dlbasic.studies.nesterov import first_hit


def test_first_hit_of_a_threshold() -> None:
    assert first_hit([5.0, 3.0, 1.0, 0.5, 2.0], 1.0) == 2
    assert first_hit([5.0, math.nan, math.inf, 0.1], 1.0) == 3
    assert first_hit([5.0, 3.0], 1.0) is None


def test_half_decades_and_outward_order() -> None:
    assert half_decades(-2, 1) == (0.1, 0.3162, 1.0, 3.162)
    assert outward((0.01, 0.1, 1.0, 10.0), 0.1) == [0.1, 1.0, 0.01, 10.0]
    assert outward((0.01, 0.1, 1.0), 5.0) == [1.0, 0.1, 0.01]  # nearest in log scale, then down


def test_random_starts_lie_in_the_box_and_follow_the_seed() -> None:
    (x0, x1), (y0, y1) = get_landscape("rosenbrock").bounds
    s = random_starts("rosenbrock", 50, 3)
    assert s.shape == (50, 2) and s.dtype == torch.float64
    assert (s[:, 0] >= x0).all() and (s[:, 0] <= x1).all() and (s[:, 1] >= y0).all() and (s[:, 1] <= y1).all()
    torch.testing.assert_close(s, random_starts("rosenbrock", 50, 3))
    assert not torch.equal(s, random_starts("rosenbrock", 50, 4))


def _flips_loop(path: torch.Tensor, minimum: torch.Tensor, until: int) -> int:
    signs = torch.sign(path - minimum)
    return sum(int(((signs[t] * signs[t - 1]) < 0).sum()) for t in range(1, until + 1))


@pytest.mark.parametrize(
    "name, land, threshold",
    [("sgd", "quadratic", 0.1), ("momentum", "quadratic", 1e-3), ("nesterov", "rosenbrock", 0.1)],
)
def test_landscape_steps_match_single_trajectories(name: str, land: str, threshold: float) -> None:
    """Every (lr, start) cell of the vectorized run equals the run of that start alone, step for step."""
    starts = random_starts(land, 3, 0)
    lrs = (1e-3, 1e-2)
    cap = 200
    r = landscape_steps(name, land, starts, lrs, threshold, cap)
    minimum = torch.tensor(get_landscape(land).minima[0], dtype=torch.float64)
    reached = set()
    for i, lr in enumerate(lrs):
        for j, s in enumerate(starts):
            path, losses = trajectory(name, land, tuple(s.tolist()), steps=cap, lr=lr)
            hit = first_hit(losses.tolist(), threshold)
            assert int(r["steps"][i, j]) == (cap + 1 if hit is None else hit)
            assert int(r["flips"][i, j]) == _flips_loop(path, minimum, cap if hit is None else hit)
            reached.add(hit is not None)
    assert r["trace"].shape[0] == len(lrs)
    assert reached == {True, False} or name == "nesterov"  # both branches are checked


def test_tune_lr_prunes_exactly_and_skips_diverged(monkeypatch) -> None:
    hits = {0.1: 50, 1.0: 30, 0.01: None}
    calls = []

    def fake(ctx, cfg, max_steps, *, every=1, threshold=None, size=None):
        calls.append((cfg, max_steps, every))
        hit = hits[cfg] if threshold is not None else None
        final = {0.1: 0.5, 1.0: math.inf if threshold is None else 0.1, 0.01: 0.7}[cfg]
        return {
            "hit": hit if hit is not None and hit <= max_steps else None,
            "diverged": not math.isfinite(final),
            "final": final,
            "losses": [2.3, final],
            "steps": [0, max_steps],
        }

    monkeypatch.setattr(lr_study, "probe_run", fake)
    best, records = tune_lr(None, lambda lr: lr, (0.01, 0.1, 1.0), 100, threshold=0.2, start=0.1, every=4)
    assert best == 1.0 and list(records) == ["0.01", "0.1", "1"]
    assert [(c, cap) for c, cap, _ in calls] == [(0.1, 100), (1.0, 50), (0.01, 30)]  # each capped at the best so far
    calls.clear()
    best, _ = tune_lr(None, lambda lr: lr, (0.01, 0.1, 1.0), 100)  # final-loss mode: lr 1 diverged
    assert best == 0.1 and all(cap == 100 and every == 100 for _, cap, every in calls)
