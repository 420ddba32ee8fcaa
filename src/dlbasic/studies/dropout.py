"""Claim `dropout`: randomly zeroing neurons regularizes.

The experiment scaled down: Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, "Dropout: A Simple Way
to Prevent Neural Networks from Overfitting" (JMLR 15, 2014), §6.1 and §7.4: fully connected nets (two or
more hidden layers of 1024 units and more) on MNIST, hidden units dropped with p = 0.5, every hidden unit's
incoming weight vector held to a max-norm ||w|| <= c (c = 3 to 4), trained long with a decaying learning
rate, against the same net without dropout. Their §7.4 (figure 10) varies the training set: with 100 or 500
images dropout gives no gain (the net overfits even with the noise); from 1,000 images on it does.

Scaling: two hidden layers of 256 units on 1,000 MNIST images (the smallest set at which the paper finds a
gain), 50 epochs of Adam with a cosine decay to 0: the net without dropout fits its training set by epoch
11, so most of the budget is where regularization matters. Max-norm c = 3 in both arms, so only
dropout differs. Three units per profile seed (seed i gives units 3i..3i+2): a unit is cheap, and the gain
is about one point against a seed spread of about as much (at 512 units, 100 epochs and three seeds the
gain of 1.2 points was not decided; with six units it was at one set of seeds and not at another).

Pairing: both arms of a unit share split, subset, initialization and data order.

Runs: one per rate and seed (a training, its test accuracy and generalization gap), all in one stage.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import nn

from dlbasic.callbacks import Callback
from dlbasic.data import ImageDataset
from dlbasic.lab.registry import register_study
from dlbasic.lab.stats import decide
from dlbasic.lab.study import Measurements, Run, Study, Verdict, mean_std, pm
from dlbasic.training.run import load_data

DATA = "mnist5k"  # the source its runs train on, unless the lab names one (--data)

RATES = (0.0, 0.5)  # none, and the rate Srivastava et al. recommend for hidden units
JUDGED = "0.5"
EPOCHS, SUBSET, HIDDEN = 50, 1000, [256, 256]
UNITS = 3  # independent paired units (seeds) per profile seed
MAX_NORM = 3.0  # Srivastava et al. §5.1: c between 3 and 4
TRAIN = "dlbasic.studies.dropout:accuracy_and_gap"
COSTS = {0.0: 1.9, 0.5: 2.7}  # seconds of one training and its measurement by rate (one thread, quick profile)


@torch.no_grad()
def accuracy(model: nn.Module, data: ImageDataset) -> float:
    """Accuracy in evaluation mode (dropout off), normalized with the train statistics."""
    return float((model(data.normalize(data.images)).argmax(1) == data.labels).double().mean())


@torch.no_grad()
def max_norm_(model: nn.Module, c: float) -> None:
    """Scale every hidden unit's incoming weight vector (a row of each Linear weight but the output layer's)
    down to L2 norm c where it is longer: w <- w * min(1, c / ||w||) (Srivastava et al. 2014, §5.1)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    for layer in linears[:-1]:
        norms = layer.weight.norm(dim=1, keepdim=True)  # (out, 1)
        layer.weight.mul_((c / norms.clamp_min(1e-12)).clamp(max=1.0))


class MaxNorm(Callback):
    """Applies `max_norm_` after every optimizer step."""

    def __init__(self, c: float):
        self.c = c

    def on_batch_end(self, trainer, logs: dict[str, float]) -> None:
        """Apply `max_norm_` with `c` to the model after the optimizer step."""
        max_norm_(trainer.model, self.c)


def unit_seeds(ctx) -> list[int]:
    """The seeds of the paired units: UNITS per profile seed."""
    return [s * UNITS + j for s in ctx.seeds for j in range(UNITS)]


def run_name(rate: float, seed: int) -> str:
    """The name of the run that trains with dropout `rate` and `seed`."""
    return f"p={rate:g} seed {seed}"


