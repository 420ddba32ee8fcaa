r"""Claim `learning-rate`: choosing the learning rate well matters.

The experiment it scales down: the learning-rate sensitivity curve of Bengio, "Practical recommendations for
gradient-based training of deep architectures" (2012, §3.1.1: "the learning rate is often the single most
important hyper-parameter"; search it on a log scale) and the lr sweeps of Goodfellow, Bengio & Courville,
*Deep Learning* (2016, §11.4.1, Fig. 11.1: training error against lr is U-shaped). The final training loss
is read over a log grid of learning rates, long enough for the best rate to converge; rates that diverge are
counted and reported apart (a grid with diverging rates would make "it matters" true by construction), and
the judged comparisons are at the best *stable* rate lr* against the rates one decade either side, which any
sensible search would also have tried (CLAIMS.md v0.3: final training loss, ratio margin 10 %). When 10 lr*
diverges (plain SGD's best rate sits near the edge of stability) that side is reported, not judged.

Scaled down: plain SGD on the 8x8 digits (or ``--data``), an MLP 64-64-10, batch 32, 10 epochs (long enough
for lr* to reach a training loss near 0.01); the grid is run once on a tuning seed (so lr* is not picked on
the seeds that judge it), then lr*, lr*/10 and (when stable) 10 lr* are run on paired seeds (same split,
initialization and data order), 3 seeds at the first look and 6 at the second when undecided. The final loss
is the training-set loss of the final weights, in eval mode (a deterministic function of the run).

Runs: the grid on the tuning seed, one run per rate; then each judged rate on each seed of a look. The runs
are `final_loss` runs, which gd-variants declares alike: its batch-32 tuning runs are this grid.

The helpers here (`LossProbe`, `probe_run`, `tune_lr`, `HALF_DECADES`) are shared by the gradient-descent
studies (gd-variants, momentum, nesterov): they count steps, never seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from dlbasic.callbacks import Callback
from dlbasic.lab.registry import register_study
from dlbasic.lab.study import (
    CONTRADICTED,
    SUPPORTED,
    Measurements,
    Run,
    Study,
    Verdict,
    fmt,
    not_run,
    unit_seeds,
)
from dlbasic.lab.verdicts import RATIO, looks, part, verdict

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)


def half_decades(low: int, high: int) -> tuple[float, ...]:
    """The learning rates 10^(k/2) for k = low..high: a log grid in half-decade steps (1e-3, 3.16e-3, 1e-2, ...)."""
    return tuple(float(f"{10 ** (k / 2):.4g}") for k in range(low, high + 1))


HALF_DECADES = half_decades(-8, 3)  # 1e-4 ... 31.6


class LossProbe(Callback):
    """The training loss on a fixed probe of training images, every `every` optimizer steps, in eval mode.

    The probe is `size` training images drawn by the run's seed (all of them when `size` is None), so two
    runs of the same seed are probed on the same images. The run stops after `max_steps` steps, at the first
    probe at or below `threshold`, or at the first non-finite loss (`diverged`). `steps[i]` and `losses[i]`
    are the probe points (step 0 is the initialization); `hit` is the first step at or below the threshold.
    """

    def __init__(self, max_steps: int, every: int = 1, threshold: float | None = None, size: int | None = 1024):
        self.max_steps, self.every, self.threshold, self.size = max_steps, every, threshold, size
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.hit: int | None = None
        self.diverged = False

    def on_fit_start(self, trainer) -> None:
        """Draw the probe images (by the run's seed) and record the loss at the initialization (step 0)."""
        data = trainer.train_data
        n = len(data) if self.size is None else min(self.size, len(data))
        idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(trainer.seed))[:n].sort().values
        x, self.y = data.batch(idx)
        self.x = ((x - trainer.mean.cpu()) / trainer.std.cpu()).to(trainer.device)
        self.y = self.y.to(trainer.device)
        self._probe(trainer, 0)

    @torch.no_grad()
    def _probe(self, trainer, step: int) -> None:
        trainer.model.eval()
        loss = float(
            torch.cat(
                [
                    F.cross_entropy(trainer.model(xb), yb, reduction="none")
                    for xb, yb in zip(self.x.split(1024), self.y.split(1024), strict=True)
                ]
            ).mean()
        )
        trainer.model.train()
        self._record(trainer, step, loss)

    def _record(self, trainer, step: int, loss: float) -> None:
        self.steps.append(step)
        self.losses.append(loss if math.isfinite(loss) else math.inf)
        if not math.isfinite(loss):
            self.diverged, trainer.stop_training = True, True
        elif self.threshold is not None and loss <= self.threshold and self.hit is None:
            self.hit, trainer.stop_training = step, True
        if step >= self.max_steps:
            trainer.stop_training = True

    def on_batch_end(self, trainer, logs: dict[str, float]) -> None:
        """Probe every `every` steps and at `max_steps`; a non-finite training loss ends the run as diverged."""
        step = trainer.global_step
        if not math.isfinite(logs["loss"]):
            self._record(trainer, step, math.inf)
        elif step % self.every == 0 or step >= self.max_steps:
            self._probe(trainer, step)


