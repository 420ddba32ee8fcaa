"""Claim `mixing`: mixing two training images and their labels in proportion (Mixup, CutMix) trains better.

The experiments scaled down: Zhang, Cisse, Dauphin & Lopez-Paz, "mixup: Beyond Empirical Risk Minimization"
(ICLR 2018), and Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with Localizable
Features" (ICCV 2019): a convolutional network (PreAct ResNet-18 on CIFAR, 200-300 epochs with a decaying
learning rate) trained with plain targets, with Mixup and with CutMix, compared on test error; Zhang et al.
and Thulasidasan et al. (NeurIPS 2019) also report calibration. CutMix pastes a box of one image into
another, so the network must see images as images: a CNN, not an MLP that flattens the pixels.

Scaling: `tiny_cnn` (two conv stages of 16 and 32 channels) on 1,000 of the 8x8 digits (or --data) for 30
epochs of Adam with a cosine decay to 0; on 8x8 images a CutMix box is a patch of a few pixels, which the
convolutions still see in place. Two units per profile seed (seed i gives units 2i, 2i+1): on 500 MNIST
images at 28x28 a run cost three times more and three pairs left a gain of 0.7 points undecided. The note
files this under "label smoothing", which softens one-hot targets of single images and mixes nothing; the
full profile runs it beside the others, not judged (the quick profile leaves it out for time).

Pairing: the four trainings of a unit share split, subset, initialization and data order; only the target
(and, for the mixing methods, the mixed inputs) differ.

Runs: one per training target and seed (a training, its test accuracy and calibration error), all in one
stage.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from dlbasic.evaluation.calibration import expected_calibration_error
from dlbasic.lab.registry import register_study
from dlbasic.lab.stats import decide
from dlbasic.lab.study import Measurements, Run, Study, Verdict, mean_std, pm
from dlbasic.training.run import load_data

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)

EPOCHS, SUBSET, BINS = 30, 1000, 15
UNITS = 2  # independent paired units (seeds) per profile seed
METHODS = {"plain": {}, "mixup": {"mixup": 0.4}, "cutmix": {"cutmix": 1.0}}
CONTRAST = {"label smoothing": {"label_smoothing": 0.1}}  # reported beside, in the full profile only
MIXING = ("mixup", "cutmix")
TRAIN = "dlbasic.studies.mixing:accuracy_and_calibration"
# seconds of one training and its measurement by training target (one thread, quick profile)
COSTS = {"plain": 1.8, "mixup": 2.5, "cutmix": 1.8, "label smoothing": 1.8}


def unit_seeds(ctx) -> list[int]:
    """The seeds of the paired units: UNITS per profile seed."""
    return [s * UNITS + j for s in ctx.seeds for j in range(UNITS)]


def run_name(method: str, seed: int) -> str:
    """The name of the run that trains with `method` (a key of METHODS or CONTRAST) and `seed`."""
    return f"{method} seed {seed}"


def profile_methods(ctx) -> dict[str, dict]:
    """The training targets of this profile: METHODS, and CONTRAST beside them outside the quick profile."""
    return {**METHODS, **(CONTRAST if ctx.profile.name != "quick" else {})}


def accuracy_and_calibration(ctx, options: dict, seed: int) -> dict[str, float]:
    """Train tiny_cnn with `options` (the training target) and `seed`; its test accuracy and expected
    calibration error: {"accuracy", "ece"}."""
    cfg = ctx.config(
        model="tiny_cnn",
        data=ctx.data(DATA),
        epochs=ctx.profile.epochs(EPOCHS),
        scheduler="cosine",
        seed=seed,
        train_subset=ctx.profile.size(SUBSET),
        **options,
    )
    s = ctx.train(cfg)
    test = load_data(cfg).test
    with torch.no_grad():
        probs = torch.softmax(ctx.model(cfg, s)(test.normalize(test.images)), dim=1)  # (N, K)
    return {"accuracy": s["test_accuracy"], "ece": expected_calibration_error(probs, test.labels, BINS)}


def mixed_arm(acc: dict[str, list[float]]) -> list[float]:
    """Per seed, the mean of the Mixup and CutMix values: the arm "a mixing method"."""
    return [sum(values) / len(values) for values in zip(*(acc[name] for name in MIXING))]


@register_study
class Mixing(Study):
    """Claim `mixing`: Mixing two training images and their labels in proportion (the note says 'label smoothing' but
    describes Mixup/CutMix) smooths the decision boundary and raises performance for little effort.
    """

    id = "mixing"
    trains_on = DATA
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
        f"tiny_cnn (conv 16 and 32 channels, Adam, cosine decay to 0) is trained on {SUBSET} of the 8x8 digits "
        f"(or --data) for {EPOCHS} epochs: plainly, with Mixup (alpha 0.4) and with CutMix (alpha 1.0, label "
        "weight = pasted area), every batch mixed (and, in the full profile, with label smoothing 0.1), for "
        f"{UNITS} seeds per profile seed; the trainings of a seed share split, subset, initialization and data "
        "order. Measured on the seed's test split: accuracy and the expected calibration error over "
        f"{BINS} confidence bins."
    )
    rule = (
        "Per seed, the mixing arm is the mean test accuracy of the Mixup and CutMix runs; a paired t-test of "
        "it against plain training over the seeds (dlbasic.lab.stats.decide, margin 0, two-sided 5 %) "
        "is the verdict. Mixup and CutMix alone against plain, and the calibration error (lower is better) "
        "of the mixing arm against plain, are tested the same way and reported, not judged; label smoothing "
        "(full profile) is reported beside."
    )

    def plan(self, ctx, results) -> list[Run]:
        """One run per training target and seed: the training, its accuracy and calibration error."""
        if results:
            return []
        return [
            Run(run_name(name, seed), TRAIN, {"options": options, "seed": seed}, COSTS[name])
            for name, options in profile_methods(ctx).items()
            for seed in unit_seeds(ctx)
        ]

    def collect(self, ctx, results) -> Measurements:
        """Test accuracy and calibration error by training target (one per seed), and the figure."""
        seeds, methods = unit_seeds(ctx), profile_methods(ctx)
        acc, ece = (
            {name: [results[run_name(name, seed)][part] for seed in seeds] for name in methods}
            for part in ("accuracy", "ece")
        )
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        names = list(methods)
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
            seeds,
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        acc, ece = m["test_accuracy"], m["ece"]
        mixed = mixed_arm(acc)
        d = decide(mixed, acc["plain"])
        each = {name: decide(acc[name], acc["plain"]) for name in MIXING}
        calibration = decide(mixed_arm(ece), ece["plain"], lower_is_better=True)
        mean = lambda v: mean_std(v)[0]  # noqa: E731
        smoothing = "label smoothing" in acc
        key = (
            f"accuracy mixing {pm(mixed)} vs plain {pm(acc['plain'])} (paired diff {d.mean_diff:+.3f}; mixup "
            f"{mean(acc['mixup']):.3f}, cutmix {mean(acc['cutmix']):.3f}"
            + (f", label smoothing {mean(acc['label smoothing']):.3f}" if smoothing else "")
            + f"); ECE mixing {mean(mixed_arm(ece)):.3f} vs plain {mean(ece['plain']):.3f} (mixup "
            f"{mean(ece['mixup']):.3f}, cutmix {mean(ece['cutmix']):.3f}"
            + (f", smoothing {mean(ece['label smoothing']):.3f}" if smoothing else "")
            + ")"
        )
        test = "; ".join(
            [f"accuracy, mixing: {d}"]
            + [f"accuracy, {n}: {x}" for n, x in each.items()]
            + [f"ECE, mixing: {calibration}"]
        )
        return Verdict(
            d.verdict,
            key,
            {
                "supported": "mixing images and labels raised test accuracy in the paired comparison",
                "contradicted": "mixing images and labels lowered test accuracy in the paired comparison",
                "inconclusive": f"not decided: {d.reason}",
            }[d.verdict],
            test,
        )
