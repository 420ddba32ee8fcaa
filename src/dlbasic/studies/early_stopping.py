"""Claim `early-stopping`: stop when the validation error stops improving."""

from __future__ import annotations

import matplotlib.pyplot as plt

from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict, mean_std, pm
from dlbasic.studies.registry import register_study

EPOCHS, PATIENCE, SUBSET = 40, 5, 500


def _beyond(a: list[float], b: list[float]) -> float:
    """mean(a) - mean(b) in units of the larger seed std (inf when both are exact and differ)."""
    (ma, sa), (mb, sb) = mean_std(a), mean_std(b)
    margin = max(sa, sb)
    if margin == 0:
        return 0.0 if ma == mb else (float("inf") if ma > mb else float("-inf"))
    return (ma - mb) / margin


@register_study
class EarlyStoppingStudy(Study):
    id = "early-stopping"
    section = "Regularization"
    claim = "Stop when validation error stops improving."
    note = "validation error를 보고 학습을 일찍 멈춤."
    literature = (
        "Goodfellow, Bengio & Courville, Deep Learning (2016), section 7.8: early stopping returns the "
        "parameters of the epoch with the lowest validation error, and acts like an L2 penalty whose "
        "strength shrinks with the number of steps."
    )
    method = (
        f"An MLP (784-256-128-10, Adam lr 3e-3) is trained on {SUBSET} MNIST images for {EPOCHS} epochs, long "
        "enough to overfit, once to the end and once with early stopping (validation loss, patience "
        f"{PATIENCE}, best weights restored), for each seed. Both are tested once on the same 1000 test "
        "images: accuracy, cross-entropy loss, and the number of epochs trained."
    )
    rule = (
        "Supported if early stopping's mean test loss is lower than training to the end by more than the "
        "larger seed std AND its mean test accuracy is not lower by more than the larger seed std; "
        "contradicted if its test loss is higher beyond that margin AND its accuracy is not higher beyond it; "
        "inconclusive otherwise (within noise, or loss and accuracy pointing different ways)."
    )

    def measure(self, ctx) -> Measurements:
        runs: dict[str, dict[str, list[float]]] = {}
        curves: dict[int, list[float]] = {}
        stops: dict[int, int] = {}
        for name, patience in (("to_the_end", 0), ("early_stopping", PATIENCE)):
            runs[name] = {"test_accuracy": [], "test_loss": [], "epochs": []}
            for seed in ctx.seeds:
                cfg = ctx.config(
                    model="mlp",
                    lr=3e-3,
                    epochs=ctx.profile.epochs(EPOCHS),
                    seed=seed,
                    train_subset=ctx.profile.size(SUBSET),
                    early_stopping=patience,
                )
                s = ctx.train(cfg)
                for k in ("test_accuracy", "test_loss", "epochs"):
                    runs[name][k].append(s[k])
                if patience == 0:
                    curves[seed] = [h["val_loss"] for h in s["history"]]
                else:
                    losses = [h["val_loss"] for h in s["history"]]
                    stops[seed] = losses.index(min(losses)) + 1  # the restored epoch
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for seed, losses in curves.items():
            (line,) = ax.plot(range(1, len(losses) + 1), losses, label=f"validation loss, seed {seed}")
            ax.axvline(
                stops[seed],
                color=line.get_color(),
                ls="--",
                lw=1,
                label=f"weights kept by early stopping (epoch {stops[seed]})",
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation cross-entropy")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        return Measurements(
            {**runs, "best_epoch": [stops[s] for s in ctx.seeds]},
            [("Validation loss while training to the end; dashed: the epoch early stopping keeps", fig)],
            list(ctx.seeds),
        )

    def judge(self, m) -> Verdict:
        es, end = m["early_stopping"], m["to_the_end"]
        loss_gain = _beyond(end["test_loss"], es["test_loss"])  # > 1: early stopping's loss is lower
        acc_gain = _beyond(es["test_accuracy"], end["test_accuracy"])  # < -1: early stopping is less accurate
        key = (
            f"test loss {pm(es['test_loss'])} vs {pm(end['test_loss'])}, accuracy {pm(es['test_accuracy'])} vs "
            f"{pm(end['test_accuracy'])}, epochs {mean_std(es['epochs'])[0]:.0f} vs "
            f"{mean_std(end['epochs'])[0]:.0f} (early stopping vs to the end)"
        )
        if loss_gain < -1 and acc_gain <= 1:
            return Verdict(CONTRADICTED, key, "the early-stopped model has a higher test loss beyond seed noise")
        if loss_gain > 1 and acc_gain >= -1:
            return Verdict(
                SUPPORTED,
                key,
                "stopping at the lowest validation loss gives a lower test loss, no worse accuracy, and fewer epochs",
            )
        if loss_gain > 1:
            return Verdict(INCONCLUSIVE, key, "a lower test loss but a lower test accuracy: the evidence is mixed")
        return Verdict(INCONCLUSIVE, key, "the test loss difference is within seed noise")
