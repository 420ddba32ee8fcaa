"""Claim `augmentation`: more data trains better; label-preserving transforms grow the dataset.

The experiment scaled down: Simard, Steinkraus & Platt, "Best Practices for Convolutional Neural Networks
Applied to Visual Document Analysis" (ICDAR 2003): the same network trained on handwritten digits with and
without small random distortions of each training image, compared on test error (their MLP went from 1.6 %
to 1.1 % error with affine distortions). The decisive comparison (CLAIMS.md v0.3): test accuracy with
label-preserving augmentation against none, on a reduced training set, paired by seed, margin 0.005.

Which transforms preserve the label depends on the data, and follows `--data`: small rotations, shifts and
zooms keep a digit's or a garment's class; a left-right flip keeps a garment's (Fashion-MNIST) or a
photograph's (CIFAR) class but not a digit's (a mirrored 2, 3 or 7 is no longer that digit), so the flip is
in the label-preserving set only for sources known to be mirror-invariant (`flip_preserves_labels`).

Scaling: an MLP on 500 MNIST digits (or --data) for 30 epochs instead of all 60,000; the arms of a seed
share split, subset, initialization and data order, so only the augmentation differs. Flips alone and
twice the real data are run beside as contrasts, reported, not judged. Seeds in looks of 5 and 10.

Runs: one per condition and seed (a training and its test accuracy).
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, mean_std, pm, unit_seeds
from dlbasic.lab.verdicts import ACCURACY, looks, part, verdict

DATA = "mnist5k"  # the source its runs train on, unless the lab names one (--data)

EPOCHS, SUBSET = 30, 500
SCHEDULE = looks(5)  # paired seeds at each look
AFFINE = "rotate,translate,scale"  # +-15 degrees, 10 % shifts, 0.9-1.1 zoom: a digit or a garment keeps its class
MIRROR_INVARIANT = ("fashion", "cifar")  # sources whose classes keep their label under a left-right flip
# label -> (augment spec, or None for the data's label-preserving set; training images as a multiple of SUBSET)
CONDITIONS = {
    "none": ("", 1),
    "label-preserving": (None, 1),
    "flip": ("flip", 1),
    "twice the real data": ("", 2),
}
TRAIN = "dlbasic.studies.augmentation:trained_accuracy"
# seconds of one training by condition (one thread, quick profile)
COSTS = {"none": 0.5, "label-preserving": 0.8, "flip": 0.55, "twice the real data": 0.85}


def flip_preserves_labels(data: str) -> bool:
    """Whether a left-right flip keeps the label of the source `data` names: clothes (Fashion-MNIST) and
    photographs (CIFAR) are mirror-invariant; digits, and any source not known to be, are not."""
    return any(name in data.lower() for name in MIRROR_INVARIANT)


def preserving(data: str) -> str:
    """The label-preserving augmentation for the source `data`: the small affine distortions, and the flip
    where the classes are mirror-invariant."""
    return AFFINE + (",flip" if flip_preserves_labels(data) else "")


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
        "for handwritten digits. A left-right flip, listed in the note, is label-preserving for clothes and "
        "natural photographs but not for digits (a mirrored 2, 3, 7 is no longer that digit)."
    )
    form = "difference"
    schedule = SCHEDULE
    method = (
        f"An MLP (784-256-128-10, Adam) is trained for {EPOCHS} epochs on {SUBSET} MNIST images (or --data) "
        "with no augmentation; with the data's label-preserving augmentation: random rotation (+-15 degrees), "
        "translation (10 %) and zoom (0.9-1.1), drawn anew for every batch, plus random left-right flips where "
        "the data's classes are mirror-invariant (Fashion-MNIST, CIFAR; not digits: the report's key number "
        "says which set the data got); with random left-right flips alone; and without augmentation on "
        f"{2 * SUBSET} real images. The arms of a seed share split, subset, initialization and data order; "
        "test accuracy on the seed's test split."
    )
    rule = (
        "Difference, one part: test accuracy with the label-preserving augmentation against none, paired by "
        "seed, margin 0.005: supported if the interval of the difference lies above +0.005, contradicted if it "
        "lies below -0.005 or inside +-0.005 (equivalent). Seeds in looks of "
        f"{' then '.join(map(str, SCHEDULE))}, with the O'Brien-Fleming boundary of the staged interval. "
        "Flips alone and twice the real data are reported, not judged."
    )

    def seed_runs(self, ctx, seeds) -> list[Run]:
        """One run per condition and seed: the training and its test accuracy."""
        data = ctx.data(DATA)
        return [
            Run(
                run_name(label, seed),
                TRAIN,
                {"augment": preserving(data) if spec is None else spec, "subset": SUBSET * factor, "seed": seed},
                COSTS[label],
            )
            for label, (spec, factor) in CONDITIONS.items()
            for seed in seeds
        ]

    def collect(self, ctx, results) -> Measurements:
        """Test accuracies by condition (one per seed in `results`), the data's label-preserving set, and the
        figure."""
        seeds = [s for s in unit_seeds(ctx, SCHEDULE[-1]) if all(run_name(c, s) in results for c in CONDITIONS)]
        acc = {label: [results[run_name(label, seed)] for seed in seeds] for label in CONDITIONS}
        spec = preserving(ctx.data(DATA))
        fig, ax = plt.subplots(figsize=(6.5, 3.5))
        stats = [mean_std(acc[label]) for label in CONDITIONS]
        colors = ["tab:gray", "tab:green", "tab:red", "tab:blue"]
        ax.bar(range(len(CONDITIONS)), [m for m, _ in stats], yerr=[s for _, s in stats], capsize=4, color=colors)
        names = ["none", spec.replace(",", "+"), "flip", "twice the real data"]
        ax.set_xticks(range(len(CONDITIONS)), names, fontsize=7)
        lo = min(m - s for m, s in stats)
        ax.set_ylim(max(0.0, lo - 0.05), min(1.0, max(m + s for m, s in stats) + 0.02))
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{SUBSET} training images unless stated", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        return Measurements(
            {"test_accuracy": acc, "label_preserving": spec},
            [("Test accuracy by training data and augmentation (mean ± std over seeds)", fig)],
            seeds,
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `collect` returned."""
        acc = m["test_accuracy"]
        aug, none = acc["label-preserving"], acc["none"]
        p = part(
            "test accuracy, label-preserving augmentation vs none",
            aug,
            none,
            form="difference",
            margin=ACCURACY,
            schedule=self.schedule,
        )
        flip = "a label-preserving flip" if "flip" in m["label_preserving"] else "not label-preserving here"
        key = (
            f"augmented ({m['label_preserving']}) {pm(aug)} vs none {pm(none)} (paired diff "
            f"{p.comparison.mean:+.4f}, {p.comparison.n} seeds); flip alone ({flip}) {pm(acc['flip'])}; "
            f"2x data {pm(acc['twice the real data'])}"
        )
        return verdict(
            [p],
            key,
            {
                "supported": "label-preserving augmentation raised test accuracy by more than half a point",
                "contradicted": "label-preserving augmentation did not raise test accuracy by half a point or more",
            },
        )
