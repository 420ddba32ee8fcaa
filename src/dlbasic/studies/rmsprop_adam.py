r"""Claim `rmsprop-adam`: RMSprop is used instead of Adadelta; Adam (momentum + adaptive lr) is the safe default.

The experiment it scales down: Sivaprasad et al., "Optimizer benchmarking needs to account for hyperparameter
tuning" (ICML 2020) and Schmidt, Schneider & Hennig, "Descending through a crowded valley" (ICML 2021): an
optimizer is a safe default when its one-shot run at the default learning rate is close to what tuning its
rate would give, across tasks. The measure here is that gap, the *regret* of the default: the test accuracy
of the optimizer at its own best rate (chosen on validation accuracy) minus its test accuracy at its default
rate. The claim holds when Adam's regret is smaller than each rival's, the rivals fixed before any run: SGD
with momentum 0.9 (default lr 0.01), RMSprop (1e-3) and Adadelta (1.0), Adam at 1e-3: dlbasic's defaults
(`optim.default_lr`), torch's for Adam and Adadelta (torch's RMSprop defaults to 0.01, its SGD to 0.001).

Scaled down: two tasks stand in for Schmidt et al.'s eight problems: an MLP 64-64-10 on the 8x8 digits
(batch 32, 8 epochs) and an MLP 784-128-128-10 on MNIST (mnist5k, batch 128, 6 epochs), each on ``--data``
when the lab names it. Each optimizer's rates are the 7 half-decades from 1.5 decades below its default to
1.5 above (the region where the literature finds its best rate; a best rate at the grid's edge is reported).
Every cell of a paired seed shares its split, initialization and data order; a run whose loss turns
non-finite scores the chance accuracy. "RMSprop is used instead of Adadelta" is a statement about practice,
not measurable here: both optimizers' regrets are reported.

Runs: one per (task, optimizer, seed), its 7 rates (`grid_run`), in looks of 3, 6 and then 12 paired seeds.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, pm
from dlbasic.lab.verdicts import ACCURACY, looks, part, verdict
from dlbasic.optim import default_lr
from dlbasic.studies.adagrad import data_name, evaluate, mlp_problem, train_steps

DATA = "digits"  # the first task's source, unless the lab names one (--data)
TASKS: dict[str, dict[str, Any]] = {
    "MLP 64": {"data": "digits", "hidden": (64,), "batch": 32, "epochs": 8, "net": "MLP 64-64-10"},
    "MLP 128-128": {"data": "mnist5k", "hidden": (128, 128), "batch": 128, "epochs": 6, "net": "MLP 784-128-128-10"},
}
ADAM, RIVALS = "adam", ("momentum", "rmsprop", "adadelta")
OPTIMIZERS = (ADAM, *RIVALS)
OFFSETS = tuple(range(-3, 4))  # half-decades from the default
SCHEDULE = looks(3)


def grid(name: str) -> tuple[float, ...]:
    """The optimizer's rates: its default times 10^(k/2), k = -3..3 (4 significant digits)."""
    return tuple(float(f"{default_lr(name) * 10 ** (k / 2):.4g}") for k in OFFSETS)


DEFAULT = OFFSETS.index(0)  # the default's index in every grid


