"""Claim `augmentation`: more data trains better; label-preserving transforms grow the dataset.

The experiment scaled down: Simard, Steinkraus & Platt, "Best Practices for Convolutional Neural Networks
Applied to Visual Document Analysis" (ICDAR 2003): the same network trained on handwritten digits with and
without small random distortions of each training image, compared on test error (their MLP went from 1.6 %
to 1.1 % error with affine distortions). Scaling: an MLP on 500 MNIST digits for 30 epochs instead of all
60,000, two units per profile seed (seed i gives units 2i, 2i+1); the arms of a unit share split, subset,
initialization and data order, so only the augmentation differs. Flips (not label-preserving for digits)
and twice the real data are run beside as contrasts.

Runs: one per condition and seed (a training and its test accuracy), all in one stage.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from dlbasic.lab.registry import register_study
from dlbasic.lab.stats import decide
from dlbasic.lab.study import Measurements, Run, Study, Verdict, mean_std, pm

DATA = "mnist5k"  # the source its runs train on, unless the lab names one (--data)

EPOCHS, SUBSET = 30, 500
UNITS = 2  # independent paired units (seeds) per profile seed
PRESERVING = "rotate,translate,scale"  # +-15 degrees, 10 % shifts, 0.9-1.1 zoom: a digit stays the same digit
# (label, augment spec, training images as a multiple of SUBSET)
CONDITIONS = (
    ("none", "", 1),
    ("rotate+translate+scale", PRESERVING, 1),
    ("flip", "flip", 1),
    ("twice the real data", "", 2),
)
TRAIN = "dlbasic.studies.augmentation:trained_accuracy"
# seconds of one training by condition (one thread, quick profile)
COSTS = {"none": 0.5, "rotate+translate+scale": 0.8, "flip": 0.55, "twice the real data": 0.85}


def unit_seeds(ctx) -> list[int]:
    """The seeds of the paired units: UNITS per profile seed."""
    return [s * UNITS + j for s in ctx.seeds for j in range(UNITS)]


def run_name(label: str, seed: int) -> str:
    """The name of the run that trains condition `label` with `seed`."""
    return f"{label} seed {seed}"


def trained_accuracy(ctx, augment: str, subset: int, seed: int) -> float:
    """Train the MLP on `subset` images (quick profile; scaled by the profile) with `augment` and `seed`;
    its test accuracy."""
    cfg = ctx.config(
        model="mlp",
        data=ctx.data(DATA),
        epochs=ctx.profile.epochs(EPOCHS),
        seed=seed,
        augment=augment,
        train_subset=ctx.profile.size(subset),
    )
    return ctx.train(cfg)["test_accuracy"]


@register_study
class Augmentation(Study):
    """Claim `augmentation`: More data trains better; label-preserving transforms grow the dataset."""

    id = "augmentation"
    trains_on = DATA
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
        f"An MLP (784-256-128-10, Adam) is trained for {EPOCHS} epochs on {SUBSET} MNIST images (or --data) "
        "with no augmentation, with random rotation (+-15 degrees), translation (10 %) and zoom (0.9-1.1) "
        f"drawn anew for every batch, with random left-right flips, and without augmentation on {2 * SUBSET} "
        f"real images; {UNITS} seeds per profile seed, the arms of a seed sharing split, subset, "
        "initialization and data order; test accuracy on the seed's test split."
    )
    rule = (
        "The label-preserving augmentation against none: a paired t-test of test accuracy over the seeds "
        "(dlbasic.lab.stats.decide, margin 0, two-sided 5 %); its verdict is the study's. Flip and "
        "twice-the-data runs are reported beside it, not judged."
    )

    def plan(self, ctx, results) -> list[Run]:
        """One run per condition and seed: the training and its test accuracy."""
        if results:
            return []
        return [
            Run(
                run_name(label, seed),
                TRAIN,
                {"augment": spec, "subset": SUBSET * factor, "seed": seed},
                COSTS[label],
            )
            for label, spec, factor in CONDITIONS
            for seed in unit_seeds(ctx)
        ]

    def collect(self, ctx, results) -> Measurements:
        """Test accuracies by condition (one per seed), and the figure."""
        seeds = unit_seeds(ctx)
        acc = {label: [results[run_name(label, seed)] for seed in seeds] for label, _, _ in CONDITIONS}
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
            seeds,
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        acc = m["test_accuracy"]
        aug, none = acc["rotate+translate+scale"], acc["none"]
        d = decide(aug, none)
        key = (
            f"augmented {pm(aug)} vs none {pm(none)} (paired diff {d.mean_diff:+.3f}, {d.n} seeds); flip "
            f"{pm(acc['flip'])}; 2x data {pm(acc['twice the real data'])}"
        )
        return Verdict.of(
            d,
            key,
            {
                "supported": "label-preserving augmentation raised test accuracy in the paired comparison",
                "contradicted": "label-preserving augmentation lowered test accuracy in the paired comparison",
                "inconclusive": f"not decided: {d.reason}",
            },
        )
