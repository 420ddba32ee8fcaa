r"""Claim `gd-variants`: SGD uses one sample per step, mini-batch some, batch gradient descent all (and the
mini-batch is the one mainly used).

The experiment it scales down: Bottou, Curtis & Nocedal, "Optimization methods for large-scale machine
learning" (SIAM Review 2018, §3.3 and §4): per example seen, a stochastic method makes far more progress than
batch gradient descent, which spends a whole pass on one step; and Shallue et al., "Measuring the effects of
data parallelism on neural network training" (JMLR 2019): with the learning rate tuned for each batch size,
the steps needed fall almost in proportion to the batch size while it is small ("perfect scaling"), so per
step (the serial cost on parallel hardware) a mini-batch beats one sample. Those are the two reasons the
mini-batch is the one mainly used, and each is measured at its own budget:

* equal examples (the data cost): batch 32 against the full batch, both for the same number of epochs;
* equal steps (the serial cost): batch 32 against batch 1, both for the same number of optimizer steps.

Scaled down: plain SGD on an MLP 64-64-10 on the 8x8 digits (or ``--data``), 10 epochs; the learning rate is
tuned for each batch size on a half-decade grid on a tuning seed (lowest final training loss), then each
batch size trains at its own rate on the profile's seeds, paired (same split, initialization, data order).
The measurement is the training-set loss of the final weights: a deterministic function of the run, so no
wall-clock time enters (steps and examples are counted).

Runs: each batch size's grid on the tuning seed, one run per rate (stage 1); then each batch size at its
rate on each seed (stage 2). They are learning-rate's `final_loss` runs: the batch-32 ones are that study's.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt

from dlbasic.lab.registry import register_study
from dlbasic.lab.stats import decide
from dlbasic.lab.study import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Run, Study, Verdict, fmt
from dlbasic.studies.learning_rate import DATA, GRID, as_record, final_loss_run, lowest_final, sgd_steps, tuning_seed

EPOCHS = 10
MINI = 32
MARGIN = math.log(1.1)  # smallest effect of interest: a 10 % lower final loss (in log loss)


def budgets(n: int, epochs: int) -> dict[str, dict[str, int]]:
    """Steps and examples per arm for `n` training images: batch 32 and the full batch see `epochs` passes
    (equal examples); batch 1 takes as many steps as batch 32 (equal steps)."""
    mini_steps = epochs * math.ceil(n / MINI)
    return {
        "1": {"batch": 1, "steps": mini_steps, "examples": mini_steps},
        "32": {"batch": MINI, "steps": mini_steps, "examples": epochs * n},
        "full": {"batch": n, "steps": epochs, "examples": epochs * n},
    }


def arm_batch(arm: str, budget: dict[str, int]) -> int | str:
    """The batch size of an arm as the config takes it ("full" for the full batch)."""
    return "full" if arm == "full" else budget["batch"]


def combine(decisions: dict[str, object]) -> str:
    """The verdict of a conjunction of sub-claims: supported if every one is, contradicted if any is."""
    verdicts = [d.verdict for d in decisions.values()]
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    return SUPPORTED if all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE


@register_study
class GDVariants(Study):
    """Claim `gd-variants`: SGD uses one sample, mini-batch some, batch GD all."""

    id = "gd-variants"
    trains_on = DATA
    section = "Practical Gradient Descent Methods"
    claim = "SGD uses one sample, mini-batch some, batch GD all."
    note = (
        "Stochastic gradient descent (SGD): 하나의 sample로 gradient를 계산하여 업데이트. Mini-batch gradient "
        "descent: 일부분의 sample들로 gradient 계산. (주로 사용) Batch gradient descent: 전체 데이터를 사용하여 "
        "gradient 계산."
    )
    literature = (
        "Bottou, Curtis & Nocedal (SIAM Review 2018): per example, stochastic steps make more progress than "
        "a full-batch step; Shallue et al. (JMLR 2019): with the lr tuned per batch size, steps to a result "
        "fall almost in proportion to a small batch size, so per step a mini-batch beats one sample. "
        "Wall-clock comparisons depend on the machine and its load; examples and steps do not."
    )
    method = (
        f"Plain SGD trains an MLP 64-64-10 on the 8x8 digits (or --data) with batch 1, {MINI} and the full "
        f"training set. Budgets: batch {MINI} and the full batch train {EPOCHS} epochs (equal examples); batch 1 "
        f"takes as many steps as batch {MINI} (equal steps). Each batch size's learning rate is the one of the "
        f"half-decade grid {', '.join(f'{x:g}' for x in GRID)} with the lowest final training loss on a tuning "
        "seed (the profile's first seed + 1000; rates that diverge never win); then each trains at its own "
        "rate on each profile seed, paired by seed. Measured: the training-set loss of the final weights "
        "(eval mode); a run that diverges on a judged seed scores its initial loss (no progress)."
    )
    rule = (
        f"Two paired t-tests (stats.decide) on the log final training loss, margin ln 1.1 (10 %): (a) equal "
        f"examples: batch {MINI} vs the full batch; (b) equal steps: batch {MINI} vs batch 1. The claim (the "
        "mini-batch is the practical middle) needs both: supported if both are supported, contradicted if "
        "either is contradicted, inconclusive otherwise."
    )

    def plan(self, ctx, results: dict[str, Any]) -> list[Run]:
        """Each batch size's grid on the tuning seed; once it is run, each batch size at its rate on each seed."""
        n, _ = sgd_steps(ctx)
        tune = tuning_seed(ctx)
        runs = [
            final_loss_run(f"{arm} grid {lr:g}", lr, tune, arm_batch(arm, p), p["steps"], cost)
            for arm, p, cost in self.arms(n, ctx)
            for lr in GRID
        ]
        if any(r.name not in results for r in runs):
            return runs
        return [
            final_loss_run(f"{arm} seed {seed}", self.best(results, arm), seed, arm_batch(arm, p), p["steps"], cost)
            for arm, p, cost in self.arms(n, ctx)
            for seed in ctx.seeds
        ]

    @staticmethod
    def arms(n: int, ctx) -> list[tuple[str, dict[str, int], float]]:
        """(arm, its budget, the seconds of one of its runs) for each batch size."""
        costs = {"1": 0.2, "32": 0.2, "full": 0.05}
        return [(arm, p, costs[arm]) for arm, p in budgets(n, ctx.profile.epochs(EPOCHS)).items()]

    @staticmethod
    def grid(results: dict[str, Any], arm: str) -> dict[str, dict[str, Any]]:
        """The tuning records of one arm, by lr (f"{lr:g}", in grid order)."""
        return {f"{lr:g}": as_record(results[f"{arm} grid {lr:g}"]) for lr in GRID}

    def best(self, results: dict[str, Any], arm: str) -> float:
        """The arm's rate with the lowest final loss on the tuning seed."""
        best = lowest_final(self.grid(results, arm))
        if best is None:
            raise RuntimeError(f"every learning rate diverged for batch {arm} on the tuning seed")
        return best

    def collect(self, ctx, results: dict[str, Any]) -> Measurements:
        """The numbers and the figure, from the runs' final losses."""
        n, _ = sgd_steps(ctx)
        plan = budgets(n, ctx.profile.epochs(EPOCHS))
        tune = tuning_seed(ctx)
        numbers: dict = {
            "train_images": n,
            "budgets": plan,
            "tuning_seed": tune,
            "lr": {},
            "grid_final_loss": {},
            "final_loss": {},
        }
        for arm in plan:
            numbers["lr"][arm] = self.best(results, arm)
            numbers["grid_final_loss"][arm] = {k: v["final"] for k, v in self.grid(results, arm).items()}
            finals = []
            for seed in ctx.seeds:
                r = as_record(results[f"{arm} seed {seed}"])
                finals.append(r["losses"][0] if r["diverged"] else r["final"])
            numbers["final_loss"][arm] = finals
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        for arm, grid in numbers["grid_final_loss"].items():
            lrs = [float(k) for k, v in grid.items() if math.isfinite(v)]
            axes[0].plot(
                lrs,
                [grid[f"{x:g}"] for x in lrs],
                "o-",
                label=f"batch {arm}: {plan[arm]['steps']} steps, {plan[arm]['examples']} examples",
            )
        axes[0].set(
            xscale="log",
            yscale="log",
            xlabel="learning rate",
            ylabel="final training loss",
            title=f"tuning seed {tune}",
        )
        axes[0].legend(fontsize=7)
        arms = list(plan)
        for i, seed in enumerate(ctx.seeds):
            axes[1].plot(arms, [numbers["final_loss"][a][i] for a in arms], "o-", alpha=0.7, label=f"seed {seed}")
        axes[1].set(
            yscale="log", xlabel="batch size (each at its tuned lr)", ylabel="final training loss", title="judged seeds"
        )
        axes[1].legend(fontsize=7)
        for ax in axes:
            ax.grid(alpha=0.3)
        fig.tight_layout()
        return Measurements(
            numbers,
            [
                (
                    "Final training loss: against the lr per batch size (left); each batch size "
                    "at its tuned lr on the judged seeds (right)",
                    fig,
                )
            ],
            list(ctx.seeds),
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        loss = {arm: [math.log(x) for x in v] for arm, v in m["final_loss"].items()}
        decisions = {
            "equal examples, 32 vs full": decide(loss["32"], loss["full"], lower_is_better=True, margin=MARGIN),
            "equal steps, 32 vs 1": decide(loss["32"], loss["1"], lower_is_better=True, margin=MARGIN),
        }
        shown = {arm: ", ".join(fmt(x) for x in v) for arm, v in m["final_loss"].items()}
        b = m["budgets"]
        key = (
            f"final training loss at {b['32']['examples']} examples: batch 32 {shown['32']} vs full batch "
            f"{shown['full']}; at {b['32']['steps']} steps: batch 32 {shown['32']} vs batch 1 {shown['1']} "
            f"(tuned lr: {', '.join(f'batch {a} {fmt(x)}' for a, x in m['lr'].items())})"
        )
        verdict = combine(decisions)
        parts = "; ".join(f"{name}: {d.verdict}" for name, d in decisions.items())
        reason = {
            SUPPORTED: "the mini-batch learns more per example than batch GD and more per step than "
            "one-sample SGD, each at its own tuned lr",
            CONTRADICTED: f"the mini-batch lost a comparison it should win ({parts})",
            INCONCLUSIVE: f"not every comparison was decided ({parts})",
        }[verdict]
        return Verdict(verdict, key, reason, "; ".join(f"{name}: {d}" for name, d in decisions.items()))
