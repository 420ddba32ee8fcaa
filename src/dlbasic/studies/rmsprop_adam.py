r"""Claim `rmsprop-adam`: RMSprop is used instead of Adadelta; Adam (momentum + adaptive lr) is the safe default.

The experiment it scales down: Sivaprasad et al., "Optimizer benchmarking needs to account for hyperparameter
tuning" (ICML 2020) and Schmidt, Schneider & Hennig, "Descending through a crowded valley" (ICML 2021): every
optimizer runs over the same *absolute* learning-rate grid (a grid relative to each optimizer's default
would only measure how well the defaults were chosen); an optimizer is easy to tune when a wide range of
rates gives near-best results, and a good default when its one-shot run at the default rate is near the best.

Measured per seed on one task, an MLP 64-64-10 on the 8x8 digits (or ``--data``), batch 32, 8 epochs, every
optimizer over the rates 10^(k/2) from 1e-4 to 100:

* the width of the good region: the length, in decades of lr, where the held-out accuracy (validation and
  test images together; linearly interpolated in log lr between grid points) is at least 98 % of the best
  accuracy of any optimizer and rate on that seed;
* the relative accuracy at the optimizer's default lr (accuracy / that best), and the rank of Adam's default
  among the optimizers' defaults.

To save runs, each optimizer's grid is walked from its default rate outward, in each direction until a cell
falls below the good level while still falling: under an accuracy curve with one peak no cell further out
can be good, so the widths are those of the full grid (a noisy second bump beyond such a cell would be missed).
When the walk finds no good cell, the optimizer's whole grid is run.

Scaled down: one small task, a short budget and three seeds stand in for Schmidt et al.'s eight problems and
their tuning budgets; nesterov, a variant of momentum, is left out to keep the grid affordable. "RMSprop is
used instead of Adadelta" is a statement about practice, not measurable here: RMSprop's and Adadelta's numbers
are reported beside the verdict, not judged.

Runs: stage 1 walks each (optimizer, seed) from its default rate against its own best cell only (`walk_cells`):
a lower level than the walk above, which uses the best of every optimizer so far, so it runs every cell that
walk runs, and more. The walk is then replayed on those cells (`replay`); where it needs the whole grid of an
optimizer, a further stage runs the rest of that grid (`grid_cells`). The numbers are the replay's.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from dlbasic.callbacks import Callback
from dlbasic.lab.registry import register_study
from dlbasic.lab.stats import decide
from dlbasic.lab.study import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Run, Study, Verdict, pm
from dlbasic.optim import default_lr
from dlbasic.studies.adagrad import conjunction
from dlbasic.studies.learning_rate import half_decades

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)

OPTIMIZERS = ("sgd", "momentum", "adagrad", "adadelta", "rmsprop", "adam")
GRID = half_decades(-8, 4)  # 1e-4 ... 100: every default lr, and room above Adadelta's (a multiplier)
EPOCHS = 8  # long enough for the best cells to level off (at 3 epochs accuracy still measured speed)
GOOD = 0.98  # a rate is good if its accuracy is at least 98 % of the seed's best
WIDTH_MARGIN = 0.5  # non-inferiority margin of the width: one grid step (half a decade)
DEFAULT_MARGIN = 0.02  # non-inferiority margin of the default's relative accuracy: the same 2 % as "good"


class StopOnDivergence(Callback):
    """Stops a run at its first non-finite training loss (its score is then the chance accuracy)."""

    def __init__(self):
        self.diverged = False

    def on_batch_end(self, trainer, logs: dict[str, float]) -> None:
        """Stop training (and set `diverged`) when the step's loss is not finite."""
        if not math.isfinite(logs["loss"]):
            self.diverged, trainer.stop_training = True, True


def held_out_accuracy(summary: dict) -> float:
    """Accuracy on the validation and test images together (all the held-out data; nothing is chosen on it)."""
    n_val, n_test = summary["val_images"], summary["test_images"]
    return (summary["val_accuracy"] * n_val + summary["test_accuracy"] * n_test) / (n_val + n_test)