def accuracy_and_gap(ctx, rate: float, seed: int) -> dict[str, float]:
    """Train the MLP with dropout `rate`, max-norm and `seed`; its test accuracy and generalization gap
    (train accuracy in evaluation mode - test accuracy): {"test_accuracy", "gap"}."""
    cfg = ctx.config(
        model="mlp",
        data=ctx.data(DATA),
        model_options={"hidden": HIDDEN},
        dropout=rate,
        scheduler="cosine",
        seed=seed,
        epochs=ctx.profile.epochs(EPOCHS),
        train_subset=ctx.profile.size(SUBSET),
    )
    s = ctx.train(cfg, callbacks=[MaxNorm(MAX_NORM)])
    train_acc = accuracy(ctx.model(cfg, s), load_data(cfg).train)
    return {"test_accuracy": s["test_accuracy"], "gap": train_acc - s["test_accuracy"]}


@register_study
class DropoutStudy(Study):
    """Claim `dropout`: Randomly zeroing neurons regularizes."""

    id = "dropout"
    trains_on = DATA
    section = "Regularization"
    claim = "Randomly zeroing neurons regularizes."
    note = "일부 뉴런을 랜덤하게 0으로 만들어 줌."
    literature = (
        "Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, 'Dropout: A Simple Way to Prevent "
        "Neural Networks from Overfitting', JMLR 15 (2014): p = 0.5 for hidden units, with max-norm; the "
        "gain is largest for large networks, and absent on very small training sets (100-500 images)."
    )
    method = (
        f"An MLP (784-256-256-10, Adam, cosine decay of the learning rate to 0) is trained on {SUBSET} MNIST "
        f"images (or --data) for {EPOCHS} epochs with inverted dropout after each hidden layer at rates "
        f"{RATES} and a max-norm of {MAX_NORM:g} on every hidden unit's incoming weights in both arms, for "
        f"{UNITS} seeds per profile seed (the arms of a seed share split, subset, initialization and data "
        "order). Train accuracy is measured in evaluation mode (dropout off) so the generalization gap "
        "(train - test accuracy) compares like with like."
    )
    rule = (
        f"Rate {JUDGED} against no dropout: a paired t-test of test accuracy over the seeds (dlbasic.studies."
        "stats.decide, margin 0, two-sided 5 %) is the verdict. The generalization gap is reported beside it "
        "with the same test (lower is better), not judged."
    )

    def plan(self, ctx, results) -> list[Run]:
        """One run per rate and seed: the training, its test accuracy and generalization gap."""
        if results:
            return []
        return [
            Run(run_name(p, seed), TRAIN, {"rate": p, "seed": seed}, COSTS[p])
            for p in RATES
            for seed in unit_seeds(ctx)
        ]

    def collect(self, ctx, results) -> Measurements:
        """Test accuracy and generalization gap by rate (one per seed), and the figure."""
        seeds = unit_seeds(ctx)
        test, gap = (
            {f"{p:g}": [results[run_name(p, seed)][part] for seed in seeds] for p in RATES}
            for part in ("test_accuracy", "gap")
        )
        keys = [f"{p:g}" for p in RATES]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for values, label in ((test, "test accuracy"), (gap, "gap: train - test accuracy")):
            stats = [mean_std(values[k]) for k in keys]
            ax.errorbar(RATES, [m for m, _ in stats], yerr=[s for _, s in stats], marker="o", capsize=3, label=label)
        ax.set_xlabel("dropout rate p")
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        return Measurements(
            {"test_accuracy": test, "gap": gap},
            [("Test accuracy and generalization gap against the dropout rate (mean ± std over seeds)", fig)],
            seeds,
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        acc, gap = m["test_accuracy"], m["gap"]
        d = decide(acc[JUDGED], acc["0"])
        g = decide(gap[JUDGED], gap["0"], lower_is_better=True)
        key = (
            f"p={JUDGED}: test {pm(acc[JUDGED])}, gap {pm(gap[JUDGED])}; p=0: test {pm(acc['0'])}, "
            f"gap {pm(gap['0'])} (paired test diff {d.mean_diff:+.3f}, {d.n} seeds)"
        )
        return Verdict(
            d.verdict,
            key,
            {
                "supported": f"dropout {JUDGED} raised test accuracy in the paired comparison",
                "contradicted": f"dropout {JUDGED} lowered test accuracy in the paired comparison",
                "inconclusive": f"not decided: {d.reason}",
            }[d.verdict],
            f"test accuracy: {d}; gap: {g}",
        )
