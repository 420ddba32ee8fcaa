r"""Claim `momentum`: momentum reaches the minimum faster by reusing the past gradient direction.

The experiment it scales down: Sutskever, Martens, Dahl & Hinton, "On the importance of initialization and
momentum in deep learning" (ICML 2013): the number of steps a method needs to reach a given loss, each method
at its own best learning rate, on ill-conditioned problems where heavy-ball momentum (Polyak 1964) needs about
sqrt(kappa) times fewer steps than gradient descent (kappa: the condition number), and on neural-network
training. There the gain depends on how noisy the gradient is: with small batches momentum mu at lr eta acts
much like SGD at lr eta / (1 - mu) and the acceleration vanishes (Kidambi et al., ICLR 2018), so the decisive
comparison (CLAIMS.md v0.3: steps to a loss threshold, momentum vs SGD, each at its tuned lr, ratio margin 10 %)
is made where the literature finds the effect: a large batch, whose gradient is close to the full one.

Scaled down:

* MNIST (5,000 embedded digits, or ``--data``), an MLP 784-64-10, batch 512 (14 % of the 3,600 training
  images): the optimizer steps until the training loss on a fixed probe of 256 training images (checked
  every step) first reaches 5 % of ln(classes), the loss at chance, at most 1,000 steps (not reaching it
  counts as 1,001); each method's learning rate is the half-decade grid point (0.01 to 1) with the fewest
  steps on a tuning seed (the grid run outward from the method's default, each run capped at the best count
  so far: the same choice as a full search); then both methods train on each paired seed (the same split,
  initialization and data order), 5 seeds at the first look and 10 at the second when undecided;
* reported beside, not judged: two ill-conditioned landscapes, the quadratic (x^2 + 100 y^2)/2 and
  Rosenbrock's valley, from 10 random starts per profile seed (lr from a half-decade grid by the mean log
  steps over 10 separate tuning starts), and the loss traces of the first judged start (not a tuning start).

Runs: each method on each landscape, and each method's MNIST grid point nearest its default lr on the tuning
seed (stage 1); the other grid points, capped at that run's step count (stage 2); then each method at its
tuned lr on each seed of a look.
"""

from __future__ import annotations

import copy
import functools
import math
import statistics
from typing import Any

import matplotlib.pyplot as plt
import torch

from dlbasic.lab.registry import register_study
from dlbasic.lab.study import CONTRADICTED, SUPPORTED, Measurements, Run, Study, Verdict, not_run
from dlbasic.lab.verdicts import RATIO, looks, part, verdict
from dlbasic.optim import default_lr
from dlbasic.optim.landscapes import get_landscape, lr_grid_optimizer
from dlbasic.studies.learning_rate import half_decades, looks_done, next_seed_runs, outward, probe_run, tuning_seed

DATA = "mnist5k"  # the source its runs train on, unless the lab names one (--data)

LANDSCAPE_LRS = half_decades(-8, -2)  # 1e-4 ... 0.1
LANDSCAPES = {"quadratic": (1e-4, 2000), "rosenbrock": (1e-3, 3000)}  # loss threshold, step cap
STARTS_PER_SEED = 10
TUNING_STARTS = 10
MNIST_LRS = half_decades(-4, 0)  # 0.01 ... 1
BATCH = 512  # a large batch: a gradient close to the full one, where momentum accelerates (Kidambi et al.)
BATCHES = {BATCH: 1000}  # batch size -> step cap
TARGET = 0.05  # the threshold: 5 % of ln(classes), the loss at chance
PROBE_EXAMPLES = 128  # probe the training loss every 128 examples (every step at 512)
PROBE_SIZE = 256
SCHEDULE = looks(5)  # paired seeds at each look
NAMES = ("momentum", "sgd")