def grid_run(ctx, task: str, optimizer: str, seed: int) -> dict[str, Any]:
    """The optimizer at each rate of its grid on `task` and `seed`: {"val", "test": accuracies by rate (chance
    for a diverged run), "diverged": indices}."""
    from dlbasic.optim.factory import create_optimizer

    t = TASKS[task]
    out: dict[str, Any] = {"val": [], "test": [], "diverged": []}
    make_model, xy = mlp_problem(ctx, ctx.data(t["data"]), seed, t["hidden"])
    for i, lr in enumerate(grid(optimizer)):
        model = make_model()
        opt = create_optimizer(optimizer, model.parameters(), lr=lr)
        steps = (len(xy["train"][0]) // t["batch"]) * ctx.profile.epochs(t["epochs"])
        diverged = train_steps(model, opt, xy["train"], t["batch"], steps, seed)
        val_loss, val = evaluate(model, xy["val"])
        test = evaluate(model, xy["test"])[1]
        if diverged or not math.isfinite(val_loss):
            chance = 1 / (int(xy["train"][1].max()) + 1)
            val, test = chance, chance
            out["diverged"].append(i)
        out["val"].append(val)
        out["test"].append(test)
    return out


GRID_RUN = "dlbasic.studies.rmsprop_adam:grid_run"
GRID_COST = {"MLP 64": 0.8, "MLP 128-128": 3.4}  # seconds of one run, 7 rates (one thread, quick profile; measured)


def regret(record: dict[str, Any]) -> tuple[float, int]:
    """(test accuracy at the rate best on validation − test accuracy at the default, that rate's index); ties
    on validation go to the rate nearest the default."""
    best = max(range(len(OFFSETS)), key=lambda i: (record["val"][i], -abs(OFFSETS[i])))
    return record["test"][best] - record["test"][DEFAULT], best


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
    form = "difference"
    schedule = SCHEDULE
    method = (
        "Two tasks, each on --data when the lab names it: "
        + "; ".join(
            f"{k}: {t['net']} on {t['data']}, batch {t['batch']}, {t['epochs']} epochs" for k, t in TASKS.items()
        )
        + ". Adam and the rivals fixed in advance, SGD with momentum 0.9, RMSprop and Adadelta, each train at the "
        "7 half-decade rates from 1.5 decades below its default lr to 1.5 above (defaults: "
        + ", ".join(f"{n} {default_lr(n):g}" for n in OPTIMIZERS)
        + "), every cell of a seed from the same split, initialization and data order (a diverged run scores the "
        "chance accuracy). An optimizer's regret on a seed is its test accuracy at the rate best on validation "
        "accuracy minus its test accuracy at its default rate. Reported: each optimizer's accuracy at its "
        "default, the rank of Adam's default among the four, the best rates (and whether at a grid edge)."
    )
    rule = (
        "Six paired comparisons of the regret (test accuracy), Adam vs each rival (momentum, RMSprop, Adadelta) "
        "on each task, lower is better, form difference, margin 0.005 (half a point); seeds in looks of "
        f"{' then '.join(map(str, SCHEDULE))} with the O'Brien–Fleming boundary. Supported when every "
        "comparison has Adam's regret smaller by more than the margin; contradicted when any has it larger, or "
        "equal within the margin."
    )

    def seed_runs(self, ctx, seeds) -> list[Run]:
        """Every (task, optimizer) grid on each paired seed."""
        return [
            Run(f"{task} {name} seed {s}", GRID_RUN, {"task": task, "optimizer": name, "seed": s}, GRID_COST[task])
            for s in seeds
            for task in TASKS
            for name in OPTIMIZERS
        ]

    def collect(self, ctx, results: dict[str, Any]) -> Measurements:
        """The numbers and the figure, from the seeds run so far."""
        seeds = sorted({int(k.rsplit(" ", 1)[1]) for k in results})
        seeds = [s for s in seeds if all(f"{t} {n} seed {s}" in results for t in TASKS for n in OPTIMIZERS)]
        tasks: dict[str, Any] = {}
        for task in TASKS:
            tasks[task] = {}
            for name in OPTIMIZERS:
                runs = [results[f"{task} {name} seed {s}"] for s in seeds]
                scored = [regret(r) for r in runs]
                tasks[task][name] = {
                    "grid": list(grid(name)),
                    "regret": [x for x, _ in scored],
                    "best_lr": [grid(name)[i] for _, i in scored],
                    "default_test": [r["test"][DEFAULT] for r in runs],
                    "test": [r["test"] for r in runs],
                    "diverged": sum(len(r["diverged"]) for r in runs),
                }
        numbers = {"data": {k: ctx.data(t["data"]) for k, t in TASKS.items()}, "seeds": seeds, "tasks": tasks}
        figures = [("Test accuracy against the learning rate (mean over seeds); *: each default", plot(numbers))]
        return Measurements(numbers, figures if seeds else [], seeds)

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, from the numbers `collect` returned."""
        parts, shown = [], []
        for task, v in m["tasks"].items():
            adam = v[ADAM]
            task = f"{task} on {data_name(m['data'][task])}" if "data" in m else task
            for rival in RIVALS:
                parts.append(
                    part(
                        f"{task}: regret of the default lr, Adam vs {rival}",
                        adam["regret"],
                        v[rival]["regret"],
                        form="difference",
                        margin=ACCURACY,
                        lower_is_better=True,
                        schedule=self.schedule,
                    )
                )
            ranks = [
                1 + sum(v[r]["default_test"][i] > adam["default_test"][i] for r in RIVALS)
                for i in range(len(adam["regret"]))
            ]
            edges = [
                f"{n} {x:g}"
                for n in OPTIMIZERS
                for x in sorted(set(v[n]["best_lr"]))
                if x in (v[n]["grid"][0], v[n]["grid"][-1])
            ]
            shown.append(
                f"{task}: regret (points) "
                + ", ".join(f"{n} {pm([100 * x for x in v[n]['regret']], 2)}" for n in OPTIMIZERS)
                + f"; Adam's default ranks {', '.join(map(str, ranks))} of {len(OPTIMIZERS)}"
                + (f"; best lr at a grid edge: {', '.join(edges)}" if edges else "")
            )
        return verdict(parts, "; ".join(shown))


def plot(numbers: dict[str, Any]):
    """Test accuracy against the absolute rate per task, each optimizer's default starred."""
    tasks = numbers["tasks"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 3.8))
    for ax, (task, v) in zip(np.atleast_1d(axes), tasks.items(), strict=True):
        for name in OPTIMIZERS:
            acc = np.mean(np.asarray(v[name]["test"], dtype=float), axis=0)
            ax.plot(v[name]["grid"], acc, marker="o", label=name, lw=2.5 if name == ADAM else 1.2)
            ax.plot([v[name]["grid"][DEFAULT]], [acc[DEFAULT]], "k*", ms=9)
        ax.set(xscale="log", xlabel="learning rate", ylabel="test accuracy (mean over seeds)", title=task)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
