r"""Claim `momentum`: momentum reaches the minimum faster by reusing the past gradient direction.

The experiment it scales down: Sutskever, Martens, Dahl & Hinton, "On the importance of initialization and
momentum in deep learning" (ICML 2013): the number of steps a method needs to reach a given loss, on
ill-conditioned problems where heavy-ball momentum (Polyak 1964) needs about sqrt(kappa) times fewer steps
than gradient descent (kappa: the condition number), and on neural-network training, where the gain depends
on how noisy the gradient is (small batches blur it: with lr eta, momentum mu acts much like SGD with lr
eta / (1 - mu); Kidambi et al., ICLR 2018). Each method runs at its own best learning rate.

Scaled down (the same design serves `nesterov`, with other arms):

* two ill-conditioned landscapes, the quadratic (x^2 + 100 y^2)/2 and Rosenbrock's valley, from random starts
  in the landscape's box: 10 starts per seed, each run with both methods (a pair), so n = 10 x seeds pairs;
  the learning rate of each method is chosen on 10 further tuning starts from a half-decade grid (fewest
  mean log steps); the measurement is the steps until the loss first reaches a threshold, counted step by step;
* MNIST (5,000 embedded digits, or ``--data``), an MLP 784-64-10, at a small batch (32) and a large one (512):
  the optimizer steps until the training loss (on a fixed probe of 256 training images, checked every 128
  examples) first reaches 5 % of ln(classes), i.e. of the loss at chance; each method's learning rate is the
  half-decade grid point with the fewest steps on a tuning seed, then each of 3 runs per seed (seeds s, s + 100,
  s + 200: n = 9 pairs in the quick profile, where 3 would leave the t-test 2 degrees of freedom) trains both
  methods from the same split, initialization and data order (a pair).

The full profile scales the step caps and the data with the profile.

Runs: stage 1 runs each method on each landscape (tuning and judged starts together) and, on MNIST, each
method's grid point nearest its default lr on the tuning seed, one run per batch; stage 2 the other grid
points, capped at that run's step count (the choice, and the tuning steps shown, are those of the search that
caps each run at the best so far); stage 3 each method at its tuned lr, one run per (batch, seed). `nesterov`
declares the same runs for momentum, so the two studies share them.
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
from dlbasic.lab.stats import decide
from dlbasic.lab.study import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Run, Study, Verdict
from dlbasic.optim import default_lr
from dlbasic.optim.factory import create_optimizer
from dlbasic.optim.landscapes import get_landscape
from dlbasic.studies.learning_rate import half_decades, outward, probe_run, tuning_seed

DATA = "mnist5k"  # the source its runs train on, unless the lab names one (--data)

LANDSCAPE_LRS = half_decades(-8, -2)  # 1e-4 ... 0.1
LANDSCAPES = {"quadratic": (1e-4, 2000), "rosenbrock": (1e-3, 3000)}  # loss threshold, step cap
STARTS_PER_SEED = 10
TUNING_STARTS = 10
MNIST_LRS = half_decades(-4, 0)  # 0.01 ... 1
BATCHES = {32: 2000, 512: 1000}  # batch size -> step cap
TARGET = 0.05  # the threshold: 5 % of ln(classes), the loss at chance
PROBE_EXAMPLES = 128  # probe the training loss every 128 examples (every 4 steps at batch 32, every step at 512)
PROBE_SIZE = 256
REPLICATES = 3  # MNIST runs per profile seed (seeds s, s + 100, s + 200): n = 3 x seeds pairs
MARGIN = math.log(1.1)  # smallest effect of interest: 10 % fewer steps (in log steps)


def steps_to(losses: list[float], threshold: float) -> int | None:
    """The first index whose loss is at or below `threshold`; None if never."""
    return next((i for i, x in enumerate(losses) if math.isfinite(x) and x <= threshold), None)


def random_starts(land: str, n: int, seed: int) -> torch.Tensor:
    """`n` starts drawn uniformly in the landscape's plotting box by `seed`: Tensor[n, 2], float64."""
    (x0, x1), (y0, y1) = get_landscape(land).bounds
    u = torch.rand(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    low, span = torch.tensor([x0, y0], dtype=torch.float64), torch.tensor([x1 - x0, y1 - y0], dtype=torch.float64)
    return low + span * u


def landscape_steps(
    name: str, land: str, starts: torch.Tensor, lrs: tuple[float, ...], threshold: float, max_steps: int
) -> dict[str, torch.Tensor]:
    """Run optimizer `name` from every start at every learning rate at once (one parameter of all starts per
    lr, one param group per lr; the optimizers act elementwise, so each start's path is its own run).

    Returns:
        steps: LongTensor[L, S], the first step whose loss is <= `threshold` (max_steps + 1 if never, e.g. on
            divergence);
        flips: LongTensor[L, S], sign changes of the offset from the minimum (x and y) before that step;
        trace: Tensor[L, T], the loss from the first start at each step (until all runs are done).
    """
    ls = get_landscape(land)
    minimum = torch.tensor(ls.minima[0], dtype=torch.float64)
    points = [starts.double().clone().requires_grad_(True) for _ in lrs]  # L x (S, 2)
    opt = create_optimizer(name, [{"params": [p], "lr": lr} for p, lr in zip(points, lrs, strict=True)])
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
            trace.append(f[:, 0].clone())
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
    the tuning scores and the loss trace of the first judged start. Cached: studies share the arms they share."""
    threshold, cap = LANDSCAPES[land]
    starts = torch.cat(
        [random_starts(land, TUNING_STARTS, tune)] + [random_starts(land, STARTS_PER_SEED, s) for s in seeds]
    )
    r = landscape_steps(name, land, starts, LANDSCAPE_LRS, threshold, cap * scale)
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


def unit_seeds(ctx) -> list[int]:
    """The seeds of the MNIST pairs: each profile seed s gives s, s + 100, ... (REPLICATES runs)."""
    return [s + 100 * r for r in range(REPLICATES) for s in ctx.seeds]


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
LANDSCAPE_COST = {"quadratic": 1.0, "rosenbrock": 2.0}  # seconds of one landscape run (one thread, quick profile)
MNIST = "dlbasic.studies.momentum:mnist_run"
# Seconds of one MNIST run by batch (one thread, quick profile): at a tuned lr, and on the tuning grid (where
# many run to the cap, the longest about 3 s).
MNIST_COST = {32: 0.15, 512: 0.3}
MNIST_TUNING_COST = {32: 0.3, 512: 1.0}


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


def mnist_tuning(ctx, names: tuple[str, str], results: dict[str, Any]) -> list[Run]:
    """The MNIST tuning runs on the tuning seed: each method's grid point nearest its default lr, to the step
    cap; once those are run, the other grid points, capped at that run's step count (no later one can win)."""
    tune = tuning_seed(ctx)
    runs = []
    for b in BATCHES:
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


def race_runs(ctx, names: tuple[str, str], results: dict[str, Any]) -> list[Run]:
    """The runs of the design for `names`: the landscapes and the MNIST tuning (`mnist_tuning`), then MNIST at
    the tuned lrs on the judged seeds."""
    runs = [
        Run(f"{land} {name}", LANDSCAPE, {"optimizer": name, "land": land}, LANDSCAPE_COST[land], False)
        for land in LANDSCAPES
        for name in names
    ]
    tuning = mnist_tuning(ctx, names, results)
    if len(tuning) < len(BATCHES) * len(names) * len(MNIST_LRS) or any(r.name not in results for r in tuning):
        return runs + tuning
    for b in BATCHES:
        cap = ctx.profile.size(BATCHES[b])
        for name in names:
            lr, _ = tuned({lr: results[f"batch {b} {name} lr {lr:g}"] for lr in MNIST_LRS}, name, cap)
            runs += [
                Run(
                    f"batch {b} {name} seed {seed}",
                    MNIST,
                    {"optimizer": name, "lr": lr, "batch": b, "seed": seed},
                    MNIST_COST[b],
                )
                for seed in unit_seeds(ctx)
            ]
    return runs


def race_numbers(ctx, names: tuple[str, str], results: dict[str, Any]) -> dict:
    """The numbers of the design for `names` from its runs: per problem, each optimizer's lr and steps."""
    scale = max(1, round(ctx.profile.scale))
    problems: dict[str, dict] = {}
    for land, (threshold, cap) in LANDSCAPES.items():
        problems[land] = {"threshold": threshold, "max_steps": cap * scale}
        for name in names:
            arm = copy.deepcopy(results[f"{land} {name}"])
            arm["trace"] = [math.nan if y is None else y for y in arm["trace"]]  # non-finite in a saved run
            problems[land][name] = arm
    for b in BATCHES:
        out: dict = {**mnist_settings(ctx, b), "seeds": unit_seeds(ctx)}
        for name in names:
            lr, shown = tuned({lr: results[f"batch {b} {name} lr {lr:g}"] for lr in MNIST_LRS}, name, out["max_steps"])
            runs = [results[f"batch {b} {name} seed {seed}"] for seed in unit_seeds(ctx)]
            out[name] = {
                "lr": lr,
                "steps": [out["max_steps"] + 1 if r["hit"] is None else r["hit"] for r in runs],
                "tuning_steps": shown,
                "curve": {
                    "steps": runs[0]["steps"],
                    "losses": [math.inf if y is None else y for y in runs[0]["losses"]],
                },
            }
        problems[f"{ctx.data(DATA)} batch {b}"] = out
    return {"data": ctx.data(DATA), "problems": problems}


def combine(verdicts: list[str]) -> str:
    """Supported if at least half the problems support the claim and none contradicts it; contradicted if at
    least half contradict it and none supports it; inconclusive otherwise (mixed or undecided)."""
    s, c, k = verdicts.count(SUPPORTED), verdicts.count(CONTRADICTED), len(verdicts)
    if c == 0 and 2 * s >= k:
        return SUPPORTED
    if s == 0 and 2 * c >= k:
        return CONTRADICTED
    return INCONCLUSIVE


def judge_race(m: dict, names: tuple[str, str], labels: tuple[str, str]) -> tuple[str, str, dict]:
    """Per problem, stats.decide on log(1 + steps), the favoured optimizer against the other (fewer is better);
    returns the combined verdict, the key number and the decisions."""
    fav, other = names
    decisions, parts = {}, []
    for problem, v in m["problems"].items():
        a, b = v[fav]["steps"], v[other]["steps"]
        decisions[problem] = decide(
            [math.log1p(x) for x in a], [math.log1p(x) for x in b], lower_is_better=True, margin=MARGIN
        )
        never = sum(x > v["max_steps"] for x in a), sum(x > v["max_steps"] for x in b)
        unit = "runs" if "seeds" in v else "starts"
        shown = (
            f"median {statistics.median(a):g} vs {statistics.median(b):g} steps over {len(a)} {unit}"
            if len(a) > 5
            else f"{', '.join(map(str, a))} vs {', '.join(map(str, b))} steps"
        )
        if any(never):
            shown += f", never reached by {never[0]} vs {never[1]}"
        parts.append(f"{problem}: {shown}")
    key = "; ".join(parts) + f" ({labels[0]} vs {labels[1]}, each at its tuned lr)"
    return combine([d.verdict for d in decisions.values()]), key, decisions


def plot_race(m: dict, names: tuple[str, str], title: str):
    """Loss against step for the first judged start / seed of every problem, each method at its tuned lr."""
    problems = m["problems"]
    fig, axes = plt.subplots(1, len(problems), figsize=(4 * len(problems), 3.6))
    for ax, (problem, v) in zip(axes, problems.items(), strict=True):
        for name in names:
            if "trace" in v[name]:
                ys = [max(y, 1e-12) if math.isfinite(y) else math.nan for y in v[name]["trace"]]
                ax.plot(range(len(ys)), ys, label=f"{name}, lr {v[name]['lr']:g}")
            else:
                ax.plot(v[name]["curve"]["steps"], v[name]["curve"]["losses"], label=f"{name}, lr {v[name]['lr']:g}")
        ax.axhline(v["threshold"], color="grey", ls="--", lw=1)
        ax.set(yscale="log", xlabel="step", ylabel="training loss (probe)" if "seeds" in v else "loss", title=problem)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def decisions_text(decisions: dict) -> str:
    """The per-problem decisions as one line: 'problem: decision; ...'."""
    return "; ".join(f"{problem}: {d}" for problem, d in decisions.items())


NAMES = ("momentum", "sgd")


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
        "eta acts roughly like SGD with lr eta / (1 - beta)."
    )
    method = (
        f"Plain SGD and SGD with momentum 0.9 (torch's form v = mu v + g), each at its own best learning rate, "
        f"count the steps until the loss first reaches a threshold. Landscapes: the quadratic (x^2 + 100 y^2)/2 "
        f"(threshold {LANDSCAPES['quadratic'][0]:g}, at most {LANDSCAPES['quadratic'][1]} steps) and Rosenbrock "
        f"(threshold {LANDSCAPES['rosenbrock'][0]:g}, at most {LANDSCAPES['rosenbrock'][1]} steps) from "
        f"{STARTS_PER_SEED} random starts per seed in the landscape's box, both methods from each start; lr "
        f"from the grid {', '.join(f'{x:g}' for x in LANDSCAPE_LRS)} by the mean log steps over "
        f"{TUNING_STARTS} separate tuning starts. MNIST (mnist5k, or --data): MLP 784-64-10 at batch 32 "
        f"(at most {BATCHES[32]} steps) and 512 (at most {BATCHES[512]}), steps until the training loss on a "
        f"fixed probe of {PROBE_SIZE} training images (checked every {PROBE_EXAMPLES} examples) reaches "
        f"{TARGET:g} x ln(classes); lr from {', '.join(f'{x:g}' for x in MNIST_LRS)} by the fewest steps on a "
        "tuning seed (the first seed + 1000); then 3 runs per profile seed s (seeds s, s + 100, s + 200), both "
        "methods sharing each run's split, initialization and data order. Not reaching the threshold counts as "
        "the cap + 1."
    )
    rule = (
        "Per problem (quadratic, Rosenbrock, MNIST batch 32, MNIST batch 512), a paired t-test (stats.decide) on "
        "log(1 + steps), momentum against SGD, margin ln 1.1 (10 % fewer steps is the smallest gain that "
        "counts); pairs are starts on the landscapes (n = 10 x seeds) and runs on MNIST (n = 3 x seeds). "
        "Supported if at least half of the problems support the claim and none contradicts it; contradicted if "
        "at least half contradict it and none supports it; inconclusive otherwise."
    )

    def plan(self, ctx, results: dict[str, Any]) -> list[Run]:
        """The runs of the design (see `race_runs`)."""
        return race_runs(ctx, NAMES, results)

    def collect(self, ctx, results: dict[str, Any]) -> Measurements:
        """The numbers and the figure, from the runs."""
        m = race_numbers(ctx, NAMES, results)
        fig = plot_race(m, NAMES, "SGD vs momentum, each at its tuned lr: loss against step (first start / seed)")
        return Measurements(m, [("Loss against step, SGD vs momentum (each at its tuned lr)", fig)], list(ctx.seeds))

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        verdict, key, decisions = judge_race(m, NAMES, ("momentum", "SGD"))
        per = ", ".join(f"{p}: {d.verdict}" for p, d in decisions.items())
        reason = {
            SUPPORTED: f"momentum needed fewer steps on most problems and more on none ({per})",
            CONTRADICTED: f"momentum needed more steps on most problems ({per})",
            INCONCLUSIVE: f"mixed or undecided ({per})",
        }[verdict]
        return Verdict(verdict, key, reason, decisions_text(decisions))
