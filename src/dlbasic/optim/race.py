"""An optimizer race on a 2-D landscape: every optimizer from the same start, each at its own best learning rate.

For each optimizer a small learning-rate grid is run (all grid points at once: one parameter and one
param group per learning rate, so one `step()` moves them all and their states stay separate), the
learning rate with the lowest final loss is kept, and the winners' paths are drawn over the contours
(PNG) and animated (GIF). The idea of the picture is Sebastian Ruder's "An overview of gradient descent
optimization algorithms" (arXiv 1609.04747), figure 4.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dlbasic.errors import check
from dlbasic.optim.factory import optimizers
from dlbasic.optim.landscapes import Landscape, get_landscape, lr_grid_optimizer

DEFAULT_LRS = tuple(10.0 ** (k / 2) for k in range(-8, 3))  # 1e-4 ... 10, half-decade steps


def grid_trajectories(
    name: str,
    landscape: str | Landscape,
    lrs: Sequence[float],
    start: tuple[float, float] | None = None,
    steps: int = 200,
    **hp: float,
) -> tuple[Tensor, Tensor]:
    """Run optimizer `name` once per learning rate, all in one optimizer with one param group per lr.

    Equal, point for point, to `trajectory(name, landscape, start, steps, lr=lr, **hp)` for each lr.

    Returns:
        paths: Tensor[L, steps + 1, 2], float64, the points visited per learning rate.
        losses: Tensor[L, steps + 1], f at each point (non-finite once a run diverges).
    """
    ls = get_landscape(landscape) if isinstance(landscape, str) else landscape
    check(len(lrs) > 0 and all(lr > 0 for lr in lrs), f"learning rates must be positive, got {list(lrs)}")
    origin = ls.start if start is None else start
    points, opt = lr_grid_optimizer(name, torch.tensor(origin, dtype=torch.float64), lrs, **hp)
    paths, losses = [torch.stack([p.detach().clone() for p in points])], []  # each (L, 2)
    for _ in range(steps):
        opt.zero_grad()
        values = torch.stack([ls(p[0], p[1]) for p in points])  # (L,)
        values.sum().backward()  # each point's gradient depends on its own term only
        opt.step()
        losses.append(values.detach())
        paths.append(torch.stack([p.detach().clone() for p in points]))
    with torch.no_grad():
        losses.append(torch.stack([ls(p[0], p[1]) for p in points]))
    return torch.stack(paths, 1), torch.stack(losses, 1)


def _score(loss: float) -> float:
    return loss if math.isfinite(loss) else math.inf


@dataclass
class Racer:
    """One optimizer's result: the learning rate chosen and its path."""

    name: str
    lr: float
    final_loss: float
    path: np.ndarray  # (steps + 1, 2)
    losses: np.ndarray  # (steps + 1,)
    grid: dict[float, float] = field(default_factory=dict)  # lr -> final loss


