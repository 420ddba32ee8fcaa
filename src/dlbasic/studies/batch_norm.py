"""Claim `batch-norm`: normalizing layer statistics (subtract the mean, divide by the std) helps training."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt

from dlbasic.callbacks import Callback
from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict, compare, pm
from dlbasic.studies.registry import register_study

LRS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
REFERENCE_LR = "0.01"  # loss curves and the loss comparison at this learning rate
EPOCHS, BATCH, MOMENTUM = 3, 64, 0.9
NORMS = ("none", "batch")


class BatchLosses(Callback):
    """Records the training loss of every step."""

    def __init__(self):
        self.losses: list[float] = []

    def on_batch_end(self, trainer, logs: dict[str, float]) -> None:
        self.losses.append(float(logs["loss"]))


def is_stable(step_losses: list[float], last_epoch_loss: float) -> bool:
    """A run is stable if every step's loss is finite and its last epoch ends below its first step's loss."""
    finite = all(math.isfinite(x) for x in step_losses) and math.isfinite(last_epoch_loss)
    return finite and bool(step_losses) and last_epoch_loss < step_losses[0]


def _pm(values: list[float]) -> str:
    return pm(values) if all(math.isfinite(v) for v in values) else "diverged"


def max_stable_lr(stable: dict[str, list[bool]]) -> float:
    """The largest learning rate at which every seed trained (0 if none did)."""
    ok = [float(lr) for lr, flags in stable.items() if all(flags)]
    return max(ok, default=0.0)


@register_study
class BatchNorm(Study):
    id = "batch-norm"
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
        f"tiny_cnn (two conv stages, 16 and 32 channels) on the 8x8 digits, with and without batch norm after "
        f"each convolution, trained with SGD (momentum {MOMENTUM}, batch {BATCH}, {EPOCHS} epochs) at learning "
        f"rates {LRS}, for each seed. A run is stable if every step's loss is finite and the last epoch's "
        "mean loss is below the first step's; the maximum stable learning rate is the largest at which "
        "every seed is stable. Step-by-step loss curves are recorded at lr {REFERENCE_LR}."
    )
    rule = (
        f"Supported if batch norm's maximum stable learning rate is higher than without it AND its last-epoch "
        f"loss at lr {REFERENCE_LR} is lower by more than the larger seed std; contradicted if its maximum "
        "stable learning rate is lower or its loss higher by that margin; inconclusive otherwise."
    )

    def measure(self, ctx) -> Measurements:
        final = {n: {f"{lr:g}": [] for lr in LRS} for n in NORMS}
        stable = {n: {f"{lr:g}": [] for lr in LRS} for n in NORMS}
        curves: dict[str, list[float]] = {}
        for norm in NORMS:
            for lr in LRS:
                key = f"{lr:g}"
                for seed in ctx.seeds:
                    cfg = ctx.config(
                        model="tiny_cnn",
                        data="digits",
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
                    last = s["history"][-1]["train_loss"]
                    ok = is_stable(record.losses, last)
                    final[norm][key].append(last if math.isfinite(last) else float("nan"))
                    stable[norm][key].append(ok)
                    if key == REFERENCE_LR and seed == ctx.seeds[0]:
                        curves[norm] = record.losses
        numbers = {"final_loss": final, "stable": stable, "max_stable_lr": {n: max_stable_lr(stable[n]) for n in NORMS}}
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        for norm in NORMS:
            label = "batch norm" if norm == "batch" else "no normalization"
            axes[0].plot(range(1, len(curves[norm]) + 1), curves[norm], label=label)
            means = [sum(v) / len(v) for v in final[norm].values()]
            axes[1].plot(LRS, [min(m, 5.0) if math.isfinite(m) else 5.0 for m in means], marker="o", label=label)
        axes[0].set_xlabel("step")
        axes[0].set_ylabel(f"training loss (lr {REFERENCE_LR})")
        axes[1].set_xscale("log")
        axes[1].axhline(math.log(10), color="black", ls="--", lw=1, label="chance: ln 10")
        axes[1].set_xlabel("learning rate (SGD, momentum 0.9)")
        axes[1].set_ylabel("last-epoch training loss (capped at 5)")
        for ax in axes:
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        fig.tight_layout()
        return Measurements(
            numbers,
            [
                (
                    "Left: loss per step with and without batch norm at the same learning rate. "
                    "Right: final loss against the learning rate; diverged runs sit at the cap",
                    fig,
                )
            ],
            list(ctx.seeds),
        )

    def judge(self, m) -> Verdict:
        lr_bn, lr_plain = m["max_stable_lr"]["batch"], m["max_stable_lr"]["none"]
        bn, plain = m["final_loss"]["batch"][REFERENCE_LR], m["final_loss"]["none"][REFERENCE_LR]
        if any(not math.isfinite(x) for x in bn + plain):
            loss_verdict = INCONCLUSIVE
        else:
            loss_verdict = compare(bn, plain, higher_is_better=False)
        key = (
            f"max stable lr {lr_bn:g} with BN vs {lr_plain:g} without; loss at lr {REFERENCE_LR}: {_pm(bn)} vs "
            f"{_pm(plain)}"
        )
        if lr_bn < lr_plain or loss_verdict == CONTRADICTED:
            return Verdict(CONTRADICTED, key, "batch norm trained worse or tolerated smaller learning rates")
        if lr_bn > lr_plain and loss_verdict == SUPPORTED:
            return Verdict(
                SUPPORTED, key, "batch norm trained faster at the same learning rate and stayed stable at higher ones"
            )
        return Verdict(INCONCLUSIVE, key, f"stable lr {'higher' if lr_bn > lr_plain else 'equal'}, loss {loss_verdict}")
