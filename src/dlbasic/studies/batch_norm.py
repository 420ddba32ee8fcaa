"""Claim `batch-norm`: normalizing layer statistics (subtract the mean, divide by the std) helps training.

The experiments scaled down: Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by
Reducing Internal Covariate Shift" (ICML 2015), figure 2 and §4.2: the same deep network trained with and
without batch norm, each at a learning rate that suits it, compared by the steps it takes to reach a target
(Inception's accuracy, reached in 14 times fewer steps with batch norm); Santurkar, Tsipras, Ilyas & Madry,
"How Does Batch Normalization Help Optimization?" (NeurIPS 2018), figure 1: VGG with and without batch norm,
each at its best learning rate. The baseline gets a good initialization (He et al. 2015, fan-in), so batch
norm is not judged against a badly scaled network, and each arm is judged at its own best learning rate, so
a reference rate cannot favour one arm.

Scaling: the small-input VGG-11 of `dlbasic.models.vgg` (eight 3x3 convolutions, three linear layers, He
fan-in init of every layer) on the 8x8 digits (or --data), SGD with momentum 0.9, batch 64, 4 epochs (about
80 steps: the early phase in which Ioffe & Szegedy's curves separate; 28x28 images would cost about three
times more per run, beyond the study's budget of 20 trainings). What is measured is the first step at
which the training loss, averaged over the last `WINDOW` steps, reaches `TARGET` (0.5, a fifth of chance,
ln 10); a run that does not reach it within the budget (or diverges) counts as budget + 1 steps, a lower
bound of its true count. Each arm's learning rate is chosen on a separate tuning seed (1000 + the first
profile seed) from a half-decade grid (from 0.001), by the fewest steps to the target (then the lowest final
loss); the paired seeds then train both arms at the chosen rates and are judged, so the runs that chose a
rate are not the ones that judge it (no selection bias). Pairing: the two arms of a seed share split,
initialization of every convolution and linear layer, and data order. Runs: stage 1 trains each arm at
each rate of the grid on the tuning seed; then each arm at its chosen rate on 3 paired seeds, and on 6
when the first look is undecided.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from dlbasic.callbacks import Callback
from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, mean_std, not_run, seeds_of_every_arm, unit_seeds
from dlbasic.lab.verdicts import RATIO, looks, part, verdict

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)

LRS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)  # half-decades
EPOCHS, BATCH, MOMENTUM = 4, 64, 0.9
TARGET, WINDOW = 0.5, 5  # training loss averaged over the last WINDOW steps
NORMS = {"batch": "batch norm", "none": "no normalization"}
SCHEDULE = looks(3)
TUNING_SEED = 1000  # plus the first profile seed: the seed that chooses each arm's learning rate
TRAIN = "dlbasic.studies.batch_norm:arm_training"
COST = 1.3  # seconds of one training (one thread, quick profile)


class BatchLosses(Callback):
    """Records the training loss of every step."""

    def __init__(self):
        self.losses: list[float] = []

    def on_batch_end(self, trainer, logs: dict[str, float]) -> None:
        """Append the step's training loss to `losses`."""
        self.losses.append(float(logs["loss"]))


def nan_for_none(value: float | None) -> float:
    """A run's loss as a float: NaN where it was not finite (the run cache keeps those as None)."""
    return math.nan if value is None else float(value)


def window_steps_to(losses: list[float | None], target: float = TARGET, window: int = WINDOW) -> int:
    r"""The first step t (1-based) at which the mean loss of steps t - window + 1 .. t is at most `target`;
    len(losses) + 1 when no window reaches it (or the loss is not finite first): a lower bound."""
    x = np.array([nan_for_none(v) for v in losses], dtype=float)
    for t in range(window, len(x) + 1):
        w = x[t - window : t]
        if not np.all(np.isfinite(w)):
            break
        if w.mean() <= target:
            return t
    return len(x) + 1


def tuning_name(norm: str, lr: float) -> str:
    """The name of the tuning run of `norm` at `lr`."""
    return f"tune-{norm}-lr{lr:g}"


def judged_name(norm: str, seed: int) -> str:
    """The name of the judged run of `norm` with `seed`, at its chosen rate."""
    return f"{norm}-seed{seed}"


