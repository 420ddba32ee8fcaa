"""Claim `early-stopping`: stop when the validation error stops improving.

The experiment scaled down: Prechelt, "Early Stopping - But When?" (Neural Networks: Tricks of the Trade,
1998) and Goodfellow, Bengio & Courville, *Deep Learning* (2016), §7.8 and algorithm 7.1: train a network
that overfits, watch the validation loss, keep the parameters of its best epoch, and compare the test error
of those parameters with the parameters at the end of training. Prechelt trains to a fixed long budget and
compares stopping criteria on test error and training time; here one criterion (patience 5 on the
validation cross-entropy, best weights restored) is compared with training to the end.

Pairing: both arms of a unit use one seed, so they share the split, the training subset, the
initialization and the data order; since the early-stopping callback draws no random numbers, the
early-stopped run follows the to-the-end run's trajectory exactly and returns its weights at the epoch of
least validation loss. Only the stopping rule differs. Scaling: an MLP on 500 MNIST digits for 40 epochs
(it fits the training set in about ten), and four units per profile seed (seed i gives units 4i..4i+3),
because a unit is cheap and three pairs leave the paired t-test with little power. Runs: one per arm and
seed (a training and its test), all in one stage.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from dlbasic.lab.registry import register_study
from dlbasic.lab.stats import decide
from dlbasic.lab.study import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Run, Study, Verdict, mean_std

DATA = "mnist5k"  # the source its runs train on, unless the lab names one (--data)

EPOCHS, PATIENCE, SUBSET = 40, 5, 500
UNITS = 4  # independent paired units (seeds) per profile seed
# Non-inferiority margin of test accuracy: one binomial standard error of an accuracy near 0.87 measured
# on the 1,000 test images, sqrt(0.87 * 0.13 / 1000) = 0.011; a smaller loss of accuracy is not of interest.
ACC_MARGIN = 0.01
ARMS = {"to_the_end": 0, "early_stopping": PATIENCE}  # arm -> patience (0: no early stopping)
TRAIN = "dlbasic.studies.early_stopping:stopped_model"
SUMMARY = ("test_accuracy", "test_loss", "epochs")  # what each arm reports per seed
COSTS = {"to_the_end": 0.75, "early_stopping": 0.25}  # seconds of one run by arm (one thread, quick profile)


def unit_seeds(ctx) -> list[int]:
    """The training seeds: `UNITS` per profile seed."""
    return [s * UNITS + j for s in ctx.seeds for j in range(UNITS)]


def run_name(arm: str, seed: int) -> str:
    """The name of the run of `arm` (a key of `ARMS`) with `seed`."""
    return f"{arm}-seed{seed}"


def best_epoch(val_losses: list[float]) -> int:
    """The epoch (from 1) of least validation loss: the one whose weights early stopping restores."""
    return val_losses.index(min(val_losses)) + 1


def stopped_model(ctx, patience: int, seed: int) -> dict:
    """Train the MLP with `seed`, with early stopping of `patience` (0: to the end); its test accuracy and
    loss, the epochs trained and the validation loss of each epoch."""
    cfg = ctx.config(
        model="mlp",
        data=ctx.data(DATA),
        lr=3e-3,
        epochs=ctx.profile.epochs(EPOCHS),
        seed=seed,
        train_subset=ctx.profile.size(SUBSET),
        early_stopping=patience,
    )
    s = ctx.train(cfg)
    return {
        "test_accuracy": s["test_accuracy"],
        "test_loss": s["test_loss"],
        "epochs": s["epochs"],
        "val_losses": [h["val_loss"] for h in s["history"]],
    }


@register_study
class EarlyStoppingStudy(Study):
    """Claim `early-stopping`: Stop when validation error stops improving."""

    id = "early-stopping"
    trains_on = DATA
    section = "Regularization"
    claim = "Stop when validation error stops improving."
    note = "validation error를 보고 학습을 일찍 멈춤."
    literature = (
        "Goodfellow, Bengio & Courville, Deep Learning (2016), section 7.8: early stopping returns the "
        "parameters of the epoch with the lowest validation error, and acts like an L2 penalty whose "
        "strength shrinks with the number of steps. Prechelt, 'Early Stopping - But When?' (1998) "
        "compares stopping criteria by test error and training time."
    )
    method = (
        f"An MLP (784-256-128-10, Adam lr 3e-3) is trained on {SUBSET} MNIST images (or --data) for {EPOCHS} "
        "epochs, long enough to overfit, once to the end and once with early stopping (validation loss, "
        f"patience {PATIENCE}, best weights restored), for {UNITS} seeds per profile seed; both runs of a seed "
        "share split, subset, initialization and data order, so the early-stopped model is the to-the-end "
        "trajectory's best-validation epoch. Each model is tested once: cross-entropy, accuracy, epochs "
        "trained."
    )
    rule = (
        "Two paired t-tests over the seeds (dlbasic.lab.stats.decide, two-sided 5 %): test loss, early "
        "stopping against training to the end (lower is better, margin 0), and test accuracy (margin "
        f"{ACC_MARGIN}, one binomial standard error on 1,000 test images). Supported if the test loss "
        "decision is supported and the accuracy decision is not contradicted; contradicted if the test loss "
        "decision is contradicted and the accuracy decision is not supported; inconclusive otherwise."
    )

    def plan(self, ctx, results) -> list[Run]:
        """One run per arm and seed: the training and its test."""
        if results:
            return []
        return [
            Run(run_name(arm, seed), TRAIN, {"patience": patience, "seed": seed}, COSTS[arm])
            for arm, patience in ARMS.items()
            for seed in unit_seeds(ctx)
        ]

    def collect(self, ctx, results) -> Measurements:
        """Test accuracy, loss and epochs per arm (one per seed), the restored epochs, and the figure."""
        seeds = unit_seeds(ctx)
        runs = {arm: {k: [results[run_name(arm, seed)][k] for seed in seeds] for k in SUMMARY} for arm in ARMS}
        curves = {seed: results[run_name("to_the_end", seed)]["val_losses"] for seed in seeds}
        stops = {seed: best_epoch(results[run_name("early_stopping", seed)]["val_losses"]) for seed in seeds}
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for seed in seeds[:3]:
            (line,) = ax.plot(range(1, len(curves[seed]) + 1), curves[seed], label=f"validation loss, seed {seed}")
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
            {**runs, "best_epoch": [stops[s] for s in seeds]},
            [("Validation loss while training to the end; dashed: the epoch early stopping keeps", fig)],
            seeds,
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        es, end = m["early_stopping"], m["to_the_end"]
        loss = decide(es["test_loss"], end["test_loss"], lower_is_better=True)
        acc = decide(es["test_accuracy"], end["test_accuracy"], margin=ACC_MARGIN)
        mean = lambda v: mean_std(v)[0]  # noqa: E731
        key = (
            f"test loss {mean(es['test_loss']):.3f} vs {mean(end['test_loss']):.3f} (paired diff "
            f"{-loss.mean_diff:+.3f}), accuracy {mean(es['test_accuracy']):.3f} vs "
            f"{mean(end['test_accuracy']):.3f} (diff {acc.mean_diff:+.3f}), epochs {mean(es['epochs']):.0f} vs "
            f"{mean(end['epochs']):.0f} (early stopping vs to the end, {loss.n} seeds)"
        )
        test = f"test loss: {loss}; test accuracy: {acc}"
        if loss.verdict == SUPPORTED and acc.verdict != CONTRADICTED:
            return Verdict(
                SUPPORTED,
                key,
                "the weights of the best validation epoch have a lower test loss and no "
                "worse test accuracy, after fewer epochs",
                test,
            )
        if loss.verdict == CONTRADICTED and acc.verdict != SUPPORTED:
            return Verdict(
                CONTRADICTED,
                key,
                "the weights of the best validation epoch have a higher test loss than those at the end of training",
                test,
            )
        if loss.verdict == SUPPORTED:
            why = f"a lower test loss but a test accuracy lower by more than {ACC_MARGIN}: the evidence is mixed"
        elif loss.verdict == CONTRADICTED:
            why = "a higher test loss but a higher test accuracy: the evidence is mixed"
        else:
            why = f"test loss: {loss.reason}"
        return Verdict(INCONCLUSIVE, key, why, test)