class SeedScan:
    """The grid of one seed, run cell by cell on demand; `best` is the highest accuracy of any cell so far."""

    def __init__(self, run):
        self.run, self.best = run, 0.0
        self.cells: dict[tuple[str, int], float] = {}

    def cell(self, name: str, i: int) -> float:
        """Held-out accuracy of optimizer `name` at learning rate `GRID[i]` (run now, recorded in `cells`)."""
        a = self.cells[name, i] = self.run(name, GRID[i])
        self.best = max(self.best, a)
        return a

    def optimizer(self, name: str) -> None:
        """Walk the grid from the optimizer's default lr outward (see `walk`); if that finds no good cell (the
        default far from a good region, or a flat stretch at chance), run every cell of the grid."""
        walk(lambda i: self.cell(name, i), len(GRID), default_index(name), lambda: GOOD * self.best)
        if max(a for (n, _), a in self.cells.items() if n == name) < GOOD * self.best:
            for i in range(len(GRID)):
                if (name, i) not in self.cells:
                    self.cell(name, i)


def walk(evaluate, n: int, start: int, level) -> None:
    """Evaluate grid cells `start`, then outward in each direction, until a cell is below `level()` and no better
    than the cell before it (the accuracy is falling away from the peak below the good level: under a
    unimodal accuracy curve no cell further out can be good, so skipping them leaves every good region and
    its boundary cells measured). `evaluate(i)` returns cell i's accuracy."""
    first = evaluate(start)
    for step in (1, -1):
        previous, i = first, start + step
        while 0 <= i < n:
            a = evaluate(i)
            if a < level() and a <= previous:
                break
            previous, i = a, i + step


