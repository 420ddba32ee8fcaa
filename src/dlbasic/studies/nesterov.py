r"""Claim `nesterov`: NAG looks ahead and so fixes momentum's overshooting, its failure to settle.

The experiment it scales down: Sutskever, Martens, Dahl & Hinton (ICML 2013, §2-3 and Table 1): Nesterov's
accelerated gradient (Nesterov 1983) evaluates the gradient at the looked-ahead point w + mu v, which damps
the velocity in high-curvature directions where classical momentum (CM) overshoots and oscillates; the
difference matters at high momentum (they use mu up to 0.99-0.999) on ill-conditioned problems. On a quadratic
mode of curvature lambda, CM's iteration has roots of modulus sqrt(mu) once lr lambda > (1 - sqrt mu)^2 (it
oscillates and decays only as mu^(t/2)), while NAG's have modulus sqrt(mu (1 - lr lambda)), damped where the
curvature is high. The claim is tested by what it says, at mu = 0.99 for both: NAG settles (reaches a loss
threshold in fewer steps) and overshoots less.

Scaled down:

* an ill-conditioned quadratic f(x) = sum_i lambda_i x_i^2 / 2 in 100 dimensions, lambda log-spaced from 1 to
  1e-4 (condition number 1e4), from a start x0 ~ N(0, I) drawn by each seed; the steps until f first falls to
  1e-6 f(x0) (at most 5,000) and the overshoot over those 5,000 steps;
* MNIST (mnist5k, or ``--data``), an MLP 784-64-10 at batch 128, 600 steps: the steps until the training
  loss on a fixed probe of 512 training images (every 5 steps) first falls to 5 % of ln(classes), the loss
  at chance, and the overshoot over the 600 steps.

The overshoot is the total rise of the loss along the path, sum_t max(0, f_{t+1} - f_t) / f_0: zero for a path
that only descends, large for one that climbs back after overshooting. Each method runs at its own rate,
chosen on a tuning seed (the first seed + 1000) from a half-decade grid by the fewest steps to the threshold
(ties: the lower final loss). Pairs: the same start (quadratic), and the same split, initialization and data
order (MNIST), per seed. Not reaching the threshold counts as the cap + 1.

Runs: stage 1 the quadratic on the tuning seed (every rate at once, one run per method) and each method's
MNIST rates on the tuning seed; then per paired seed the quadratic (every rate; the tuned one is read) and
MNIST at the tuned rates, in looks of 3, 6 and then 12 seeds.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, not_run, unit_seeds
from dlbasic.lab.verdicts import RATIO, looks, part, verdict
from dlbasic.studies.adagrad import data_name, mlp_problem, train_steps
from dlbasic.studies.learning_rate import half_decades, tuning_seed

DATA = "mnist5k"  # the source its MNIST runs train on, unless the lab names one (--data)

NAMES = ("nesterov", "momentum")
MU = 0.99
SCHEDULE = looks(3)
DIM, KAPPA = 100, 1e4
QUAD_LRS = half_decades(-4, 1)  # 0.01 ... 3.16 (the largest curvature is 1)
QUAD_THRESHOLD, QUAD_CAP = 1e-6, 5000  # f / f(x0); steps
MNIST_LRS = half_decades(-8, -2)  # 1e-4 ... 0.1
BATCH, MNIST_CAP, PROBE_EVERY, PROBE_SIZE = 128, 600, 5, 512
TARGET = 0.05  # the MNIST threshold: 5 % of ln(classes)
FLOOR = 1e-9  # the overshoot of a path that never climbs (a ratio compares positive values)


def overshoot(losses: list[float]) -> float:
    """The total rise of the loss along the path over its first value, at least `FLOOR`."""
    rise = sum(max(0.0, b - a) for a, b in itertools.pairwise(losses))
    return max(FLOOR, rise / losses[0])


def first_hit(losses: list[float], threshold: float, every: int = 1) -> int | None:
    """The first step (losses probed every `every` steps) at which the loss is at or below `threshold`."""
    return next((i * every for i, x in enumerate(losses) if math.isfinite(x) and x <= threshold), None)


def quadratic_run(ctx, optimizer: str, seed: int) -> dict[str, Any]:
    """`optimizer` (mu = 0.99) at every rate of `QUAD_LRS` on the quadratic from the start of `seed`, all rates
    at once (one param group each; the optimizers act elementwise): per rate, the steps to the threshold (the
    cap + 1 if never), the overshoot and the final f / f(x0); and the loss path of every rate (every 10th step)."""
    from dlbasic.optim.landscapes import lr_grid_optimizer

    lam = torch.logspace(0, -math.log10(KAPPA), DIM, dtype=torch.float64)
    x0 = torch.randn(DIM, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    points, opt = lr_grid_optimizer(optimizer, x0, QUAD_LRS, momentum=MU)
    f0 = float((lam * x0**2).sum() / 2)
    paths: list[list[float]] = [[] for _ in QUAD_LRS]
    for t in range(QUAD_CAP + 1):
        with torch.no_grad():
            for p, path in zip(points, paths, strict=True):
                f = float((lam * p**2).sum() / 2) / f0
                path.append(f if math.isfinite(f) and f < 1e12 else math.inf)
                p.grad = lam * p.detach()  # the gradient of f
        if t < QUAD_CAP:
            opt.step()
    out: dict[str, Any] = {"steps": [], "overshoot": [], "final": [], "paths": []}
    for path in paths:
        hit = first_hit(path, QUAD_THRESHOLD)
        finite = all(math.isfinite(x) for x in path)
        out["steps"].append(QUAD_CAP + 1 if hit is None else hit)
        out["overshoot"].append(overshoot(path) if finite else math.inf)
        out["final"].append(path[-1])
        out["paths"].append([x if math.isfinite(x) else None for x in path[::10]])
    return out


def mnist_run(ctx, optimizer: str, lr: float, seed: int, stop_at_threshold: bool = False) -> dict[str, Any]:
    """The MLP 784-64-10 with `optimizer` (mu = 0.99) at `lr` on `seed` for the cap's steps (or until the
    threshold): the probe's losses every `PROBE_EVERY` steps (inf after a divergence), the first step at the
    threshold (None if never) and the overshoot (inf if diverged)."""
    from dlbasic.optim.factory import create_optimizer

    make_model, xy = mlp_problem(ctx, ctx.data(DATA), seed, (64,))
    model = make_model()
    opt = create_optimizer(optimizer, model.parameters(), lr=lr, momentum=MU)
    probe_x, probe_y = xy["train"][0][:PROBE_SIZE], xy["train"][1][:PROBE_SIZE]
    threshold = TARGET * math.log(int(xy["train"][1].max()) + 1)
    losses: list[float] = []

    def probe(t: int) -> bool:
        with torch.no_grad():
            losses.append(float(F.cross_entropy(model(probe_x), probe_y)))
        return not math.isfinite(losses[-1]) or (stop_at_threshold and losses[-1] <= threshold)

    cap = ctx.profile.size(MNIST_CAP)
    diverged = train_steps(model, opt, xy["train"], BATCH, cap, seed, probe, PROBE_EVERY)
    diverged = diverged or not all(math.isfinite(x) for x in losses)
    return {
        "threshold": threshold,
        "losses": [x if math.isfinite(x) else None for x in losses],
        "hit": first_hit(losses, threshold, PROBE_EVERY),
        "diverged": diverged,
        "overshoot": math.inf if diverged else overshoot(losses),
    }


QUAD = "dlbasic.studies.nesterov:quadratic_run"
MNIST = "dlbasic.studies.nesterov:mnist_run"
QUAD_COST = 1.0  # seconds of one run (one thread, quick profile; measured)
MNIST_COST, MNIST_TUNING_COST = 1.2, 0.8


def tuning_runs(ctx) -> list[Run]:
    """Each method on the quadratic and at each MNIST rate, on the tuning seed (MNIST runs stop at the
    threshold)."""
    seed = tuning_seed(ctx)
    runs = [Run(f"tune quadratic {n}", QUAD, {"optimizer": n, "seed": seed}, QUAD_COST, False) for n in NAMES]
    return runs + [
        Run(
            f"tune mnist {n} lr {lr:g}",
            MNIST,
            {"optimizer": n, "lr": lr, "seed": seed, "stop_at_threshold": True},
            MNIST_TUNING_COST,
        )
        for n in NAMES
        for lr in MNIST_LRS
    ]


def tuned(results: dict[str, Any], name: str) -> tuple[int, float]:
    """(quadratic rate index, MNIST rate) with the fewest steps to the threshold on the tuning seed (ties: the
    lower final loss, then the smaller rate)."""
    q = results[f"tune quadratic {name}"]
    i = min(range(len(QUAD_LRS)), key=lambda k: (q["steps"][k], q["final"][k], k))

    def score(lr: float) -> tuple[float, float, float]:
        r = results[f"tune mnist {name} lr {lr:g}"]
        last = r["losses"][-1]
        return (math.inf if r["hit"] is None else r["hit"], math.inf if last is None else last, lr)

    return i, min(MNIST_LRS, key=score)


def seed_runs_at(ctx, lrs: dict[str, float], seeds) -> list[Run]:
    """Per paired seed: each method on the quadratic and on MNIST at its tuned rate (`lrs`)."""
    return [
        run
        for s in seeds
        for n in NAMES
        for run in (
            Run(f"quadratic {n} seed {s}", QUAD, {"optimizer": n, "seed": s}, QUAD_COST, False),
            Run(f"mnist {n} seed {s}", MNIST, {"optimizer": n, "lr": lrs[n], "seed": s}, MNIST_COST),
        )
    ]


@register_study
class NesterovStudy(Study):
    """Claim `nesterov`: NAG looks ahead and fixes momentum's overshooting / failure to settle."""

    id = "nesterov"
    trains_on = DATA
    section = "NAG"
    claim = "NAG looks ahead and fixes momentum's overshooting / failure to settle."
    note = "기존 방향으로 일단 한 번 진행. 일단 진행한 값을 사용. Momentum의 수렴을 못하는 현상을 해결하기 위해."
    literature = (
        "Nesterov (1983); Sutskever et al., ICML 2013, section 3: NAG computes the gradient at the "
        "looked-ahead point w + mu v, which damps the velocity when it is about to overshoot. torch (and "
        "dlbasic) implement the equivalent reparametrized form w -= lr (g + mu v). On a quadratic of "
        "curvature L, heavy-ball momentum is stable for lr L < 2 (1 + mu) but NAG only for "
        "lr L < 2 (1 + mu) / (1 + 2 mu): NAG damps oscillation at a given lr, yet tolerates smaller lrs, "
        "which is why each method is judged at its own tuned lr."
    )
    form = "difference"
    schedule = SCHEDULE
    method = (
        f"Classical momentum and NAG, both at mu = {MU:g}, each at its own rate. Quadratic: sum_i lambda_i "
        f"x_i^2 / 2 in {DIM} dimensions, lambda log-spaced from 1 to {1 / KAPPA:g} (condition number "
        f"{KAPPA:g}), start x0 ~ N(0, I) by seed; steps until f <= {QUAD_THRESHOLD:g} f(x0) (at most "
        f"{QUAD_CAP}); rate from {', '.join(f'{x:g}' for x in QUAD_LRS)}. MNIST (mnist5k, or --data): MLP "
        f"784-64-10, batch {BATCH}, {MNIST_CAP} steps; steps until the loss on a fixed probe of {PROBE_SIZE} "
        f"training images (every {PROBE_EVERY} steps) reaches {TARGET:g} x ln(classes); rate from "
        f"{', '.join(f'{x:g}' for x in MNIST_LRS)}. Each rate is chosen on a tuning seed (the first seed + 1000) "
        "by the fewest steps to the threshold. Overshoot: the total rise of the loss along the whole path, "
        "sum max(0, f_{t+1} - f_t) / f_0. Pairs: per seed, the same start, or the same split, initialization "
        "and data order. Not reaching the threshold counts as the cap + 1."
    )
    rule = (
        "Four paired comparisons on the log scale, NAG vs momentum, lower is better, form difference, margin "
        "log 1.1 (10 %): steps to the threshold and overshoot, on the quadratic and on MNIST; seeds in looks of "
        f"{' then '.join(map(str, SCHEDULE))} with the O'Brien–Fleming boundary. Supported when all four favour "
        "NAG by more than the margin; contradicted when any favours momentum, or is equal within the margin."
    )

    def plan(self, ctx, results: dict[str, Any]) -> list[Run]:
        """The tuning runs; then the paired seeds of each look at the tuned rates, while undecided."""
        if todo := not_run(tuning_runs(ctx), results):
            return todo
        n = self.next_look(ctx, results, judged=any(k.startswith(("quadratic ", "mnist ")) for k in results))
        if n is None:
            return []
        lrs = {name: tuned(results, name)[1] for name in NAMES}
        return not_run(seed_runs_at(ctx, lrs, unit_seeds(ctx, n)), results)

    def collect(self, ctx, results: dict[str, Any]) -> Measurements:
        """The numbers and the figure, from the seeds run so far."""
        seeds = sorted({int(k.rsplit(" ", 1)[1]) for k in results if k.startswith("mnist ")})
        seeds = [s for s in seeds if all(f"{p} {n} seed {s}" in results for p in ("quadratic", "mnist") for n in NAMES)]
        numbers: dict[str, Any] = {"data": ctx.data(DATA), "seeds": seeds, "quadratic": {}, "mnist": {}}
        for name in NAMES:
            i, lr = tuned(results, name)
            quad = [results[f"quadratic {name} seed {s}"] for s in seeds]
            numbers["quadratic"][name] = {
                "lr": QUAD_LRS[i],
                "steps": [q["steps"][i] for q in quad],
                "overshoot": [q["overshoot"][i] for q in quad],
                "path": quad[0]["paths"][i] if quad else [],
            }
            runs = [results[f"mnist {name} seed {s}"] for s in seeds]
            cap = ctx.profile.size(MNIST_CAP)
            numbers["mnist"][name] = {
                "lr": lr,
                "steps": [cap + 1 if r["hit"] is None else r["hit"] for r in runs],
                "overshoot": [r["overshoot"] for r in runs],
                "diverged": sum(r["diverged"] for r in runs),
                "path": runs[0]["losses"] if runs else [],
            }
        figures = [("Loss against step, momentum vs NAG at mu = 0.99, each at its tuned rate", plot(numbers))]
        return Measurements(numbers, figures if seeds else [], seeds)

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, from the numbers `collect` returned."""
        parts, shown = [], []
        for problem in ("quadratic", "mnist"):
            nag, cm = m[problem]["nesterov"], m[problem]["momentum"]
            name = problem if problem == "quadratic" else f"MLP on {data_name(m.get('data', DATA))}"
            for what in ("steps", "overshoot"):
                parts.append(
                    part(
                        f"{name}: {'steps to the threshold' if what == 'steps' else 'overshoot'}, NAG vs momentum",
                        nag[what],
                        cm[what],
                        form="difference",
                        margin=RATIO,
                        log=True,
                        lower_is_better=True,
                        schedule=self.schedule,
                    )
                )
            shown.append(
                f"{name} (lr {nag['lr']:g} vs {cm['lr']:g}): steps {_median(nag['steps'])} vs "
                f"{_median(cm['steps'])}, overshoot {_median(nag['overshoot'])} vs {_median(cm['overshoot'])}"
            )
        return verdict(parts, "; ".join(shown) + " (medians, NAG vs momentum at mu = 0.99)")


def _median(xs: list[float]) -> str:
    return f"{sorted(xs)[len(xs) // 2]:.3g}" if xs else "-"


def plot(numbers: dict[str, Any]):
    """The loss paths of the first seed: the quadratic (every 10th step) and the MNIST probe."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, problem, every in ((axes[0], "quadratic", 10), (axes[1], "mnist", PROBE_EVERY)):
        for name in NAMES:
            v = numbers[problem][name]
            ys = [math.nan if y is None else max(y, 1e-16) for y in v["path"]]
            ax.plot([every * i for i in range(len(ys))], ys, label=f"{name}, lr {v['lr']:g}")
        ax.set(yscale="log", xlabel="step", ylabel="f / f(x0)" if problem == "quadratic" else "probe loss")
        ax.set_title(problem if problem == "quadratic" else f"MNIST ({numbers['data']})")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
