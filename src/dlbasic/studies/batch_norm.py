"""Claim `batch-norm`: normalizing layer statistics (subtract the mean, divide by the std) helps training.

The experiments scaled down: Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by
Reducing Internal Covariate Shift" (ICML 2015), figure 2 and §4.2: the same deep network trained with and
without batch norm, each at a learning rate that suits it, compared by how fast the loss falls; Santurkar,
Tsipras, Ilyas & Madry, "How Does Batch Normalization Help Optimization?" (NeurIPS 2018), figure 1: VGG with
and without batch norm, each at its best learning rate. The baseline gets a good initialization (He et al.
2015, fan-in), so batch norm is not judged against a badly scaled network, and each arm is judged at its own
best learning rate, so a reference rate cannot favour one arm.

Scaling: the small-input VGG-11 of `dlbasic.models.vgg` (eight 3x3 convolutions, three linear layers, He
fan-in init of every layer) on the 8x8 digits (or --data), SGD with momentum 0.9, batch 64, 3 epochs (60
steps: the early phase in which Ioffe & Szegedy's curves separate; 5 epochs cost 40 % more). Each
arm's learning rate is chosen on a separate tuning seed (1000 + the first profile seed) from a half-decade
grid (from 0.001: with 0.003 as the smallest rate, batch norm's best rate was the grid's edge), by its
last-epoch training loss; the profile seeds are then trained at the chosen rates and judged, so
the runs that chose a rate are not the ones that judge it (no selection bias). Pairing: the two arms of a
seed share split, initialization of every convolution and linear layer, and data order. Runs: stage 1
trains each arm at each rate of the grid on the tuning seed, stage 2 each arm at its chosen rate on each
profile seed.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt

from dlbasic.callbacks import Callback
from dlbasic.lab.registry import register_study
from dlbasic.lab.stats import decide
from dlbasic.lab.study import Measurements, Run, Study, Verdict, mean_std

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)

LRS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)  # half-decades
EPOCHS, BATCH, MOMENTUM = 3, 64, 0.9
NORMS = {"batch": "batch norm", "none": "no normalization"}
TUNING_SEED = 1000  # plus the first profile seed: the seed that chooses each arm's learning rate
TRAIN = "dlbasic.studies.batch_norm:arm_training"
COST = 1.1  # seconds of one training (one thread, quick profile)


class BatchLosses(Callback):
    """Records the training loss of every step."""

    def __init__(self):
        self.losses: list[float] = []

    def on_batch_end(self, trainer, logs: dict[str, float]) -> None:
        """Append the step's training loss to `losses`."""
        self.losses.append(float(logs["loss"]))


def final_loss(history: list[dict[str, float]], classes: int) -> float:
    """The last epoch's mean training loss; a run whose loss is not finite (diverged) counts as chance, ln K."""
    loss = history[-1]["train_loss"] if history else math.nan
    return float(loss) if math.isfinite(loss) else math.log(classes)


def largest_training_lr(losses: dict[str, float | None], classes: int) -> float:
    """The largest learning rate whose loss is finite and below chance (ln K): the run learned something
    (0 if none did). A run stuck at chance neither diverges nor trains."""
    ok = [float(lr) for lr, v in losses.items() if v is not None and math.isfinite(v) and v < math.log(classes)]
    return max(ok, default=0.0)


def best_lr(losses: dict[str, float]) -> str:
    """The learning rate (a key of `losses`) with the lowest loss; ties go to the smaller rate."""
    return min(losses, key=lambda lr: (losses[lr], float(lr)))


def nan_for_none(value: float | None) -> float:
    """A run's loss as a float: NaN where it was not finite (the run cache keeps those as None)."""
    return math.nan if value is None else float(value)


def tuning_name(norm: str, lr: float) -> str:
    """The name of the tuning run of `norm` at `lr`."""
    return f"tune-{norm}-lr{lr:g}"


def judged_name(norm: str, seed: int) -> str:
    """The name of the judged run of `norm` with `seed`, at its chosen rate."""
    return f"{norm}-seed{seed}"