def train_size(ctx, cfg) -> int:
    """The number of training images of `cfg` (its data, split and subset)."""
    from dlbasic.training.run import load_data

    return len(load_data(cfg).train)


def probe_run(
    ctx, cfg, max_steps: int, *, every: int = 1, threshold: float | None = None, size: int | None = 1024
) -> dict[str, Any]:
    """Train `cfg` for at most `max_steps` optimizer steps under a `LossProbe`; returns its record.

    {"steps", "losses": the probe points; "hit": first step at or below `threshold` (None if never);
    "diverged": a non-finite loss was met; "final": the last probe loss (inf if diverged); "max_steps"}.
    The lab's run cache keeps the value of the run that calls it, so it is not cached here.
    """
    n = train_size(ctx, cfg)
    per_epoch = math.ceil(n / (n if cfg.batch_size == "full" else int(cfg.batch_size)))
    cfg.epochs = math.ceil(max_steps / per_epoch)
    cfg.validate()
    probe = LossProbe(max_steps, every, threshold, size)
    ctx.train(cfg, callbacks=[probe])
    return {
        "steps": probe.steps,
        "losses": probe.losses,
        "hit": probe.hit,
        "diverged": probe.diverged,
        "final": probe.losses[-1],
        "max_steps": max_steps,
    }


def outward(grid: Sequence[float], start: float) -> list[float]:
    """The grid ordered from the point nearest `start` (in log scale) outward, alternating up and down."""
    i = min(range(len(grid)), key=lambda k: abs(math.log(grid[k] / start)))
    order = [grid[i]]
    for d in range(1, len(grid)):
        order += [grid[j] for j in (i + d, i - d) if 0 <= j < len(grid)]
    return order