def good_width(log_lrs, accuracy, level: float) -> float:
    """Length of {x : acc(x) >= level} for acc linearly interpolated between the points (x_i, accuracy_i),
    x in decades of lr, sorted ascending; nothing is counted beyond the grid's ends; a cell that was not run
    (None) counts as below the level."""
    x = np.asarray(log_lrs, dtype=float)
    a = np.asarray([-np.inf if v is None else v for v in accuracy], dtype=float)  # not run: below any level
    lo, hi = a[:-1], a[1:]
    dx = np.diff(x)
    top, bottom = np.maximum(lo, hi), np.minimum(lo, hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(
            bottom >= level, 1.0, np.where(top < level, 0.0, (top - level) / np.where(top > bottom, top - bottom, 1.0))
        )
    return float((share * dx).sum())


def summarize(acc: dict[str, dict[str, list[float]]], n_seeds: int) -> dict[str, dict[str, list[float]]]:
    """Per optimizer and seed: the width of the good region (decades) and the relative accuracy at its default lr."""
    keys = sorted(next(iter(acc.values())), key=float)
    log_lrs = [math.log10(float(k)) for k in keys]
    out: dict[str, dict[str, list[float]]] = {name: {"width": [], "default": []} for name in acc}
    for i in range(n_seeds):
        best = max(acc[name][k][i] for name in acc for k in keys if acc[name][k][i] is not None)
        for name, per_lr in acc.items():
            out[name]["width"].append(good_width(log_lrs, [per_lr[k][i] for k in keys], GOOD * best))
            out[name]["default"].append(per_lr[f"{default_lr(name):.4g}"][i] / best)
    return out


def train_cell(ctx, name: str, lr: float, seed: int) -> tuple[float, bool]:
    """(held-out accuracy, diverged) of optimizer `name` at `lr` on `seed`; a diverged run scores the chance."""
    from dlbasic.training.run import load_data

    data = ctx.data(DATA)
    stop = StopOnDivergence()
    s = ctx.train(
        ctx.config(
            data=data,
            model="mlp",
            model_options={"hidden": [64]},
            optimizer=name,
            lr=lr,
            batch_size=32,
            seed=seed,
            epochs=ctx.profile.epochs(EPOCHS),
        ),
        callbacks=[stop],
    )
    if stop.diverged or not math.isfinite(s["val_loss"] if s["val_loss"] is not None else math.nan):
        return 1 / load_data(ctx.config(data=data, seed=ctx.seeds[0])).train.num_classes, True
    return held_out_accuracy(s), False


def walk_cells(ctx, optimizer: str, seed: int) -> dict:
    """`walk` for one optimizer on `seed` with the good level set by its own best cell so far (see the
    module docstring): its cells' accuracies by grid index."""
    out: dict = {"accuracy": {}, "diverged": []}
    best = [0.0]

    def evaluate(i: int) -> float:
        a, diverged = train_cell(ctx, optimizer, GRID[i], seed)
        out["accuracy"][str(i)], best[0] = a, max(best[0], a)
        if diverged:
            out["diverged"].append(i)
        return a

    walk(evaluate, len(GRID), default_index(optimizer), lambda: GOOD * best[0])
    return out


def grid_cells(ctx, optimizer: str, seed: int, indices: list[int]) -> dict:
    """The cells `indices` of one optimizer's grid on `seed` (the rest of a grid the walk did not cover)."""
    out: dict = {"accuracy": {}, "diverged": []}
    for i in indices:
        out["accuracy"][str(i)], diverged = train_cell(ctx, optimizer, GRID[i], seed)
        if diverged:
            out["diverged"].append(i)
    return out


def default_index(name: str) -> int:
    """The grid index of the optimizer's default learning rate."""
    return GRID.index(float(f"{default_lr(name):.4g}"))


class MissingCell(Exception):
    """The replay needs a cell no run has computed: (optimizer, grid index)."""


def replay(known: dict[str, dict]) -> SeedScan:
    """The scan of one seed (`SeedScan.optimizer` for each optimizer in turn) on cells already computed,
    `known[name]` = {"accuracy": {index: accuracy}, ...} merged over the runs; `MissingCell` when it needs
    another. The scan's `cells` are then the ones the sequential scan runs, in its order."""

    def look_up(name: str, lr: float) -> float:
        i = str(GRID.index(lr))
        if i not in known[name]["accuracy"]:
            raise MissingCell(name, int(i))
        return known[name]["accuracy"][i]

    scan = SeedScan(look_up)
    for name in OPTIMIZERS:
        scan.optimizer(name)
    return scan


WALK = "dlbasic.studies.rmsprop_adam:walk_cells"
GRID_CELLS = "dlbasic.studies.rmsprop_adam:grid_cells"
CELL_COST = 0.2  # seconds of one cell (one thread, quick profile)


def known_cells(results: dict[str, Any], name: str, seed: int) -> dict:
    """One optimizer's cells on `seed`, merged over its runs: {"accuracy": {index: acc}, "diverged": [index]}."""
    merged: dict = {"accuracy": {}, "diverged": []}
    for run in (f"{name} seed {seed}", f"{name} seed {seed} rest"):
        if run in results:
            merged["accuracy"].update(results[run]["accuracy"])
            merged["diverged"] += results[run]["diverged"]
    return merged


@register_study
class RmspropAdamStudy(Study):
    """Claim `rmsprop-adam`: RMSprop is used instead of Adadelta; Adam (momentum + adaptive lr) is the safe default."""

    id = "rmsprop-adam"
    trains_on = DATA
    section = "RMSprop, Adam"
    claim = "RMSprop is used instead of Adadelta; Adam (momentum + adaptive lr) is the safe default."
    note = (
        "RMSprop: Adadelta 대신 많이 사용됨. step size 추가. "
        "Adam: 가장 무난하게 사용. momentum과 adaptive learning rate를 합침."
    )
    literature = (
        "RMSprop: Hinton, Coursera lecture 6e (2012), unpublished; Adam: Kingma & Ba, arXiv 1412.6980. "
        "Sivaprasad et al. (ICML 2020) find Adam the easiest to tune over a prior of hyperparameters; "
        "Schmidt et al. (ICML 2021) find no optimizer dominating across tasks and Adam at its defaults a "
        "strong baseline. Wilson et al., arXiv 1705.08292, find tuned SGD/momentum often generalizes as "
        "well or better. Which optimizer people use is not measurable here."
    )
    method = (
        f"The MLP 64-64-10 (batch 32) trains {EPOCHS} epochs on the 8x8 digits (or --data) with each of "
        f"{', '.join(OPTIMIZERS)} over the absolute half-decade grid {', '.join(f'{x:g}' for x in GRID)}, for "
        "each seed (same split, initialization and data order for every cell); a run whose loss becomes "
        "non-finite stops and scores the chance accuracy. Each optimizer's grid is walked from its default "
        "lr (sgd 0.1, momentum/adagrad 0.01, adadelta 1, rmsprop/adam 0.001) outward, in each direction until "
        "a cell is below the good level and no better than the one before (the whole grid when that finds no "
        "good cell). Per seed, with best = the highest "
        f"held-out accuracy (validation + test images) of any cell: the good region's width is the length in "
        f"decades of lr where the accuracy (interpolated linearly in log lr) is >= {GOOD:g} x best; the "
        "default score is the accuracy at the optimizer's default lr / best."
    )
    rule = (
        f"Two paired non-inferiority t-tests (stats.decide) over seeds, each against the strongest rival (the "
        f"other optimizer with the highest mean of that measure): (a) width: Adam's width + {WIDTH_MARGIN:g} "
        f"decade against the rival's (Adam's good region at most one grid step narrower); (b) default: Adam's "
        f"default score + {DEFAULT_MARGIN:g} against the rival's. The claim 'safe default' needs both: "
        "supported if both are supported, contradicted if either is contradicted (the rival clearly beyond the "
        "margin), inconclusive otherwise. RMSprop vs Adadelta is reported, not judged."
    )

    def plan(self, ctx, results: dict[str, Any]) -> list[Run]:
        """Each optimizer's walk on each seed; then the rest of the grids the replayed scan needs."""
        walks = [
            Run(f"{name} seed {seed}", WALK, {"optimizer": name, "seed": seed}, 7 * CELL_COST)
            for seed in ctx.seeds
            for name in OPTIMIZERS
        ]
        if any(r.name not in results for r in walks):
            return walks
        runs = []
        for seed in ctx.seeds:
            known = {name: known_cells(results, name, seed) for name in OPTIMIZERS}
            try:
                replay(known)
            except MissingCell as e:
                best = max(a for k in known.values() for a in k["accuracy"].values())
                needed = {e.args[0]} | {
                    name for name in OPTIMIZERS if max(known[name]["accuracy"].values()) < GOOD * best
                }  # every optimizer that may fall back to its whole grid: one stage, as a rule
                for name in OPTIMIZERS:
                    rest = [i for i in range(len(GRID)) if str(i) not in known[name]["accuracy"]]
                    if name in needed and rest:
                        runs.append(
                            Run(
                                f"{name} seed {seed} rest",
                                GRID_CELLS,
                                {"optimizer": name, "seed": seed, "indices": rest},
                                len(rest) * CELL_COST,
                            )
                        )
        return runs

    def collect(self, ctx, results: dict[str, Any]) -> Measurements:
        """The numbers and the figure, from the scan replayed on the runs' cells."""
        from dlbasic.training.run import load_data

        data = ctx.data(DATA)
        chance = 1 / load_data(ctx.config(data=data, seed=ctx.seeds[0])).train.num_classes
        acc: dict[str, dict[str, list[float | None]]] = {n: {f"{lr:g}": [] for lr in GRID} for n in OPTIMIZERS}
        diverged: dict[str, list[str]] = {n: [] for n in OPTIMIZERS}
        for seed in ctx.seeds:
            known = {name: known_cells(results, name, seed) for name in OPTIMIZERS}
            scan = replay(known)
            for name, i in scan.cells:  # in the order the scan ran them
                if i in known[name]["diverged"]:
                    diverged[name].append(f"{GRID[i]:g} (seed {seed})")
            for name in OPTIMIZERS:
                for i, lr in enumerate(GRID):
                    acc[name][f"{lr:g}"].append(scan.cells.get((name, i)))
        scores = summarize(acc, len(ctx.seeds))
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4))
        for name in OPTIMIZERS:
            points = [
                (lr, float(np.mean([x for x in acc[name][f"{lr:g}"] if x is not None])))
                for lr in GRID
                if any(x is not None for x in acc[name][f"{lr:g}"])
            ]
            ax.plot(*zip(*points, strict=True), marker="o", label=name, lw=2.5 if name == "adam" else 1.2)
            ax.plot([default_lr(name)], [float(np.mean(acc[name][f"{default_lr(name):.4g}"]))], "k*", ms=9)
        ax.set(
            xscale="log",
            xlabel="learning rate (absolute)",
            ylabel="held-out accuracy (mean over seeds run)",
            title=f"{EPOCHS} epochs; *: each optimizer's default lr",
        )
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        widths = [scores[n]["width"] for n in OPTIMIZERS]
        ax2.bar(
            OPTIMIZERS,
            [float(np.mean(w)) for w in widths],
            yerr=[float(np.std(w)) for w in widths],
            capsize=3,
            color=["C1" if n == "adam" else "C0" for n in OPTIMIZERS],
        )
        ax2.set(ylabel=f"good-region width (decades, acc >= {GOOD:g} x best)", title="robustness to the lr choice")
        fig.tight_layout()
        return Measurements(
            {"data": data, "chance": chance, "held_out_accuracy": acc, "diverged": diverged, "scores": scores},
            [
                (
                    "Held-out accuracy over an absolute lr grid (left; cells not run lie beyond a cell "
                    "below the good level) and the width of each optimizer's good region (right)",
                    fig,
                )
            ],
            list(ctx.seeds),
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        scores = m["scores"]
        rivals = [n for n in scores if n != "adam"]
        adam = scores["adam"]
        w_rival = max(rivals, key=lambda n: float(np.mean(scores[n]["width"])))
        d_rival = max(rivals, key=lambda n: float(np.mean(scores[n]["default"])))
        decisions = {
            f"width, Adam + {WIDTH_MARGIN:g} vs {w_rival}": decide(
                [w + WIDTH_MARGIN for w in adam["width"]], scores[w_rival]["width"]
            ),
            f"default, Adam + {DEFAULT_MARGIN:g} vs {d_rival}": decide(
                [x + DEFAULT_MARGIN for x in adam["default"]], scores[d_rival]["default"]
            ),
        }
        n = len(adam["width"])
        ranks = [1 + sum(scores[o]["default"][i] > adam["default"][i] for o in rivals) for i in range(n)]
        key = (
            f"good-region width (decades): Adam {pm(adam['width'], 2)} vs {w_rival} "
            f"{pm(scores[w_rival]['width'], 2)}; "
            f"accuracy at the default lr / best: Adam {pm(adam['default'])} vs {d_rival} "
            f"{pm(scores[d_rival]['default'])}; Adam's default ranks {', '.join(map(str, ranks))} of {len(scores)}"
        )
        if "rmsprop" in scores and "adadelta" in scores:  # reported beside the verdict, not judged
            key += (
                f"; RMSprop/Adadelta width {pm(scores['rmsprop']['width'], 2)} / {pm(scores['adadelta']['width'], 2)}"
            )
        verdict = conjunction(decisions)
        parts = ", ".join(f"{k}: {d.verdict}" for k, d in decisions.items())
        reason = {
            SUPPORTED: "Adam's good lr region is about as wide as any rival's and its default lr is about as "
            "good as the best default: a safe default",
            CONTRADICTED: f"a rival is clearly safer than Adam ({parts})",
            INCONCLUSIVE: f"non-inferiority not shown either way ({parts})",
        }[verdict]
        return Verdict(verdict, key, reason, "; ".join(f"{k}: {d}" for k, d in decisions.items()))