def score(run: dict[str, Any]) -> tuple[int, float]:
    """A tuning run's rank key: steps to the target, then the final loss (a diverged run's is infinite)."""
    loss = nan_for_none(run["train_loss"])
    return window_steps_to(run["step_losses"]), loss if math.isfinite(loss) else math.inf


def tuning_table(results: dict[str, Any]) -> dict[str, dict[str, list]]:
    """Each arm's (steps to target, final loss) on the tuning seed by learning rate."""
    return {n: {f"{lr:g}": list(score(results[tuning_name(n, lr)])) for lr in LRS} for n in NORMS}


def chosen_lrs(tuning: dict[str, dict[str, list]]) -> dict[str, str]:
    """Each arm's learning rate: the fewest steps to the target, then the lowest final loss, then the smaller."""
    return {n: min(tuning[n], key=lambda lr: (*tuning[n][lr], float(lr))) for n in NORMS}


def judged_seeds(results: dict[str, Any]) -> list[int]:
    """The paired seeds whose runs of both arms are in `results`."""
    return seeds_of_every_arm(results, tuple(NORMS))


def arm_training(ctx, norm: str, lr: float, seed: int) -> dict[str, Any]:
    """Train VGG-11 with `norm` at `lr` with `seed`; its last-epoch training loss (NaN if it diverged), test
    accuracy and the training loss of every step."""
    cfg = ctx.config(
        model="vgg11",
        data=ctx.data(DATA),
        norm=norm,
        optimizer="sgd",
        lr=lr,
        momentum=MOMENTUM,
        epochs=ctx.profile.epochs(EPOCHS),
        batch_size=BATCH,
        seed=seed,
    )
    record = BatchLosses()
    s = ctx.train(cfg, callbacks=[record])
    return {
        "train_loss": s["history"][-1]["train_loss"],
        "test_accuracy": s["test_accuracy"],
        "step_losses": record.losses,
    }


