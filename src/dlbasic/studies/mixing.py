"""Claim `mixing`: mixing two training images and their labels in proportion (Mixup, CutMix) trains better.

The note files this under "label smoothing", but describes Mixup/CutMix; label smoothing proper is run beside
them, and all four are compared on test accuracy and on calibration (expected calibration error).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from dlbasic.evaluation.calibration import expected_calibration_error
from dlbasic.studies.base import Measurements, Study, Verdict, compare, mean_std, pm
from dlbasic.studies.registry import register_study
from dlbasic.training.run import load_data

EPOCHS, SUBSET, BINS = 20, 1000, 15
METHODS = {"plain": {}, "label smoothing": {"label_smoothing": 0.1}, "mixup": {"mixup": 0.4}, "cutmix": {"cutmix": 1.0}}
MIXING = ("mixup", "cutmix")


@register_study
class Mixing(Study):
    id = "mixing"
    section = "Regularization"
    claim = (
        "Mixing two training images and their labels in proportion (the note says 'label smoothing' but "
        "describes Mixup/CutMix) smooths the decision boundary and raises performance for little effort."
    )
    note = (
        "Label Smoothing: training data 중 2개를 꼽아 섞음. decision boundary를 부드럽게 만들어 줌. "
        "label에도 비율을 주어 섞음. data 수 증가. 노력 대비 성능이 많이 올라감."
    )
    literature = (
        "What the note describes is Mixup (Zhang et al., https://arxiv.org/abs/1710.09412) and CutMix "
        "(Yun et al., https://arxiv.org/abs/1905.04899, the paper the note links). Label smoothing "
        "(Szegedy et al., https://arxiv.org/abs/1512.00567) softens one-hot targets of single images and "
        "mixes nothing. Calibration: Guo et al., https://arxiv.org/abs/1706.04599; Thulasidasan et al. "
        "(https://arxiv.org/abs/1905.11001) report that Mixup improves it."
    )
    method = (
        f"An MLP (784-256-128-10, Adam) is trained on {SUBSET} MNIST images for {EPOCHS} epochs: plainly, with "
        "label smoothing 0.1, with Mixup (alpha 0.4) and with CutMix (alpha 1.0, label weight = pasted area), "
        "every batch mixed, for each seed. Measured on the 1000 test images: accuracy and the expected "
        f"calibration error over {BINS} confidence bins."
    )
    rule = (
        "Mixup and CutMix runs together (all their seeds) against plain training with the lab's two-sample "
        "rule on test accuracy: supported if higher by more than the larger std, contradicted if lower by "
        "that margin, inconclusive otherwise. Calibration is reported beside it."
    )

    def measure(self, ctx) -> Measurements:
        acc = {name: [] for name in METHODS}
        ece = {name: [] for name in METHODS}
        for name, options in METHODS.items():
            for seed in ctx.seeds:
                cfg = ctx.config(
                    model="mlp",
                    epochs=ctx.profile.epochs(EPOCHS),
                    seed=seed,
                    train_subset=ctx.profile.size(SUBSET),
                    **options,
                )
                s = ctx.train(cfg)
                test = load_data(cfg).test
                with torch.no_grad():
                    probs = torch.softmax(ctx.model(cfg, s)(test.normalize(test.images)), dim=1)  # (N, K)
                acc[name].append(s["test_accuracy"])
                ece[name].append(expected_calibration_error(probs, test.labels, BINS))
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        names = list(METHODS)
        for ax, table, label in ((axes[0], acc, "test accuracy"), (axes[1], ece, "expected calibration error")):
            stats = [mean_std(table[n]) for n in names]
            ax.bar(
                range(len(names)),
                [m for m, _ in stats],
                yerr=[s for _, s in stats],
                capsize=4,
                color=["tab:gray", "tab:purple", "tab:green", "tab:orange"],
            )
            ax.set_xticks(range(len(names)), names, fontsize=8)
            ax.set_ylabel(label)
            ax.grid(axis="y", alpha=0.3)
        lo = min(min(v) for v in acc.values())
        axes[0].set_ylim(max(0.0, lo - 0.05), 1.0)
        axes[1].set_title("lower is better calibrated", fontsize=9)
        fig.tight_layout()
        return Measurements(
            {"test_accuracy": acc, "ece": ece},
            [
                (
                    "Test accuracy (left) and expected calibration error (right) by training target "
                    "(mean ± std over seeds)",
                    fig,
                )
            ],
            list(ctx.seeds),
        )

    def judge(self, m) -> Verdict:
        acc, ece = m["test_accuracy"], m["ece"]
        mixed = [a for name in MIXING for a in acc[name]]
        verdict = compare(mixed, acc["plain"])
        key = (
            f"mixing {pm(mixed)} vs plain {pm(acc['plain'])} (mixup {pm(acc['mixup'])}, cutmix "
            f"{pm(acc['cutmix'])}, label smoothing {pm(acc['label smoothing'])}); ECE plain "
            f"{mean_std(ece['plain'])[0]:.3f}, mixup {mean_std(ece['mixup'])[0]:.3f}, cutmix "
            f"{mean_std(ece['cutmix'])[0]:.3f}, smoothing {mean_std(ece['label smoothing'])[0]:.3f}"
        )
        reason = {
            "supported": "mixing images and labels raised test accuracy beyond seed noise",
            "contradicted": "mixing images and labels lowered test accuracy beyond seed noise",
            "inconclusive": "the accuracy difference is within seed noise",
        }[verdict]
        return Verdict(verdict, key, reason)
