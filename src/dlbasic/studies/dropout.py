"""Claim `dropout`: randomly zeroing neurons regularizes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import nn

from dlbasic.data import ImageDataset
from dlbasic.studies.base import Measurements, Study, Verdict, compare, mean_std, pm
from dlbasic.studies.registry import register_study
from dlbasic.training.run import load_data

RATES = (0.0, 0.2, 0.5)
JUDGED = "0.5"  # the rate Srivastava et al. recommend for hidden units
EPOCHS, SUBSET, HIDDEN = 20, 1000, [512, 512]


@torch.no_grad()
def accuracy(model: nn.Module, data: ImageDataset) -> float:
    """Accuracy in evaluation mode (dropout off), normalized with the train statistics."""
    return float((model(data.normalize(data.images)).argmax(1) == data.labels).double().mean())


@register_study
class DropoutStudy(Study):
    id = "dropout"
    section = "Regularization"
    claim = "Randomly zeroing neurons regularizes."
    note = "일부 뉴런을 랜덤하게 0으로 만들어 줌."
    literature = (
        "Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, 'Dropout: A Simple Way to Prevent "
        "Neural Networks from Overfitting', JMLR 15 (2014): p = 0.5 for hidden units; the gain is largest "
        "for large networks on small data."
    )
    method = (
        f"An MLP (784-512-512-10, Adam) is trained on {SUBSET} MNIST images for {EPOCHS} epochs with inverted "
        f"dropout after each hidden layer at rates {RATES}, for each seed. Train accuracy is measured in "
        "evaluation mode (dropout off) so the generalization gap (train - test accuracy) compares like with "
        "like."
    )
    rule = (
        f"Rate {JUDGED} against no dropout with the lab's two-sample rule on test accuracy: supported if higher "
        "by more than the larger seed std, contradicted if lower by that margin, inconclusive otherwise. The "
        "gap is reported beside it."
    )

    def measure(self, ctx) -> Measurements:
        keys = [f"{p:g}" for p in RATES]
        test = {k: [] for k in keys}
        gap = {k: [] for k in keys}
        for p, key in zip(RATES, keys):
            for seed in ctx.seeds:
                cfg = ctx.config(
                    model="mlp",
                    model_options={"hidden": HIDDEN},
                    dropout=p,
                    seed=seed,
                    epochs=ctx.profile.epochs(EPOCHS),
                    train_subset=ctx.profile.size(SUBSET),
                )
                s = ctx.train(cfg)
                train_acc = accuracy(ctx.model(cfg, s), load_data(cfg).train)
                test[key].append(s["test_accuracy"])
                gap[key].append(train_acc - s["test_accuracy"])
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
            list(ctx.seeds),
        )

    def judge(self, m) -> Verdict:
        acc, gap = m["test_accuracy"], m["gap"]
        verdict = compare(acc[JUDGED], acc["0"])
        key = f"p={JUDGED}: test {pm(acc[JUDGED])}, gap {pm(gap[JUDGED])}; p=0: test {pm(acc['0'])}, gap {pm(gap['0'])}"
        reason = {
            "supported": f"dropout {JUDGED} raised test accuracy beyond seed noise",
            "contradicted": f"dropout {JUDGED} lowered test accuracy beyond seed noise",
            "inconclusive": "the test accuracy difference is within seed noise",
        }[verdict]
        return Verdict(verdict, key, reason)