@dataclass
class RaceResult:
    """The result of `race`: the landscape, the shared start and number of steps, and each optimizer's `Racer`."""

    landscape: Landscape
    start: tuple[float, float]
    steps: int
    racers: list[Racer]

    def to_dict(self) -> dict:
        """Plain JSON (a diverged run's loss is null)."""

        def num(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {
            "landscape": self.landscape.name,
            "start": list(self.start),
            "steps": self.steps,
            "optimizers": [
                {
                    "name": r.name,
                    "lr": r.lr,
                    "final_loss": num(r.final_loss),
                    "grid": {f"{lr:g}": num(loss) for lr, loss in r.grid.items()},
                }
                for r in self.racers
            ],
        }


def race(
    landscape: str | Landscape,
    names: Sequence[str],
    steps: int = 300,
    lrs: Sequence[float] = DEFAULT_LRS,
    start: tuple[float, float] | None = None,
) -> RaceResult:
    """Tune each optimizer's learning rate on `lrs` (lowest final loss wins; ties go to the smaller lr)."""
    ls = get_landscape(landscape) if isinstance(landscape, str) else landscape
    for n in names:
        optimizers.get(n)  # unknown names fail before any work
    origin = ls.start if start is None else tuple(start)
    racers = []
    for n in names:
        paths, losses = grid_trajectories(n, ls, lrs, origin, steps)
        finals = [_score(x) for x in losses[:, -1].tolist()]
        best = min(range(len(lrs)), key=lambda i: (finals[i], lrs[i]))
        racers.append(
            Racer(
                n,
                float(lrs[best]),
                finals[best],
                paths[best].numpy(),
                losses[best].numpy(),
                dict(zip(map(float, lrs), finals, strict=True)),
            )
        )
    return RaceResult(ls, origin, steps, racers)


def race_table(result: RaceResult) -> str:
    """A markdown table: optimizer, chosen lr, final loss, distance to the nearest minimum."""
    rows = ["| optimizer | lr (grid search) | final loss | distance to nearest minimum |", "|---|---|---|---|"]
    for r in result.racers:
        end = r.path[-1]
        dist = min((math.dist(end, m) for m in result.landscape.minima), default=math.nan)
        rows.append(f"| {r.name} | {r.lr:g} | {r.final_loss:.3g} | {dist:.3g} |")
    return "\n".join(rows)


def _contours(ax, ls: Landscape, n: int = 200) -> None:
    (x0, x1), (y0, y1) = ls.bounds
    gx, gy = torch.meshgrid(
        torch.linspace(x0, x1, n, dtype=torch.float64), torch.linspace(y0, y1, n, dtype=torch.float64), indexing="xy"
    )
    z = ls(gx, gy).numpy()  # (n, n)
    if z.min() >= 0:  # log-spaced levels show both the valley floor and the walls
        levels = np.geomspace(max(z.min(), 1e-3), z.max(), 30)
    else:
        levels = np.linspace(z.min(), z.max(), 30)
    ax.contour(gx.numpy(), gy.numpy(), z, levels=levels, cmap="Greys", linewidths=0.6, alpha=0.8)
    for m in ls.minima:
        ax.plot(*m, marker="*", color="gold", markeredgecolor="black", markersize=14, zorder=5)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def _finite(a: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(a), a, np.nan)


def plot_race(result: RaceResult):
    """Contours with every path (left) and loss against step (right); returns a matplotlib Figure."""
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5))
    _contours(ax, result.landscape)
    for r in result.racers:
        ax.plot(*_finite(r.path).T, lw=1.5, label=f"{r.name} (lr {r.lr:g})")
    ax.plot(*result.start, "ko", label="start")
    ax.set_title(f"{result.landscape.name}: paths from the same start, {result.steps} steps")
    ax.legend(fontsize=7, loc="best")
    for r in result.racers:
        ax2.plot(np.maximum(_finite(r.losses), 1e-12), label=r.name)
    ax2.set_yscale("log")
    ax2.set_xlabel("step")
    ax2.set_ylabel("loss f(x, y)")
    ax2.set_title("loss against step")
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def animate_race(result: RaceResult, path: str | Path, frames: int = 60, fps: int = 15) -> Path:
    """Write an animated GIF of the paths growing step by step (matplotlib's Pillow writer)."""
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter

    fig, ax = plt.subplots(figsize=(6, 5))
    _contours(ax, result.landscape, n=120)
    lines = [ax.plot([], [], lw=1.5, label=r.name)[0] for r in result.racers]
    heads = [ax.plot([], [], "o", color=line.get_color(), markersize=4)[0] for line in lines]
    ax.legend(fontsize=7, loc="best")
    title = ax.set_title("")
    ends = np.unique(np.linspace(1, result.steps + 1, max(2, frames)).astype(int))

    def draw(i: int) -> list:
        end = int(ends[i])
        for r, line, head in zip(result.racers, lines, heads, strict=True):
            xy = _finite(r.path[:end])
            line.set_data(xy[:, 0], xy[:, 1])
            head.set_data(xy[-1:, 0], xy[-1:, 1])
        title.set_text(f"{result.landscape.name}: step {end - 1}")
        return [*lines, *heads, title]

    anim = FuncAnimation(fig, draw, frames=len(ends), blit=False)
    path = Path(path)
    anim.save(path, writer=PillowWriter(fps=fps))
    plt.close(fig)
    return path


def write_race(result: RaceResult, out: str | Path, gif: bool = True, frames: int = 60) -> list[Path]:
    """race.png, race.gif, race.md (the table) and race.json (every grid point) in `out`."""
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig = plot_race(result)
    fig.savefig(out / "race.png", dpi=110)
    plt.close(fig)
    written = [out / "race.png"]
    if gif:
        written.append(animate_race(result, out / "race.gif", frames=frames))
    (out / "race.md").write_text(race_table(result) + "\n")
    (out / "race.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return [*written, out / "race.md", out / "race.json"]
