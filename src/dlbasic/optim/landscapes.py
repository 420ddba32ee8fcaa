"""Two-dimensional test functions and the path an optimizer takes on them.

Functions from the optimization test-function collection (Surjanovic and Bingham,
https://www.sfu.ca/~ssurjano/optimization.html) plus an ill-conditioned quadratic and a saddle,
the cases that separate plain gradient descent from momentum and adaptive methods.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from dlbasic.errors import UserError, did_you_mean
from dlbasic.optim.factory import create_optimizer


@dataclass(frozen=True)
class Landscape:
    """A function of (x, y) with where to start and what to draw.

    Attributes:
        fn: f(x, y), elementwise on tensors of any (equal) shape.
        start: the usual starting point.
        minima: the global minima (empty for the saddle, which has none).
        bounds: ((x_min, x_max), (y_min, y_max)) for plots.
    """

    name: str
    fn: Callable[[Tensor, Tensor], Tensor]
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    bounds: tuple[tuple[float, float], tuple[float, float]]

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        return self.fn(x, y)


def rosenbrock(x: Tensor, y: Tensor) -> Tensor:
    """(1 - x)^2 + 100 (y - x^2)^2: a curved, flat-bottomed valley; minimum 0 at (1, 1)."""
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def beale(x: Tensor, y: Tensor) -> Tensor:
    """Beale's function: sharp ridges and flat plateaus; minimum 0 at (3, 0.5)."""
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def himmelblau(x: Tensor, y: Tensor) -> Tensor:
    """(x^2 + y - 11)^2 + (x + y^2 - 7)^2: four minima of value 0; the start decides which one."""
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def quadratic(x: Tensor, y: Tensor) -> Tensor:
    """(x^2 + 100 y^2) / 2: condition number 100, so gradient descent zig-zags across the y axis."""
    return 0.5 * (x**2 + 100 * y**2)


def saddle(x: Tensor, y: Tensor) -> Tensor:
    """x^2 - y^2: a saddle at the origin; starting almost on the x axis tests the escape along y."""
    return x**2 - y**2


LANDSCAPES: dict[str, Landscape] = {
    ls.name: ls
    for ls in [
        Landscape("rosenbrock", rosenbrock, (-1.5, 2.0), ((1.0, 1.0),), ((-2.0, 2.0), (-1.0, 3.0))),
        Landscape("beale", beale, (1.0, 1.5), ((3.0, 0.5),), ((-4.5, 4.5), (-4.5, 4.5))),
        Landscape(
            "himmelblau",
            himmelblau,
            (0.0, 0.0),
            ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)),
            ((-5.0, 5.0), (-5.0, 5.0)),
        ),
        Landscape("quadratic", quadratic, (-4.0, 1.0), ((0.0, 0.0),), ((-5.0, 5.0), (-1.5, 1.5))),
        Landscape("saddle", saddle, (-1.0, 1e-3), (), ((-1.5, 1.5), (-1.5, 1.5))),
    ]
}


def list_landscapes() -> list[str]:
    """The landscape names, sorted."""
    return sorted(LANDSCAPES)


def get_landscape(name: str) -> Landscape:
    """The landscape called `name`; a UserError with the closest names otherwise."""
    try:
        return LANDSCAPES[name]
    except KeyError:
        raise UserError(f"unknown landscape {name!r}", did_you_mean(name, LANDSCAPES)) from None


def trajectory(
    name: str, landscape: str | Landscape, start: tuple[float, float] | None = None, steps: int = 200, **hp: float
) -> tuple[Tensor, Tensor]:
    """Run optimizer `name` (a `create_optimizer` name) on a landscape from `start`.

    Args:
        name: optimizer name, e.g. "adam".
        landscape: a name from `list_landscapes()` or a `Landscape`.
        start: starting point; the landscape's usual start when None.
        steps: number of optimizer steps.
        hp: optimizer hyperparameters (`lr=...`, `momentum=...`).

    Returns:
        path: Tensor[steps + 1, 2], the points visited, float64, starting with `start`.
        losses: Tensor[steps + 1], f at each point (non-finite once the run diverges).
    """
    ls = get_landscape(landscape) if isinstance(landscape, str) else landscape
    point = torch.tensor(ls.start if start is None else start, dtype=torch.float64, requires_grad=True)
    opt = create_optimizer(name, [point], **hp)
    path, losses = [point.detach().clone()], []
    for _ in range(steps):
        opt.zero_grad()
        loss = ls(point[0], point[1])
        loss.backward()
        opt.step()
        losses.append(loss.detach())
        path.append(point.detach().clone())
    with torch.no_grad():
        losses.append(ls(point[0], point[1]))
    return torch.stack(path), torch.stack(losses)


def lr_grid_optimizer(
    name: str, start: Tensor, lrs: Sequence[float], **hp: float
) -> tuple[list[Tensor], torch.optim.Optimizer]:
    """A copy of `start` per learning rate, all in one optimizer `name` with one param group per lr.

    One `step()` moves every copy by its own lr, and their states stay apart; where the optimizer acts
    elementwise, each element of each copy follows the path it would follow alone (a grid of runs at once).

    Returns:
        points: one leaf Tensor per lr, shaped and typed like `start`.
        optimizer: the `create_optimizer(name, ...)` over them, with `hp` for every group.
    """
    points = [start.detach().clone().requires_grad_(True) for _ in lrs]
    return points, create_optimizer(name, [{"params": [p], "lr": lr} for p, lr in zip(points, lrs, strict=True)], **hp)
