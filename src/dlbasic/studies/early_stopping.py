"""Claim `early-stopping`: stop when the validation error stops improving.

The experiment scaled down: Prechelt, "Early Stopping - But When?" (Neural Networks: Tricks of the Trade,
1998) and Goodfellow, Bengio & Courville, *Deep Learning* (2016), §7.8 and algorithm 7.1: train a network
that overfits, watch the validation error, keep the parameters of its best epoch, stop after `patience`
epochs without improvement, and compare the test error of those parameters, and the epochs trained, with
training to the end of a fixed long budget (Prechelt compares stopping criteria by test error and training
time). The claim is one of non-inferiority (CLAIMS.md v0.3): early stopping costs fewer epochs and its test
error is not worse by more than half a point. An earlier version stopped on the validation *loss*, which
stops long before the validation error does (epoch 11 of 40) and cost 1.6 points of test accuracy; the rule
the note states, and algorithm 7.1's, is the validation error.

Scaling: an MLP on 500 MNIST digits (or --data) for 40 epochs (it fits the training set in about ten), a
patience of 10 epochs (a quarter of the budget: Prechelt's slower criteria trade time for test error), the
400 validation images of the data's pool. Pairing: one training per seed gives both arms: the rule draws no
random numbers, so an early-stopped run follows the to-the-end run's trajectory exactly until it stops, and
its restored weights are that trajectory's weights at the epoch of least validation error (the earliest on
ties, as a strict improvement is needed). The training records test accuracy at every epoch, so both arms
are read off one trajectory. The seeds come in looks of 16 and 32: a run is cheap, and a half-point margin
on a difference that spreads by about a point between seeds needs many.

Runs: one per seed (a training to the end, with the validation and test accuracy of every epoch).
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt

from dlbasic.callbacks import Callback
from dlbasic.data import ImageDataset
from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, mean_std, unit_seeds
from dlbasic.lab.verdicts import ACCURACY, RATIO, looks, part, verdict
from dlbasic.training.run import load_data

DATA = "mnist5k"  # the source its runs train on, unless the lab names one (--data)

EPOCHS, PATIENCE, SUBSET = 40, 10, 500
SCHEDULE = looks(16)  # paired seeds at each look
TRAIN = "dlbasic.studies.early_stopping:trajectory"
COST = 0.8  # seconds of one run (one thread, quick profile)
ARMS = ("early_stopping", "to_the_end")


class EvaluateTestEachEpoch(Callback):
    """Adds the test accuracy and loss of the current weights to every epoch's logs (no random numbers drawn,
    so the trajectory is the same as without it)."""

    def __init__(self, test: ImageDataset):
        self.test = test

    def on_epoch_end(self, trainer, epoch: int, logs: dict[str, float]) -> None:
        """Evaluate the test split with the weights at the end of this epoch."""
        result = trainer.evaluate(self.test)
        logs["test_accuracy"], logs["test_loss"] = result["accuracy"], result["loss"]


def stopping_point(val_accuracy: list[float], patience: int) -> tuple[int, int]:
    """(best, stop): the epoch (from 1) whose weights early stopping on validation error restores, and the epoch
    it stops at: the first epoch `patience` epochs after the last strict improvement, or the last epoch."""
    best, best_acc = 1, val_accuracy[0]
    for epoch, acc in enumerate(val_accuracy, start=1):
        if acc > best_acc:
            best, best_acc = epoch, acc
        if epoch - best >= patience:
            return best, epoch
    return best, len(val_accuracy)


def trajectory(ctx, seed: int) -> dict[str, list[float]]:
    """Train the MLP with `seed` to the end of the budget; the validation accuracy, test accuracy and test loss
    at the end of every epoch."""
    cfg = ctx.config(
        model="mlp",
        data=ctx.data(DATA),
        lr=3e-3,
        epochs=ctx.profile.epochs(EPOCHS),
        seed=seed,
        train_subset=ctx.profile.size(SUBSET),
    )
    s = ctx.train(cfg, callbacks=[EvaluateTestEachEpoch(load_data(cfg).test)])
    return {k: [h[k] for h in s["history"]] for k in ("val_accuracy", "test_accuracy", "test_loss")}


def arms(run: dict[str, list[float]], patience: int) -> dict[str, dict[str, float]]:
    """Both arms of one trajectory: test accuracy, test loss and epochs trained, with early stopping (the
    restored epoch's test values) and to the end (the last epoch's), and the restored epoch."""
    best, stop = stopping_point(run["val_accuracy"], patience)
    last = len(run["test_accuracy"])
    return {
        "early_stopping": {
            "test_accuracy": run["test_accuracy"][best - 1],
            "test_loss": run["test_loss"][best - 1],
            "epochs": stop,
            "best_epoch": best,
        },
        "to_the_end": {
            "test_accuracy": run["test_accuracy"][-1],
            "test_loss": run["test_loss"][-1],
            "epochs": last,
            "best_epoch": last,
        },
    }


def run_name(seed: int) -> str:
    """The name of the run that trains with `seed`."""
    return f"seed{seed}"


@register_study
class EarlyStoppingStudy(Study):
    """Claim `early-stopping`: Stop when validation error stops improving."""

    id = "early-stopping"
    trains_on = DATA
    section = "Regularization"
    claim = "Stop when validation error stops improving."
    note = "validation error를 보고 학습을 일찍 멈춤."
    literature = (
        "Goodfellow, Bengio & Courville, Deep Learning (2016), section 7.8 and algorithm 7.1: early stopping "
        "returns the parameters of the epoch with the lowest validation error, and acts like an L2 penalty "
        "whose strength shrinks with the number of steps. Prechelt, 'Early Stopping - But When?' (1998) "
        "compares stopping criteria by test error and training time."
    )
    form = "non-inferiority"
    schedule = SCHEDULE
    method = (
        f"An MLP (784-256-128-10, Adam lr 3e-3) is trained on {SUBSET} MNIST images (or --data) for {EPOCHS} "
        "epochs, long enough to overfit, recording the validation and test accuracy of every epoch. Early "
        f"stopping on the validation error (patience {PATIENCE} epochs, the best epoch's weights restored, a "
        "strict improvement needed) is read off the same trajectory, which it follows exactly until it stops: "
        "its test accuracy is the restored epoch's, its cost the epoch it stops at; training to the end is the "
        "last epoch's."
    )
    rule = (
        "Non-inferiority, two parts, paired by seed: (1) test accuracy, early stopping against training to "
        "the end, margin 0.005: supported if the interval's lower end lies above -0.005 (test error not worse "
        "by half a point), contradicted if the interval lies below -0.005; (2) epochs trained, early stopping "
        "against the budget, on the log scale with margin log 1.1: supported if early stopping needs fewer "
        "epochs by more than 10 %, contradicted if not (equivalent or more). Supported when both parts are, "
        f"contradicted when either is. Seeds in looks of {' then '.join(map(str, SCHEDULE))}, with the "
        "O'Brien-Fleming boundary of the staged interval. Test loss is reported, not judged."
    )

    def seed_runs(self, ctx, seeds) -> list[Run]:
        """One run per seed: the training to the end and its per-epoch accuracies."""
        return [Run(run_name(seed), TRAIN, {"seed": seed}, COST) for seed in seeds]

    def collect(self, ctx, results) -> Measurements:
        """Test accuracy, loss, epochs and restored epoch per arm (one per seed in `results`), and the figure."""
        seeds = [s for s in unit_seeds(ctx, SCHEDULE[-1]) if run_name(s) in results]
        patience = ctx.profile.epochs(PATIENCE)
        per_seed = [arms(results[run_name(s)], patience) for s in seeds]
        numbers = {arm: {k: [a[arm][k] for a in per_seed] for k in per_seed[0][arm]} for arm in ARMS}
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for seed, a in list(zip(seeds, per_seed))[:3]:
            run = results[run_name(seed)]
            epochs = range(1, len(run["val_accuracy"]) + 1)
            (line,) = ax.plot(epochs, [1 - v for v in run["val_accuracy"]], label=f"validation error, seed {seed}")
            ax.plot(epochs, [1 - v for v in run["test_accuracy"]], color=line.get_color(), ls=":", lw=1)
            best, stop = a["early_stopping"]["best_epoch"], a["early_stopping"]["epochs"]
            ax.axvline(best, color=line.get_color(), ls="--", lw=1, label=f"restored epoch {best} (stops at {stop})")
        ax.set_xlabel("epoch")
        ax.set_ylabel("error")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        return Measurements(
            {**numbers, "patience": patience},
            [
                (
                    "Validation error (solid) and test error (dotted) while training to the end; dashed: the "
                    "epoch early stopping restores",
                    fig,
                )
            ],
            seeds,
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `collect` returned."""
        es, end = m["early_stopping"], m["to_the_end"]
        acc = part(
            "test accuracy, early stopping vs to the end",
            es["test_accuracy"],
            end["test_accuracy"],
            form="non-inferiority",
            margin=ACCURACY,
            schedule=self.schedule,
        )
        epochs = part(
            "epochs trained, early stopping vs to the end",
            es["epochs"],
            end["epochs"],
            form="difference",
            margin=RATIO,
            log=True,
            lower_is_better=True,
            schedule=self.schedule,
        )
        mean = lambda v: mean_std(v)[0]  # noqa: E731
        key = (
            f"test accuracy {mean(es['test_accuracy']):.4f} vs {mean(end['test_accuracy']):.4f} (paired diff "
            f"{acc.comparison.mean:+.4f}, CI {acc.comparison.ci[0]:+.4f} to {acc.comparison.ci[1]:+.4f}), epochs "
            f"{mean(es['epochs']):.1f} vs {mean(end['epochs']):.0f} (x{math.exp(-epochs.comparison.mean):.2f}), "
            f"restored epoch {mean(es['best_epoch']):.1f}; test loss {mean(es['test_loss']):.3f} vs "
            f"{mean(end['test_loss']):.3f} (early stopping vs to the end, {acc.comparison.n} seeds)"
        )
        return verdict(
            [acc, epochs],
            key,
            {
                "supported": "the weights of the best validation-error epoch are not worse on test error by half a "
                "point, after fewer epochs",
                "contradicted": "early stopping on validation error cost more than half a point of test accuracy, "
                "or did not save epochs",
            },
        )