@register_study
class BatchNorm(Study):
    """Claim `batch-norm`: Normalizing layer statistics (subtract mean, divide by std) helps training."""

    id = "batch-norm"
    trains_on = DATA
    section = "Regularization"
    form = "difference"
    schedule = SCHEDULE
    claim = "Normalizing layer statistics (subtract mean, divide by std) helps training."
    note = "원하는 레이어의 모든 파라미터의 통계치를 정규화. 평균을 빼고, 표준편차를 나눔."
    literature = (
        "Ioffe & Szegedy (https://arxiv.org/abs/1502.03167) normalize each channel's *activations* over "
        "the mini-batch, not the parameters as the note says, and report that it allows much higher "
        "learning rates and reaches the baseline's accuracy in 14 times fewer steps. Santurkar et al. "
        "(https://arxiv.org/abs/1805.11604) attribute the gain to a smoother loss landscape rather than "
        "reduced internal covariate shift."
    )
    method = (
        f"VGG-11 for small inputs (eight 3x3 conv layers, He fan-in init) on the 8x8 digits (or --data), with "
        f"and without batch norm after each convolution, SGD (momentum {MOMENTUM}, batch {BATCH}, {EPOCHS} "
        f"epochs). Measured: the steps until the training loss, averaged over the last {WINDOW} steps, "
        f"reaches {TARGET} (not reached or diverged: the budget + 1, a lower bound). Each arm's learning "
        f"rate is the one of {LRS} with the fewest steps on a tuning seed ({TUNING_SEED} + the first profile "
        "seed); the paired seeds then train both arms at their chosen rates (same split, initialization and "
        "data order)."
    )
    rule = (
        "Steps to the training-loss target, batch norm vs none, each at its own tuned learning rate, paired by "
        "seed, compared on the log scale (a ratio) against the margin log 1.1 (10 %), lower is better "
        f"(dlbasic.lab.verdicts.part, form difference): supported when the paired interval lies beyond 10 % "
        f"fewer steps with batch norm, contradicted when it lies beyond 10 % more, or inside ±10 %. Seeds in "
        f"looks of {'/'.join(map(str, SCHEDULE))} with an O'Brien-Fleming boundary. Final training loss, test "
        "accuracy and the rates chosen are reported beside it."
    )

    def plan(self, ctx, results) -> list[Run]:
        """Stage 1: every arm at every rate of the grid on the tuning seed. Then every arm at its chosen
        rate on the paired seeds of the first look, and on those of the next while undecided."""
        if not results:
            seed = TUNING_SEED + ctx.seeds[0]
            return [
                Run(tuning_name(n, lr), TRAIN, {"norm": n, "lr": lr, "seed": seed}, COST) for n in NORMS for lr in LRS
            ]
        n = self.next_look(ctx, results, judged=bool(judged_seeds(results)))
        if n is None:
            return []
        chosen = chosen_lrs(tuning_table(results))
        runs = [
            Run(judged_name(norm, seed), TRAIN, {"norm": norm, "lr": float(chosen[norm]), "seed": seed}, COST)
            for seed in unit_seeds(ctx, n)
            for norm in NORMS
        ]
        return not_run(runs, results)

    def collect(self, ctx, results) -> Measurements:
        """Tuning table, chosen rates, steps to target, final losses and test accuracies by arm (one per paired
        seed), and the figure."""
        tuning = tuning_table(results)
        chosen = chosen_lrs(tuning)
        seeds = judged_seeds(results)
        judged = {n: [results[judged_name(n, seed)] for seed in seeds] for n in NORMS}
        numbers = {
            "tuning": tuning,
            "chosen_lr": chosen,
            "steps": {n: [window_steps_to(r["step_losses"]) for r in judged[n]] for n in NORMS},
            "budget": len(judged["batch"][0]["step_losses"]),
            "final_loss": {n: [nan_for_none(r["train_loss"]) for r in judged[n]] for n in NORMS},
            "test_accuracy": {n: [r["test_accuracy"] for r in judged[n]] for n in NORMS},
        }
        curves = {n: [nan_for_none(v) for v in judged[n][0]["step_losses"]] for n in NORMS}
        return Measurements(numbers, [self._figure(tuning, chosen, curves)], seeds)

    @staticmethod
    def _figure(tuning, chosen, curves):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        for norm, label in NORMS.items():
            lrs = [float(k) for k in tuning[norm]]
            axes[0].plot(lrs, [v[0] for v in tuning[norm].values()], marker="o", label=label)
            axes[1].plot(range(1, len(curves[norm]) + 1), curves[norm], label=f"{label}, lr {chosen[norm]}")
        axes[0].set_xscale("log")
        axes[0].set_xlabel("learning rate (SGD, momentum 0.9)")
        axes[0].set_ylabel(f"steps to loss {TARGET} (tuning seed)")
        axes[1].axhline(TARGET, color="black", ls="--", lw=1, label=f"target {TARGET}")
        axes[1].set_xlabel("step")
        axes[1].set_ylabel("training loss (first paired seed)")
        for ax in axes:
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        fig.tight_layout()
        return (
            "Left: steps to the training-loss target against the learning rate on the tuning seed (runs that "
            "never reach it at the budget + 1). Right: loss per step of each arm at its chosen learning rate",
            fig,
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `collect` returned."""
        bn, plain = m["steps"]["batch"], m["steps"]["none"]
        p = part(
            "steps to the training-loss target, batch norm vs none",
            bn,
            plain,
            form=self.form,
            margin=RATIO,
            lower_is_better=True,
            log=True,
            schedule=self.schedule,
        )
        lr, mean = m["chosen_lr"], (lambda v: mean_std(v)[0])
        missed = {n: sum(s > m["budget"] for s in m["steps"][n]) for n in NORMS}
        key = (
            f"steps to loss {TARGET}: {mean(bn):.0f} with BN (lr {lr['batch']}) vs {mean(plain):.0f} without "
            f"(lr {lr['none']}), ratio {math.exp(-p.comparison.mean):.2f} (not reached in {m['budget']} steps: "
            f"{missed['batch']} vs {missed['none']} of {len(bn)} seeds); final loss "
            f"{mean(m['final_loss']['batch']):.3f} vs {mean(m['final_loss']['none']):.3f}; test accuracy "
            f"{mean(m['test_accuracy']['batch']):.3f} vs {mean(m['test_accuracy']['none']):.3f}"
        )
        return verdict(
            [p],
            key,
            {
                "supported": "at each arm's best learning rate, batch norm reached the loss target in fewer steps",
                "contradicted": "at each arm's best learning rate, batch norm did not reach the loss target in "
                "10 % fewer steps",
            },
        )