def tuning_losses(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each arm's last-epoch training loss on the tuning seed by learning rate (NaN where it diverged)."""
    return {n: {f"{lr:g}": nan_for_none(results[tuning_name(n, lr)]["train_loss"]) for lr in LRS} for n in NORMS}


def chosen_lrs(tuning: dict[str, dict[str, float]]) -> dict[str, str]:
    """Each arm's learning rate: the lowest tuning loss, a diverged run counting as chance."""
    return {n: best_lr({k: final_loss([{"train_loss": v}], 10) for k, v in tuning[n].items()}) for n in NORMS}


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
    claim = "Normalizing layer statistics (subtract mean, divide by std) helps training."
    note = "원하는 레이어의 모든 파라미터의 통계치를 정규화. 평균을 빼고, 표준편차를 나눔."
    literature = (
        "Ioffe & Szegedy (https://arxiv.org/abs/1502.03167) normalize each channel's *activations* over "
        "the mini-batch, not the parameters as the note says, and report that it allows much higher "
        "learning rates. Santurkar et al. (https://arxiv.org/abs/1805.11604) attribute the gain to a "
        "smoother loss landscape rather than reduced internal covariate shift."
    )
    method = (
        f"VGG-11 for small inputs (eight 3x3 conv layers, He fan-in init) on the 8x8 digits (or --data), with "
        f"and without batch norm after each convolution, SGD (momentum {MOMENTUM}, batch {BATCH}, {EPOCHS} "
        f"epochs). Each arm's learning rate is the one of {LRS} with the lowest last-epoch training loss on "
        f"a tuning seed ({TUNING_SEED} + the first profile seed); each profile seed then trains both arms at "
        "their chosen rates (same split, initialization and data order). A diverged run's loss counts as "
        "chance, ln 10."
    )
    rule = (
        "A paired t-test over the profile seeds of the last-epoch training loss, batch norm against none, "
        "each at its own tuned learning rate (dlbasic.lab.stats.decide, lower is better, margin 0, "
        "two-sided 5 %), is the verdict. Test accuracy at the chosen rates and the largest learning rate of "
        "the grid at which the tuning run trained (final loss finite and below chance) are reported beside it."
    )

    def plan(self, ctx, results) -> list[Run]:
        """Stage 1: every arm at every rate of the grid on the tuning seed. Stage 2: every arm at its chosen
        rate on every profile seed."""
        if not results:
            seed = TUNING_SEED + ctx.seeds[0]
            return [
                Run(tuning_name(n, lr), TRAIN, {"norm": n, "lr": lr, "seed": seed}, COST) for n in NORMS for lr in LRS
            ]
        chosen = chosen_lrs(tuning_losses(results))
        runs = [
            Run(judged_name(n, seed), TRAIN, {"norm": n, "lr": float(chosen[n]), "seed": seed}, COST)
            for n in NORMS
            for seed in ctx.seeds
        ]
        return [r for r in runs if r.name not in results]

    def collect(self, ctx, results) -> Measurements:
        """Tuning losses, chosen rates, final losses and test accuracies (one per seed), and the figure."""
        tuning = tuning_losses(results)
        chosen = chosen_lrs(tuning)
        judged = {n: [results[judged_name(n, seed)] for seed in ctx.seeds] for n in NORMS}
        loss = {n: [final_loss([{"train_loss": nan_for_none(r["train_loss"])}], 10) for r in judged[n]] for n in NORMS}
        test = {n: [r["test_accuracy"] for r in judged[n]] for n in NORMS}
        curves = {n: [nan_for_none(v) for v in judged[n][0]["step_losses"]] for n in NORMS}
        numbers = {"tuning_loss": tuning, "chosen_lr": chosen, "final_loss": loss, "test_accuracy": test}
        return Measurements(numbers, [self._figure(tuning, chosen, curves)], list(ctx.seeds))

    @staticmethod
    def _figure(tuning, chosen, curves):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        for norm, label in NORMS.items():
            lrs = [float(k) for k in tuning[norm]]
            axes[0].plot(
                lrs, [min(v, 5.0) if math.isfinite(v) else 5.0 for v in tuning[norm].values()], marker="o", label=label
            )
            axes[1].plot(range(1, len(curves[norm]) + 1), curves[norm], label=f"{label}, lr {chosen[norm]}")
        axes[0].set_xscale("log")
        axes[0].axhline(math.log(10), color="black", ls="--", lw=1, label="chance: ln 10")
        axes[0].set_xlabel("learning rate (SGD, momentum 0.9)")
        axes[0].set_ylabel("last-epoch training loss (tuning seed)")
        axes[1].set_xlabel("step")
        axes[1].set_ylabel("training loss (first profile seed)")
        for ax in axes:
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        fig.tight_layout()
        return (
            "Left: last-epoch training loss against the learning rate on the tuning seed (diverged runs at the "
            "top). Right: loss per step of each arm at its chosen learning rate",
            fig,
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        bn, plain = m["final_loss"]["batch"], m["final_loss"]["none"]
        d = decide(bn, plain, lower_is_better=True)
        lr = m["chosen_lr"]
        trains = {n: largest_training_lr(m["tuning_loss"][n], 10) for n in NORMS}
        mean = lambda v: mean_std(v)[0]  # noqa: E731
        key = (
            f"training loss {mean(bn):.3f} with BN (lr {lr['batch']}) vs {mean(plain):.3f} without (lr "
            f"{lr['none']}), paired diff {-d.mean_diff:+.3f}; test accuracy {mean(m['test_accuracy']['batch']):.3f} "
            f"vs {mean(m['test_accuracy']['none']):.3f}; largest lr that trains {trains['batch']:g} vs "
            f"{trains['none']:g}"
        )
        return Verdict.of(
            d,
            key,
            {
                "supported": "at each arm's best learning rate, batch norm reached a lower training loss",
                "contradicted": "at each arm's best learning rate, training without batch norm reached a lower loss",
                "inconclusive": f"not decided: {d.reason}",
            },
        )
