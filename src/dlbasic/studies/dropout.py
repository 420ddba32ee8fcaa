"""Claim `dropout`: randomly zeroing neurons regularizes.

The experiment scaled down: Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, "Dropout: A Simple Way
to Prevent Neural Networks from Overfitting" (JMLR 15, 2014), §6.1 and §7.4: fully connected nets (two or
more hidden layers of 1024 units and more) on MNIST, hidden units dropped with p = 0.5, every hidden unit's
incoming weight vector held to a max-norm ||w|| <= c (c = 3 to 4), trained long with a decaying learning
rate, against the same net without dropout. Their §7.4 (figure 10) varies the training set: with 100 or 500
images dropout gives no gain (the net overfits even with the noise); from 1,000 images on it does.

The decisive comparison (CLAIMS.md v0.3): test accuracy at p = 0.5 against p = 0, paired by seed, margin
0.005 (half a point). Scaling: two hidden layers of 256 units on 1,000 MNIST images (the smallest set at
which the paper finds a gain), 50 epochs of Adam with a cosine decay to 0: the net without dropout fits its
training set by epoch 11, so most of the budget is where regularization matters. Max-norm c = 3 in both
arms, so only dropout differs. The gain is about one point against a per-seed spread of its difference of
about 0.6 point, so the seeds come in looks of 10 and 20 (a look of 3 could not clear a half-point margin
under the O'Brien-Fleming boundary); the cost of a wider net (Srivastava's 1024 units, four times the
work) would leave only a handful of seeds.

Pairing: both arms of a seed share split, subset, initialization and data order.

Runs: one per rate and seed (a training, its test accuracy and generalization gap).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import nn

from dlbasic.callbacks import Callback
from dlbasic.data import ImageDataset
from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, mean_std, pm, unit_seeds
from dlbasic.lab.verdicts import ACCURACY, looks, part, verdict
from dlbasic.training.run import load_data

DATA = "mnist5k"  # the source its runs train on, unless the lab names one (--data)

RATES = (0.0, 0.5)  # none, and the rate Srivastava et al. recommend for hidden units
JUDGED = "0.5"
EPOCHS, SUBSET, HIDDEN = 50, 1000, [256, 256]
SCHEDULE = looks(10)  # paired seeds at each look
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
    form = "difference"
    schedule = SCHEDULE
    method = (
        f"An MLP (784-256-256-10, Adam, cosine decay of the learning rate to 0) is trained on {SUBSET} MNIST "
        f"images (or --data) for {EPOCHS} epochs with inverted dropout after each hidden layer at rates "
        f"{RATES} and a max-norm of {MAX_NORM:g} on every hidden unit's incoming weights in both arms (the arms "
        "of a seed share split, subset, initialization and data order). Train accuracy is measured in "
        "evaluation mode (dropout off) so the generalization gap (train - test accuracy) compares like with "
        "like."
    )
    rule = (
        f"Difference, one part: test accuracy at p = {JUDGED} against p = 0, paired by seed, margin 0.005: "
        "supported if the interval of the difference lies above +0.005, contradicted if it lies below -0.005 "
        f"or inside +-0.005 (equivalent). Seeds in looks of {' then '.join(map(str, SCHEDULE))}, with the "
        "O'Brien-Fleming boundary of the staged interval. The generalization gap is reported, not judged."
    )

    def seed_runs(self, ctx, seeds) -> list[Run]:
        """One run per rate and seed: the training, its test accuracy and generalization gap."""
        return [Run(run_name(p, seed), TRAIN, {"rate": p, "seed": seed}, COSTS[p]) for p in RATES for seed in seeds]

    def collect(self, ctx, results) -> Measurements:
        """Test accuracy and generalization gap by rate (one per seed in `results`), and the figure."""
        seeds = [s for s in unit_seeds(ctx, SCHEDULE[-1]) if all(run_name(p, s) in results for p in RATES)]
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
        """The verdict by `rule`, computed from the numbers `collect` returned."""
        acc, gap = m["test_accuracy"], m["gap"]
        p = part(
            f"test accuracy, dropout {JUDGED} vs none",
            acc[JUDGED],
            acc["0"],
            form="difference",
            margin=ACCURACY,
            schedule=self.schedule,
        )
        key = (
            f"p={JUDGED}: test {pm(acc[JUDGED])}, gap {pm(gap[JUDGED])}; p=0: test {pm(acc['0'])}, "
            f"gap {pm(gap['0'])} (paired test diff {p.comparison.mean:+.4f}, {p.comparison.n} seeds)"
        )
        return verdict(
            [p],
            key,
            {
                "supported": f"dropout {JUDGED} raised test accuracy by more than half a point",
                "contradicted": f"dropout {JUDGED} did not raise test accuracy by half a point or more",
            },
        )
