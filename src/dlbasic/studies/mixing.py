"""Claim `mixing`: mixing two training images and their labels in proportion (Mixup, CutMix) trains better.

The experiments scaled down: Zhang, Cisse, Dauphin & Lopez-Paz, "mixup: Beyond Empirical Risk Minimization"
(ICLR 2018), and Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with Localizable
Features" (ICCV 2019): a convolutional network (PreAct ResNet-18 on CIFAR, 200-300 epochs with a decaying
learning rate) trained with plain targets, with Mixup and with CutMix, compared on test error; Zhang et al.
and Thulasidasan et al. (NeurIPS 2019) also report calibration. Both are regularizers: they help where a
plain network overfits its training set (Zhang et al.'s gains grow as the training set shrinks). CutMix
pastes a box of one image into another, so the network must see images as images: a CNN, not an MLP.

Scaling: `tiny_cnn` (conv stages of 16 and 32 channels, a 64-unit hidden layer, no dropout, no norm) on 500
of the 28x28 MNIST digits of `mnist5k` (or --data) for 20 epochs (320 steps of 32) of Adam with a cosine
decay to 0: the plain network fits its 500 images exactly (training accuracy 1, the overfitting regime in
which a regularizer can help; reported), with 2,500 held-out images as each seed's own test split (half the
pool, so a difference of half a point is not lost in the test split's noise). The note files this under
"label smoothing", which softens the one-hot targets of single images and mixes nothing (Szegedy et al.
2016): label smoothing (0.1) is trained beside and reported, with each target's expected calibration error,
not judged.

Pairing: the four trainings of a seed share split, subset, initialization and data order; only the target
(and, for the mixing methods, the mixed inputs) differ.

Runs: one per training target and seed (a training, its test accuracy, calibration error and last-epoch
training accuracy), for 3 paired seeds, and 6 when the first look is undecided.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from dlbasic.evaluation.calibration import expected_calibration_error
from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, mean_std, pm
from dlbasic.lab.verdicts import ACCURACY, looks, part, verdict
from dlbasic.training.run import load_data

DATA = "mnist5k"  # the source its runs train on, unless the lab names one (--data)

EPOCHS, SUBSET, BATCH, BINS, TEST_FRACTION = 20, 500, 32, 15, 0.5
MIXING = {"mixup": {"mixup": 0.4}, "cutmix": {"cutmix": 1.0}}  # Zhang et al.'s alpha 0.4; Yun et al.'s 1.0
METHODS = {"plain": {}, **MIXING, "label smoothing": {"label_smoothing": 0.1}}  # smoothing: reported beside
SCHEDULE = looks(3)
TRAIN = "dlbasic.studies.mixing:accuracy_and_calibration"
# seconds of one training and its measurement by training target (one thread, quick profile)
COSTS = {"plain": 5.7, "mixup": 6.0, "cutmix": 5.7, "label smoothing": 5.7}


def run_name(method: str, seed: int) -> str:
    """The name of the run that trains with `method` (a key of METHODS) and `seed`."""
    return f"{method} seed {seed}"


def accuracy_and_calibration(ctx, options: dict, seed: int) -> dict[str, float]:
    """Train tiny_cnn with `options` (the training target) and `seed`; its test accuracy, expected calibration
    error and last-epoch training accuracy: {"accuracy", "ece", "train_accuracy"}."""
    cfg = ctx.config(
        model="tiny_cnn",
        data=ctx.data(DATA),
        test_fraction=TEST_FRACTION,
        epochs=ctx.profile.epochs(EPOCHS),
        batch_size=BATCH,
        scheduler="cosine",
        seed=seed,
        train_subset=ctx.profile.size(SUBSET),
        **options,
    )
    s = ctx.train(cfg)
    test = load_data(cfg).test
    with torch.no_grad():
        probs = torch.softmax(ctx.model(cfg, s)(test.normalize(test.images)), dim=1)  # (N, K)
    return {
        "accuracy": s["test_accuracy"],
        "ece": expected_calibration_error(probs, test.labels, BINS),
        "train_accuracy": s["history"][-1].get("train_accuracy", float("nan")),
    }


def paired_seeds(results: dict) -> list[int]:
    """The seeds whose runs of every training target are in `results`."""
    seeds = {int(k.rsplit(" ", 1)[1]) for k in results}
    return sorted(s for s in seeds if all(run_name(m, s) in results for m in METHODS))


@register_study
class Mixing(Study):
    """Claim `mixing`: Mixing two training images and their labels in proportion (the note says 'label smoothing' but
    describes Mixup/CutMix) smooths the decision boundary and raises performance for little effort.
    """

    id = "mixing"
    trains_on = DATA
    section = "Regularization"
    form = "difference"
    schedule = SCHEDULE
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
        "mixes nothing; this study trains it beside Mixup and CutMix and reports what it measures (accuracy "
        "and calibration). Calibration: Guo et al., https://arxiv.org/abs/1706.04599; Thulasidasan et al. "
        "(https://arxiv.org/abs/1905.11001) report that Mixup improves it."
    )
    method = (
        f"tiny_cnn (conv 16 and 32 channels, no dropout, Adam, cosine decay to 0) is trained on {SUBSET} of "
        "the 28x28 MNIST digits (half the pool held out as each seed's test split; or --data, tested on the "
        f"lab's draw of its test set) for {EPOCHS} epochs of batch {BATCH}, into the overfitting regime "
        "(training accuracy 1): plainly, with Mixup (alpha 0.4), with CutMix (alpha 1.0, label weight = "
        "pasted area), every batch mixed, and with label smoothing 0.1 (reported beside); the trainings of a "
        "seed share split, subset, initialization and data order. Measured on the seed's test split: accuracy "
        f"and the expected calibration error over {BINS} confidence bins."
    )
    rule = (
        "Two parts, test accuracy of Mixup vs plain and of CutMix vs plain, each paired by seed against the "
        "margin 0.005 (dlbasic.lab.verdicts.part, form difference): a part is supported when its interval lies "
        "above +0.005, contradicted when it lies below -0.005 or inside ±0.005; the claim is supported when "
        f"both are, contradicted when either is. Seeds in looks of {'/'.join(map(str, SCHEDULE))} with an "
        "O'Brien-Fleming boundary. Calibration error and label smoothing are reported, not judged."
    )

    def seed_runs(self, ctx, seeds) -> list[Run]:
        """One run per training target and seed: the training, its accuracy and calibration error."""
        return [
            Run(run_name(name, seed), TRAIN, {"options": options, "seed": seed}, COSTS[name])
            for seed in seeds
            for name, options in METHODS.items()
        ]

    def collect(self, ctx, results) -> Measurements:
        """Test accuracy, calibration error and training accuracy by training target (one per seed), and the
        figure."""
        seeds = paired_seeds(results)
        acc, ece, train = (
            {name: [results[run_name(name, seed)][key] for seed in seeds] for name in METHODS}
            for key in ("accuracy", "ece", "train_accuracy")
        )
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
            {"test_accuracy": acc, "ece": ece, "train_accuracy": train},
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
        """The verdict by `rule`, computed from the numbers `collect` returned."""
        acc, ece = m["test_accuracy"], m["ece"]
        parts = [
            part(
                f"test accuracy, {name} vs plain",
                acc[name],
                acc["plain"],
                form=self.form,
                margin=ACCURACY,
                schedule=self.schedule,
            )
            for name in MIXING
        ]
        mean = lambda v: mean_std(v)[0]  # noqa: E731
        diff = lambda a, b: mean([x - y for x, y in zip(a, b)])  # noqa: E731
        others = [n for n in METHODS if n != "plain"]
        key = (
            f"test accuracy plain {pm(acc['plain'])} (training accuracy {mean(m['train_accuracy']['plain']):.3f}); "
            + ", ".join(f"{n} {diff(acc[n], acc['plain']):+.4f}" for n in others)
            + f" vs plain; ECE plain {mean(ece['plain']):.3f}, "
            + ", ".join(f"{n} {mean(ece[n]):.3f}" for n in others)
        )
        return verdict(
            parts,
            key,
            {
                "supported": "Mixup and CutMix each raised test accuracy over plain training by more than 0.5 point",
            },
        )