def random_starts(land: str, n: int, seed: int) -> torch.Tensor:
    """`n` starts drawn uniformly in the landscape's plotting box by `seed`: Tensor[n, 2], float64."""
    (x0, x1), (y0, y1) = get_landscape(land).bounds
    u = torch.rand(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    low, span = torch.tensor([x0, y0], dtype=torch.float64), torch.tensor([x1 - x0, y1 - y0], dtype=torch.float64)
    return low + span * u


def landscape_steps(
    name: str,
    land: str,
    starts: torch.Tensor,
    lrs: tuple[float, ...],
    threshold: float,
    max_steps: int,
    traced: int = 0,
) -> dict[str, torch.Tensor]:
    """Run optimizer `name` from every start at every learning rate at once (one parameter of all starts per
    lr, one param group per lr; the optimizers act elementwise, so each start's path is its own run).

    Returns:
        steps: LongTensor[L, S], the first step whose loss is <= `threshold` (max_steps + 1 if never, e.g. on
            divergence);
        flips: LongTensor[L, S], sign changes of the offset from the minimum (x and y) before that step;
        trace: Tensor[L, T], the loss from start `traced` at each step (until all runs are done).
    """
    ls = get_landscape(land)
    minimum = torch.tensor(ls.minima[0], dtype=torch.float64)
    points, opt = lr_grid_optimizer(name, starts.double(), lrs)  # L x (S, 2)
    never = max_steps + 1
    steps = torch.full((len(lrs), len(starts)), never, dtype=torch.long)
    flips = torch.zeros_like(steps)
    sign = torch.sign(starts - minimum).expand(len(lrs), -1, -1)
    trace = []
    for t in range(max_steps + 1):
        p = torch.stack(points)  # (L, S, 2)
        f = ls(p[..., 0], p[..., 1])  # (L, S)
        with torch.no_grad():
            running = steps == never
            now = torch.sign(p - minimum)
            flips += (((now * sign) < 0).sum(-1) * running).long()
            sign = now
            steps[running & (f <= threshold)] = t
            trace.append(f[:, traced].clone())
            if t == max_steps or ((steps < never) | ~torch.isfinite(f)).all():
                break
        opt.zero_grad()
        f.sum().backward()  # each start's loss depends on its own point only
        opt.step()
    return {"steps": steps, "flips": flips, "trace": torch.stack(trace, 1)}


@functools.lru_cache(maxsize=16)
def landscape_arm(name: str, land: str, seeds: tuple[int, ...], tune: int, scale: int = 1) -> dict:
    """One optimizer on `land` from the tuning starts and each seed's starts, at the grid lr with the fewest
    mean log(1 + steps) on the tuning starts: lr, steps and sign changes per judged start (seeds in order),
    the tuning scores and the loss trace of the first judged start (not a tuning start). Cached: studies share
    the arms they share."""
    threshold, cap = LANDSCAPES[land]
    starts = torch.cat(
        [random_starts(land, TUNING_STARTS, tune)] + [random_starts(land, STARTS_PER_SEED, s) for s in seeds]
    )
    r = landscape_steps(name, land, starts, LANDSCAPE_LRS, threshold, cap * scale, traced=TUNING_STARTS)
    score = torch.log1p(r["steps"][:, :TUNING_STARTS].double()).mean(1)
    best = int(score.argmin())  # ties: the smaller lr
    return {
        "lr": LANDSCAPE_LRS[best],
        "steps": r["steps"][best, TUNING_STARTS:].tolist(),
        "sign_changes": r["flips"][best, TUNING_STARTS:].tolist(),
        "tuning_score": dict(zip((f"{x:g}" for x in LANDSCAPE_LRS), score.tolist(), strict=True)),
        "trace": r["trace"][best].tolist(),
    }


def mnist_config(ctx, name: str, lr: float, batch: int, seed: int):
    """The MLP 784-64-10 on MNIST (or --data) with optimizer `name`."""
    return ctx.config(
        data=ctx.data(DATA),
        model="mlp",
        model_options={"hidden": [64]},
        optimizer=name,
        lr=lr,
        batch_size=batch,
        seed=seed,
    )


def mnist_settings(ctx, batch: int) -> dict[str, Any]:
    """The MNIST problem at `batch`: its loss threshold, step cap and probe interval (in steps)."""
    from dlbasic.training.run import load_data

    classes = load_data(mnist_config(ctx, "sgd", 0.1, batch, ctx.seeds[0])).train.num_classes
    return {
        "threshold": TARGET * math.log(classes),
        "max_steps": ctx.profile.size(BATCHES[batch]),
        "probe_every": max(1, PROBE_EXAMPLES // batch),
    }


LANDSCAPE = "dlbasic.studies.momentum:landscape_run"
LANDSCAPE_COST = {"quadratic": 2.0, "rosenbrock": 1.8}  # seconds of one landscape run (one thread, quick profile)
MNIST = "dlbasic.studies.momentum:mnist_run"
# Seconds of one MNIST run by batch (one thread, quick profile): at a tuned lr, and on the tuning grid (where
# runs go on to the first run's count or the cap: 1,000 steps take about 5 s).
MNIST_COST = {512: 0.5}
MNIST_TUNING_COST = {512: 2.5}


def landscape_run(ctx, optimizer: str, land: str) -> dict:
    """One optimizer on `land` from the tuning starts and the profile's seeds' starts (`landscape_arm`)."""
    scale = max(1, round(ctx.profile.scale))
    return copy.deepcopy(landscape_arm(optimizer, land, tuple(ctx.seeds), tuning_seed(ctx), scale))


def mnist_run(ctx, optimizer: str, lr: float, batch: int, seed: int, max_steps: int | None = None) -> dict:
    """One MNIST run under the loss probe until the threshold or `max_steps` (the problem's step cap when
    None): its probe record."""
    m = mnist_settings(ctx, batch)
    r = probe_run(
        ctx,
        mnist_config(ctx, optimizer, lr, batch, seed),
        m["max_steps"] if max_steps is None else max_steps,
        every=m["probe_every"],
        threshold=m["threshold"],
        size=PROBE_SIZE,
    )
    return {"hit": r["hit"], "diverged": r["diverged"], "steps": r["steps"], "losses": r["losses"]}


def tuned(records: dict[float, dict], name: str, cap: int) -> tuple[float, dict[str, int | None]]:
    """The lr `tune_lr` picks from the tuning runs (`records` by lr), and the step counts it shows.

    `tune_lr` runs the grid outward from the default lr and caps each run at the best step count so far, so
    a rate that reaches the threshold only later shows None and cannot win; ties go to the rate run first.
    The runs here may be capped later than that (the first at `cap`, the others at the first one's count):
    the caps are multiples of the probe interval, so a run capped later reaches the threshold within the
    earlier cap exactly when the capped run would. With no rate reaching it, the default lr.
    """
    best, best_score = None, math.inf
    shown: dict[str, int | None] = {}
    for lr in outward(MNIST_LRS, default_lr(name)):
        limit = cap if best is None else min(cap, int(best_score))
        hit = records[lr]["hit"]
        hit = hit if hit is not None and hit <= limit else None
        shown[f"{lr:g}"] = hit
        if hit is not None and hit < best_score:
            best, best_score = lr, hit
    return (default_lr(name) if best is None else best), {k: shown[k] for k in sorted(shown, key=float)}


def mnist_tuning(ctx, names: tuple[str, ...], results: dict[str, Any], batches=tuple(BATCHES)) -> list[Run]:
    """The MNIST tuning runs on the tuning seed: each method's grid point nearest its default lr, to the step
    cap; once those are run, the other grid points, capped at that run's step count (no later one can win)."""
    tune = tuning_seed(ctx)
    runs = []
    for b in batches:
        for name in names:
            first, *others = outward(MNIST_LRS, default_lr(name))
            args = {"optimizer": name, "lr": first, "batch": b, "seed": tune}
            runs.append(Run(f"batch {b} {name} lr {first:g}", MNIST, args, MNIST_TUNING_COST[b]))
            if runs[-1].name not in results:
                continue
            hit, cap = results[runs[-1].name]["hit"], ctx.profile.size(BATCHES[b])
            limit = {"max_steps": hit} if hit is not None and hit < cap else {}
            runs += [
                Run(f"batch {b} {name} lr {lr:g}", MNIST, {**args, "lr": lr, **limit}, MNIST_TUNING_COST[b])
                for lr in others
            ]
    return runs


@register_study
class MomentumStudy(Study):
    """Claim `momentum`: Momentum reaches the minimum faster by reusing past gradient direction."""

    id = "momentum"
    trains_on = DATA
    section = "Momentum"
    claim = "Momentum reaches the minimum faster by reusing past gradient direction."
    note = "좀 더 빨리 minimum을 찾기 위함. 이전의 gradient 방향도 활용."
    literature = (
        "Polyak (1964), heavy ball; Sutskever et al., ICML 2013: on an ill-conditioned quadratic (condition "
        "number k) tuned momentum needs about sqrt(k) times fewer steps than tuned gradient descent; on "
        "noisy mini-batch gradients the gain shrinks (Kidambi et al., ICLR 2018), since momentum with lr "
        "eta acts roughly like SGD with lr eta / (1 - beta): the decisive comparison is at a large batch."
    )
    form = "difference"
    schedule = SCHEDULE
    method = (
        f"Plain SGD and SGD with momentum 0.9 (torch's form v = mu v + g), each at its own best learning rate, "
        f"count the steps until the training loss on a fixed probe of {PROBE_SIZE} training images (checked "
        f"every step) first reaches {TARGET:g} x ln(classes): an MLP 784-64-10 on mnist5k (or --data), batch "
        f"{BATCH}, at most {BATCHES[BATCH]} steps (not reaching it counts as the cap + 1). Each method's lr is the "
        f"grid point of {', '.join(f'{x:g}' for x in MNIST_LRS)} with the fewest steps on a tuning seed (the "
        "first seed + 1000); then both methods train on each paired seed (the same split, initialization and "
        "data order). Reported, not judged: the quadratic (x^2 + 100 y^2)/2 and Rosenbrock's valley from "
        f"{STARTS_PER_SEED} random starts per profile seed, lr from {', '.join(f'{x:g}' for x in LANDSCAPE_LRS)} "
        f"by the mean log steps over {TUNING_STARTS} separate tuning starts."
    )
    rule = (
        "Difference, on the steps to the loss threshold compared as a ratio (log scale), margin 10 % (ln 1.1): "
        f"momentum against SGD on MNIST at batch {BATCH}, a paired interval over seeds in looks of "
        f"{'/'.join(map(str, SCHEDULE))} with the O'Brien-Fleming boundary. Supported if momentum needs more "
        "than 10 % fewer steps; contradicted if SGD needs fewer or the two are within 10 % (equivalent); "
        "inconclusive otherwise. The landscapes are reported, not judged."
    )

    def plan(self, ctx, results: dict[str, Any]) -> list[Run]:
        """The landscapes and the MNIST tuning; then each method at its tuned lr on the seeds of each look."""
        runs = [
            Run(f"{land} {name}", LANDSCAPE, {"optimizer": name, "land": land}, LANDSCAPE_COST[land], False)
            for land in LANDSCAPES
            for name in NAMES
        ]
        tuning = mnist_tuning(ctx, NAMES, results, (BATCH,))
        first = runs + tuning
        if len(tuning) < len(NAMES) * len(MNIST_LRS) or any(r.name not in results for r in first):
            return not_run(first, results)
        return next_seed_runs(self, ctx, results, lambda seeds: self.seed_runs_at(ctx, results, seeds))

    @staticmethod
    def lrs(ctx, results: dict[str, Any]) -> dict[str, tuple[float, dict[str, int | None]]]:
        """Each method's tuned lr and the tuning steps it shows (`tuned`)."""
        cap = mnist_settings(ctx, BATCH)["max_steps"]
        return {
            name: tuned({lr: results[f"batch {BATCH} {name} lr {lr:g}"] for lr in MNIST_LRS}, name, cap)
            for name in NAMES
        }

    def seed_runs_at(self, ctx, results: dict[str, Any], seeds) -> list[Run]:
        """Both methods at their tuned lrs on each of `seeds`."""
        lrs = self.lrs(ctx, results)
        return [
            Run(
                f"{name} seed {seed}",
                MNIST,
                {"optimizer": name, "lr": lrs[name][0], "batch": BATCH, "seed": seed},
                MNIST_COST[BATCH],
            )
            for seed in seeds
            for name in NAMES
        ]

    def collect(self, ctx, results: dict[str, Any]) -> Measurements:
        """The numbers and the figure, from the runs (the seeds of the last complete look)."""
        settings = mnist_settings(ctx, BATCH)
        seeds = looks_done(ctx, self.schedule, lambda s: all(f"{n} seed {s}" in results for n in NAMES))
        never = settings["max_steps"] + 1
        mnist: dict[str, Any] = {**settings, "data": ctx.data(DATA), "batch": BATCH, "seeds": seeds}
        for name, (lr, shown) in self.lrs(ctx, results).items():
            runs = [results[f"{name} seed {s}"] for s in seeds]
            mnist[name] = {
                "lr": lr,
                "steps": [never if r["hit"] is None else r["hit"] for r in runs],
                "tuning_steps": shown,
                "curve": {
                    "steps": runs[0]["steps"] if runs else [],
                    "losses": [math.inf if y is None else y for y in runs[0]["losses"]] if runs else [],
                },
            }
        scale = max(1, round(ctx.profile.scale))
        landscapes: dict[str, Any] = {}
        for land, (threshold, cap) in LANDSCAPES.items():
            landscapes[land] = {"threshold": threshold, "max_steps": cap * scale}
            for name in NAMES:
                arm = copy.deepcopy(results[f"{land} {name}"])
                arm["trace"] = [math.nan if y is None else y for y in arm["trace"]]  # non-finite in a saved run
                landscapes[land][name] = arm
        numbers = {"mnist": mnist, "landscapes": landscapes}
        fig = _figure(numbers)
        return Measurements(numbers, [("Loss against step, SGD vs momentum (each at its tuned lr)", fig)], seeds)

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `collect` returned."""
        mnist = m["mnist"]
        a, b = mnist["momentum"]["steps"], mnist["sgd"]["steps"]
        p = part(
            f"steps to the loss threshold at batch {mnist['batch']}, momentum vs SGD",
            a,
            b,
            form="difference",
            margin=RATIO,
            lower_is_better=True,
            log=True,
            schedule=self.schedule,
        )
        cap = mnist["max_steps"]
        key = (
            f"{mnist['data']} batch {mnist['batch']}: median {statistics.median(a):g} vs {statistics.median(b):g} "
            f"steps over {len(a)} seeds (momentum at lr {mnist['momentum']['lr']:g}, SGD at "
            f"{mnist['sgd']['lr']:g}), never reached by {sum(x > cap for x in a)} vs {sum(x > cap for x in b)}; "
            "reported: "
            + "; ".join(
                f"{land} median {statistics.median(v['momentum']['steps']):g} vs "
                f"{statistics.median(v['sgd']['steps']):g} steps"
                for land, v in m["landscapes"].items()
            )
        )
        reasons = {
            SUPPORTED: "momentum reaches the loss threshold in more than 10 % fewer steps than SGD, each at its "
            f"tuned lr ({p.outcome})",
            CONTRADICTED: f"momentum does not need 10 % fewer steps than SGD ({p.outcome})",
        }
        return verdict([p], key, reasons)


def _figure(m: dict[str, Any]):
    """Loss against step: MNIST's first judged seed, and each landscape's first judged start."""
    fig, axes = plt.subplots(1, 1 + len(m["landscapes"]), figsize=(12, 3.6))
    mnist = m["mnist"]
    for name in NAMES:
        c = mnist[name]["curve"]
        axes[0].plot(c["steps"], c["losses"], label=f"{name}, lr {mnist[name]['lr']:g}")
    axes[0].axhline(mnist["threshold"], color="grey", ls="--", lw=1)
    axes[0].set(yscale="log", xlabel="step", ylabel="training loss (probe)", title=f"{mnist['data']} batch {BATCH}")
    for ax, (land, v) in zip(axes[1:], m["landscapes"].items(), strict=True):
        for name in NAMES:
            ys = [max(y, 1e-12) if math.isfinite(y) else math.nan for y in v[name]["trace"]]
            ax.plot(range(len(ys)), ys, label=f"{name}, lr {v[name]['lr']:g}")
        ax.axhline(v["threshold"], color="grey", ls="--", lw=1)
        ax.set(yscale="log", xlabel="step", ylabel="loss", title=f"{land} (reported)")
    for ax in axes:
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
