"""Claim `augmentation`: more data trains better; label-preserving transforms grow the dataset."""

from __future__ import annotations

import matplotlib.pyplot as plt

from dlbasic.studies.base import Measurements, Study, Verdict, compare, mean_std, pm
from dlbasic.studies.registry import register_study

EPOCHS, SUBSET = 30, 500
PRESERVING = "rotate,translate,scale"  # +-15 degrees, 10 % shifts, 0.9-1.1 zoom: a digit stays the same digit
# (label, augment spec, training images as a multiple of SUBSET)
CONDITIONS = (
    ("none", "", 1),
    ("rotate+translate+scale", PRESERVING, 1),
    ("flip", "flip", 1),
    ("twice the real data", "", 2),
)


@register_study
class Augmentation(Study):
    id = "augmentation"
    section = "Regularization"
    claim = "More data trains better; label-preserving transforms grow the dataset."
    note = (
        "데이터가 많을수록 학습이 잘 된다. 주어진 데이터를 변형하여 데이터 셋의 크기를 키움. "
        "label이 바뀌지 않는 한도 내에서 변형. (뒤집기, 회전, 확대, 축소 등)"
    )
    literature = (
        "Simard, Steinkraus & Platt, 'Best Practices for Convolutional Neural Networks Applied to Visual "
        "Document Analysis' (ICDAR 2003): small affine distortions are the label-preserving transforms "
        "for handwritten digits. A left-right flip, listed in the note, is label-preserving for natural "
        "photographs but not for digits (a mirrored 2, 3, 7 is no longer that digit)."
    )
    method = (
        f"An MLP (784-256-128-10, Adam) is trained for {EPOCHS} epochs on {SUBSET} MNIST images with no "
        f"augmentation, with random rotation (+-15 degrees), translation (10 %) and zoom (0.9-1.1) drawn "
        f"anew for every batch, with random left-right flips, and without augmentation on {2 * SUBSET} real "
        "images; each for every seed, tested on the same 1000 test images."
    )
    rule = (
        "The label-preserving augmentation against none with the lab's two-sample rule: supported if its mean "
        "test accuracy is higher by more than the larger seed std, contradicted if lower by that margin, "
        "inconclusive otherwise. Flip and twice-the-data runs are reported beside it, not judged."
    )

    def measure(self, ctx) -> Measurements:
        acc: dict[str, list[float]] = {}
        for label, spec, factor in CONDITIONS:
            acc[label] = []
            for seed in ctx.seeds:
                cfg = ctx.config(
                    model="mlp",
                    epochs=ctx.profile.epochs(EPOCHS),
                    seed=seed,
                    augment=spec,
                    train_subset=ctx.profile.size(SUBSET * factor),
                )
                acc[label].append(ctx.train(cfg)["test_accuracy"])
        fig, ax = plt.subplots(figsize=(6.5, 3.5))
        stats = [mean_std(acc[label]) for label, _, _ in CONDITIONS]
        colors = ["tab:gray", "tab:green", "tab:red", "tab:blue"]
        ax.bar(range(len(CONDITIONS)), [m for m, _ in stats], yerr=[s for _, s in stats], capsize=4, color=colors)
        ax.set_xticks(range(len(CONDITIONS)), [label for label, _, _ in CONDITIONS], fontsize=8)
        lo = min(m - s for m, s in stats)
        ax.set_ylim(max(0.0, lo - 0.05), min(1.0, max(m + s for m, s in stats) + 0.02))
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{SUBSET} training images unless stated", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        return Measurements(
            {"test_accuracy": acc},
            [
                (
                    "Test accuracy by training data: augmentation that keeps the label helps, flipping digits does not "
                    "keep it (mean ± std over seeds)",
                    fig,
                )
            ],
            list(ctx.seeds),
        )

    def judge(self, m) -> Verdict:
        acc = m["test_accuracy"]
        aug, none = acc["rotate+translate+scale"], acc["none"]
        verdict = compare(aug, none)
        key = (
            f"augmented {pm(aug)} vs none {pm(none)}; flip {pm(acc['flip'])}; 2x data {pm(acc['twice the real data'])}"
        )
        reason = {
            "supported": "label-preserving augmentation raised test accuracy beyond seed noise",
            "contradicted": "label-preserving augmentation lowered test accuracy beyond seed noise",
            "inconclusive": "the difference is within seed noise",
        }[verdict]
        return Verdict(verdict, key, reason)
