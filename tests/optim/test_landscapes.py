"""Landscapes: known minima, and trajectories that behave as the theory says."""

from __future__ import annotations

import pytest
import torch

from dlbasic.errors import UserError
from dlbasic.optim.landscapes import LANDSCAPES, get_landscape, list_landscapes, trajectory


def test_names() -> None:
    assert list_landscapes() == ["beale", "himmelblau", "quadratic", "rosenbrock", "saddle"]


@pytest.mark.parametrize("name", sorted(LANDSCAPES))
def test_minima_are_zero_with_zero_gradient(name: str) -> None:
    ls = get_landscape(name)
    for mx, my in ls.minima:
        x = torch.tensor(mx, dtype=torch.float64, requires_grad=True)
        y = torch.tensor(my, dtype=torch.float64, requires_grad=True)
        value = ls(x, y)
        value.backward()
        assert abs(value.item()) < 1e-9
        assert abs(x.grad.item()) < 1e-4 and abs(y.grad.item()) < 1e-4


def test_trajectory_shapes_and_first_point() -> None:
    path, losses = trajectory("adam", "rosenbrock", steps=25, lr=0.05)
    assert path.shape == (26, 2) and losses.shape == (26,)
    assert path[0].tolist() == [-1.5, 2.0]
    assert losses[0].item() == pytest.approx((1 + 1.5) ** 2 + 100 * (2 - 2.25) ** 2)
    assert losses[-1] < losses[0]


def test_momentum_beats_gradient_descent_on_the_ill_conditioned_quadratic() -> None:
    """Same stable lr (below 2/100): heavy-ball momentum reaches the minimum far sooner."""
    _, gd = trajectory("sgd", "quadratic", steps=100, lr=0.015)
    _, mom = trajectory("momentum", "quadratic", steps=100, lr=0.015, momentum=0.9)
    assert mom[-1] < 1e-3 < gd[-1]


def test_gradient_descent_escapes_the_saddle_along_y() -> None:
    path, losses = trajectory("sgd", "saddle", steps=60, lr=0.1)
    assert abs(path[-1, 0].item()) < 1e-3  # x is pulled to 0
    assert abs(path[-1, 1].item()) > 1.0  # y grows geometrically from 1e-3
    assert losses[-1] < 0


def test_adam_reaches_a_himmelblau_minimum() -> None:
    path, _ = trajectory("adam", "himmelblau", steps=400, lr=0.1)
    nearest = min(
        torch.dist(path[-1], torch.tensor(m, dtype=torch.float64)).item() for m in get_landscape("himmelblau").minima
    )
    assert nearest < 1e-2


def test_unknown_landscape_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown landscape 'rosenbrok'"):
        trajectory("sgd", "rosenbrok")
