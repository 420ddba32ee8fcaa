"""The measuring helpers of the optimizer studies, against literal references (torch.optim, loops, formulas)."""

from __future__ import annotations

import math

import pytest
import torch

from dlbasic.optim import create_optimizer
from dlbasic.optim.landscapes import trajectory
from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED
from dlbasic.studies.adagrad import effective_steps
from dlbasic.studies.momentum import ratio_verdict, steps_to
from dlbasic.studies.nesterov import overshoot, paths_from, settle_step


def test_steps_to_threshold() -> None:
    assert steps_to([5.0, 3.0, 1.0, 0.5, 2.0], 1.0) == 2
    assert steps_to([5.0, math.nan, math.inf, 0.1], 1.0) == 3
    assert steps_to([5.0, 3.0], 1.0) is None


def test_ratio_verdict_margins() -> None:
    assert ratio_verdict(89, 100) == SUPPORTED
    assert ratio_verdict(95, 100) == INCONCLUSIVE
    assert ratio_verdict(111, 100) == CONTRADICTED


@pytest.mark.parametrize("name", ["momentum", "nesterov"])
def test_paths_from_many_starts_equal_single_trajectories(name: str) -> None:
    starts = torch.tensor([[-1.5, 2.0], [0.0, 0.5], [1.2, 0.8]])
    paths = paths_from(name, "rosenbrock", starts, 1e-3, 40)
    for s, p in zip(starts, paths, strict=True):
        ref, _ = trajectory(name, "rosenbrock", tuple(s.tolist()), steps=40, lr=1e-3)
        torch.testing.assert_close(p, ref, rtol=1e-12, atol=1e-12)


def _settle_loop(dist: list[float], radius: float) -> int:
    for t in range(len(dist)):
        if all(d <= radius for d in dist[t:]):
            return t
    return len(dist)


@pytest.mark.parametrize("dist", [[3.0, 2.0, 0.5, 0.05, 0.2, 0.01, 0.001], [3.0, 0.001, 0.002], [0.0, 0.0],
                                  [1.0, 0.001, 2.0], [1.0, math.nan, 0.001]])
def test_settle_step_matches_a_literal_loop(dist: list[float]) -> None:
    expected = _settle_loop([d if math.isfinite(d) else math.inf for d in dist], 0.01)
    assert settle_step(torch.tensor(dist), 0.01) == expected


def test_overshoot_counts_sign_changes_and_the_swing_back() -> None:
    path = torch.tensor([[-4.0, 1.0], [-0.3, -0.5], [0.2, 0.3], [1.0, -0.2], [0.01, 0.0]], dtype=torch.float64)
    flips, amplitude = overshoot(path, torch.zeros(2, dtype=torch.float64))
    # x: - - + + +  -> 1 change; y: + - + - 0 -> 3 changes (a zero is not a sign change)
    assert flips == 4
    d0 = math.hypot(4.0, 1.0)
    first_near = next(i for i, p in enumerate(path.tolist()) if math.hypot(*p) <= 0.1 * d0)
    assert first_near == 2
    assert amplitude == pytest.approx(max(math.hypot(*p) for p in path[2:].tolist()) / d0)
    assert overshoot(path[:2], torch.zeros(2, dtype=torch.float64))[1] is None


@pytest.mark.parametrize("name, cls, kw", [
    ("adagrad", torch.optim.Adagrad, {"lr": 0.01}),
    ("rmsprop", torch.optim.RMSprop, {"lr": 1e-3}),
    ("adadelta", torch.optim.Adadelta, {"lr": 1.0}),
])
def test_effective_step_is_the_step_torch_takes(name: str, cls, kw: dict) -> None:
    """After a warm-up, the next update of a parameter equals effective_step * (its gradient transform)."""
    torch.manual_seed(0)
    w = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    ref = w.detach().clone().requires_grad_(True)
    ours, theirs = create_optimizer(name, [w], **kw), cls([ref], **kw)
    for _ in range(3):
        g = torch.randn(5, 4, dtype=torch.float64)
        for p, opt in ((w, ours), (ref, theirs)):
            p.grad = g.clone()
            opt.step()
    g = torch.randn(5, 4, dtype=torch.float64)
    before = ref.detach().clone()
    ref.grad = g.clone()
    theirs.step()
    w.grad = g.clone()
    ours.step()
    state = theirs.state[ref]  # after the step, as the study's callback reads it
    if name == "adagrad":  # the step just taken was exactly effective_step * g
        expected = 0.01 / (state["sum"].sqrt() + 1e-10)
        torch.testing.assert_close(before - ref.detach(), expected * g, rtol=1e-10, atol=1e-14)
    elif name == "rmsprop":
        expected = 1e-3 / (state["square_avg"].sqrt() + 1e-8)
        torch.testing.assert_close(before - ref.detach(), expected * g, rtol=1e-10, atol=1e-14)
    else:  # Zeiler's RMS[dx] lags one step: the numerator already holds the update just made
        expected = (state["acc_delta"] + 1e-6).sqrt() / (state["square_avg"] + 1e-6).sqrt()
    torch.testing.assert_close(effective_steps(ours, w), expected, rtol=1e-10, atol=1e-14)