def tune_lr(
    ctx,
    make_cfg: Callable[[float], Any],
    grid: Sequence[float],
    max_steps: int,
    *,
    threshold: float | None = None,
    start: float | None = None,
    every: int = 1,
    size: int | None = 1024,
) -> tuple[float | None, dict[str, dict]]:
    """The best learning rate of `grid` for the runs `make_cfg(lr)` (one seed), and each lr's probe record.

    With a `threshold`: the fewest steps to reach it; the grid is run from `start` outward and each run is
    capped at the best step count so far (it cannot win past it, so the choice is exact), probed every
    `every` steps. Without: the lowest final probe loss after `max_steps` (probed at the end only). Ties go
    to the lr run first. Diverged runs never win; None if every run diverged (or none reached the threshold).
    """
    order = outward(grid, start if start is not None else grid[len(grid) // 2]) if threshold is not None else list(grid)
    records: dict[str, dict] = {}
    best, best_score = None, math.inf
    for lr in order:
        cap = max_steps if threshold is None or best is None else min(max_steps, int(best_score))
        r = probe_run(
            ctx, make_cfg(lr), cap, every=every if threshold is not None else cap, threshold=threshold, size=size
        )
        records[f"{lr:g}"] = r
        if r["diverged"]:
            continue
        score = (r["hit"] if r["hit"] is not None else math.inf) if threshold is not None else r["final"]
        if score < best_score:
            best, best_score = lr, score
    return best, {k: records[k] for k in sorted(records, key=float)}


def no_progress(record: dict[str, Any]) -> bool:
    """A run diverged (a non-finite loss) or ended no lower than it started."""
    return record["diverged"] or not record["final"] < record["losses"][0]


GRID = half_decades(-6, 3)  # 1e-3 ... 31.6: from far too small for plain SGD to far too large
EPOCHS = 10
BATCH = 32
SCHEDULE = looks(3)  # paired seeds at each look


def sgd_config(ctx, lr: float, seed: int, batch: int | str = BATCH):
    """Plain SGD on the MLP 64-64-10 (shared by learning-rate and gd-variants)."""
    return ctx.config(
        data=ctx.data(DATA),
        model="mlp",
        model_options={"hidden": [64]},
        optimizer="sgd",
        lr=lr,
        batch_size=batch,
        seed=seed,
    )


def tuning_seed(ctx) -> int:
    """The seed on which learning rates are chosen: apart from the judged seeds, shifted with them."""
    return ctx.seeds[0] + 1000


FINAL_LOSS = "dlbasic.studies.learning_rate:final_loss"
FINAL_LOSS_COST = 0.2  # seconds of one such run on the digits at batch 32 (one thread, quick profile)


def final_loss(ctx, lr: float, seed: int, batch: int | str, steps: int) -> dict[str, Any]:
    """Plain SGD (`sgd_config`) for `steps` steps, probed on the whole training set at the start and the end:
    {"initial", "final" (None when not finite), "diverged"}."""
    r = probe_run(ctx, sgd_config(ctx, lr, seed, batch), steps, every=steps, size=None)
    final = r["final"] if math.isfinite(r["final"]) else None
    return {"initial": r["losses"][0], "final": final, "diverged": r["diverged"]}


def final_loss_run(name: str, lr: float, seed: int, batch: int | str, steps: int, cost: float = FINAL_LOSS_COST):
    """The `Run` of `final_loss` (studies that need the same training declare it alike and share it)."""
    return Run(name, FINAL_LOSS, {"lr": lr, "seed": seed, "batch": batch, "steps": steps}, cost)


def as_record(value: dict[str, Any]) -> dict[str, Any]:
    """A `final_loss` value as the probe record it came from ("final" inf when it diverged), for `no_progress`."""
    final = value["final"] if value["final"] is not None else math.inf
    return {"losses": [value["initial"], final], "final": final, "diverged": value["diverged"]}


def lowest_final(records: dict[str, dict[str, Any]]) -> float | None:
    """The lr (keys: f"{lr:g}", in grid order) with the lowest final loss, as `tune_lr` chooses without a
    threshold: diverged runs never win, ties go to the lr first in the grid; None if every run diverged."""
    best, best_score = None, math.inf
    for key, r in records.items():
        if not r["diverged"] and r["final"] < best_score:
            best, best_score = float(key), r["final"]
    return best


def sgd_steps(ctx, batch: int = BATCH) -> tuple[int, int]:
    """(training images, optimizer steps of `EPOCHS` epochs at `batch`) on the study's data."""
    n = train_size(ctx, sgd_config(ctx, 0.1, ctx.seeds[0]))
    return n, ctx.profile.epochs(EPOCHS) * math.ceil(n / batch)


def grid_runs(ctx) -> list[Run]:
    """The grid on the tuning seed at batch 32 (gd-variants declares the same runs to tune its batch 32)."""
    _, steps = sgd_steps(ctx)
    return [final_loss_run(f"grid {lr:g}", lr, tuning_seed(ctx), BATCH, steps) for lr in GRID]


def grid_best(results: dict[str, Any], prefix: str = "") -> float:
    """lr*: the grid's rate with the lowest final loss on the tuning seed (runs named f"{prefix}grid {lr:g}")."""
    best = lowest_final({f"{lr:g}": as_record(results[f"{prefix}grid {lr:g}"]) for lr in GRID})
    if best is None:
        raise RuntimeError("every learning rate of the grid diverged on the tuning seed")
    return best


def looks_done(ctx, schedule: Sequence[int], done: Callable[[int], bool]) -> list[int]:
    """The paired seeds of the last look of `schedule` whose every seed is `done` (none: [])."""
    seeds: list[int] = []
    for n in schedule:
        look = unit_seeds(ctx, n)
        if not all(done(s) for s in look):
            break
        seeds = look
    return seeds


def next_seed_runs(study: Study, ctx, results: dict[str, Any], seed_runs: Callable[[list[int]], list[Run]]):
    """The runs of the next look of `study.schedule` once its tuning is done (`Study.staged_runs`, for a study
    whose seed runs depend on its tuning): the first look's, then more while the verdict names a next look."""
    n = study.schedule[0]
    while True:
        if todo := not_run(seed_runs(unit_seeds(ctx, n)), results):
            return todo
        n = study.next_look(ctx, results, judged=True)
        if n is None:
            return []


@register_study
class LearningRate(Study):
    """Claim `learning-rate`: Choosing the learning rate well matters."""

    id = "learning-rate"
    trains_on = DATA
    section = "Gradient Descent"
    claim = "Choosing the learning rate well matters."
    note = "적절한 learning rate를 잡아주는 것이 중요."
    literature = (
        "Bengio (2012), 'Practical recommendations for gradient-based training of deep architectures', "
        "§3.1.1: the learning rate is often the single most important hyper-parameter; Goodfellow et "
        "al. (2016) §11.4.1: training error is U-shaped in the learning rate. Too large a rate diverges, "
        "which says nothing about choosing among the rates that work: those are judged here."
    )
    form = "difference"
    schedule = SCHEDULE
    method = (
        f"Plain SGD trains an MLP 64-64-10 on the 8x8 digits (or --data), batch {BATCH}, for {EPOCHS} epochs, "
        f"at each learning rate of the half-decade grid {', '.join(f'{x:g}' for x in GRID)} on a tuning seed "
        "(the profile's first seed + 1000). A rate diverges if its loss becomes non-finite or ends no lower "
        "than it started; such rates are counted and reported apart. The best stable rate lr* is the one "
        "with the lowest final training loss (training-set loss of the final weights, eval mode); lr*, lr*/10 "
        "and, when it made progress on the tuning seed, 10 lr* are then trained on each paired seed (same "
        "split, initialization and data order); a judged run that diverges scores its initial loss."
    )
    rule = (
        "Difference, on the final training loss compared as a ratio (log scale), margin 10 % (ln 1.1): lr* "
        "against lr*/10 and, when 10 lr* made progress on the tuning seed, lr* against 10 lr* (a diverging "
        "10 lr* is reported, not judged: it would grant the claim). Each is a paired interval over seeds in "
        f"stages of {'/'.join(map(str, SCHEDULE))} with the O'Brien-Fleming boundary. Supported if lr* ends "
        "more than 10 % lower than every judged neighbour; contradicted if a neighbour ends lower or within "
        "10 % (equivalent); inconclusive otherwise."
    )

    def plan(self, ctx, results: dict[str, Any]) -> list[Run]:
        """The grid on the tuning seed; once it is run, lr* and its neighbours on the seeds of each look."""
        if todo := not_run(grid_runs(ctx), results):
            return todo
        return next_seed_runs(self, ctx, results, lambda seeds: self.arm_runs(ctx, results, seeds))

    def arm_runs(self, ctx, results: dict[str, Any], seeds: Sequence[int]) -> list[Run]:
        """lr*, lr*/10 and (when judged) 10 lr* on each of `seeds`."""
        _, steps = sgd_steps(ctx)
        return [
            final_loss_run(f"{arm} seed {seed}", lr, seed, BATCH, steps)
            for seed in seeds
            for arm, lr in self.arms(results).items()
        ]

    @staticmethod
    def arms(results: dict[str, Any]) -> dict[str, float]:
        """The judged rates by arm: "best" (lr*), "tenth" and, when 10 lr* made progress on the tuning seed,
        "tenfold"."""
        best = grid_best(results)
        arms = {"best": best, "tenth": best / 10}
        up = next((lr for lr in GRID if math.isclose(lr, 10 * best, rel_tol=1e-3)), None)
        if up is not None and not no_progress(as_record(results[f"grid {up:g}"])):
            arms["tenfold"] = up
        return arms

    def collect(self, ctx, results: dict[str, Any]) -> Measurements:
        """The numbers and the figure, from the runs' final losses (the seeds of the last look run)."""
        n, steps = sgd_steps(ctx)
        tune = tuning_seed(ctx)
        arms = self.arms(results)
        seeds = looks_done(ctx, self.schedule, lambda s: f"best seed {s}" in results)
        grid = {f"{lr:g}": as_record(results[f"grid {lr:g}"]) for lr in GRID}
        finals: dict[str, list[float]] = {arm: [] for arm in arms}
        for seed in seeds:
            for arm in arms:
                r = as_record(results[f"{arm} seed {seed}"])
                finals[arm].append(r["losses"][0] if r["diverged"] else r["final"])  # no progress if diverged
        numbers = {
            "train_images": n,
            "steps": steps,
            "tuning_seed": tune,
            "seeds": seeds,
            "lr": arms,
            "grid_final_loss": {k: v["final"] for k, v in grid.items()},
            "grid_initial_loss": {k: v["losses"][0] for k, v in grid.items()},
            "diverged": sorted((k for k, v in grid.items() if no_progress(v)), key=float),
            "final_loss": finals,
        }
        return Measurements(
            numbers,
            [("Final training loss against the learning rate (diverging rates shaded)", _figure(numbers))],
            seeds,
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `collect` returned."""
        finals, lrs = m["final_loss"], m["lr"]
        parts = [
            part(
                f"final training loss, lr* {fmt(lrs['best'])} vs {arm} {fmt(lrs[arm])}",
                finals["best"],
                finals[arm],
                form="difference",
                margin=RATIO,
                lower_is_better=True,
                log=True,
                schedule=self.schedule,
            )
            for arm in ("tenth", "tenfold")
            if arm in finals
        ]
        up = 10 * lrs["best"]
        key = (
            f"final training loss (mean over {len(finals['best'])} seeds): "
            + ", ".join(f"lr {fmt(lrs[a])}: {fmt(float(np.mean(v)))}" for a, v in finals.items())
            + f"; diverged on the grid: {', '.join(m['diverged']) or 'none'}"
            + ("" if "tenfold" in finals else f" (10 lr* = {fmt(up)} diverges: reported, not judged)")
        )
        reasons = {
            SUPPORTED: "the best stable rate ends more than 10 % lower than the rates a decade away: the choice "
            "matters even among stable rates",
            CONTRADICTED: "a rate a decade from lr* ends lower than lr* or within 10 % of it: the choice barely "
            "matters among stable rates",
        }
        return verdict(parts, key, reasons)


def _figure(m: dict[str, Any]):
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    grid = m["grid_final_loss"]
    ok = [k for k in grid if k not in m["diverged"]]
    ax.plot([float(k) for k in ok], [grid[k] for k in ok], "o-", label=f"tuning seed {m['tuning_seed']}")
    for k in m["diverged"]:
        ax.axvline(float(k), color="red", alpha=0.25, lw=6)
    for (arm, v), marker in zip(m["final_loss"].items(), "^vs", strict=False):
        ax.plot([m["lr"][arm]] * len(v), v, "k" + marker, label=f"{arm} ({fmt(m['lr'][arm])}), judged seeds")
    lrs = [float(k) for k in grid]
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="learning rate (plain SGD)",
        ylabel="final training loss",
        title=f"{m['steps']} steps; red: diverged or no progress",
        xlim=(min(lrs) / 2, max(lrs) * 2),
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
