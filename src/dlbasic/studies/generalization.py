"""Claim `generalization`: too little capacity underfits; overfitting is test performance falling behind training.

Zhang, Bengio, Hardt, Recht & Vinyals, "Understanding deep learning requires rethinking generalization",
ICLR 2017 (arXiv 1611.03530), train networks of growing capacity on CIFAR-10 and ImageNet with the true
labels and with *partially corrupted* labels (each label replaced by a uniformly random class with
probability p), and report training and test error against capacity and epochs on a fixed test split:
with true labels the training error reaches 0 and the test error stays well above it; with corrupted
labels the networks still fit the training labels, so the generalization gap grows to the noise.

Scaled down here: one-hidden-layer MLPs of widths 2-512 (the capacity axis) on 300 images of the
8x8 digits (quick profile), 30 epochs of Adam, true labels and p = 0.2. Units: three training subsets
per seed for the judged nets (the narrowest and the widest; 9 paired units), the first of them for the
whole width curve. A unit fixes the training subset, the corrupted labels, the initialization and the
data order; a seed fixes the test split, the same for every width, label condition and unit of the seed.
The test accuracy is also recorded after every epoch (the epoch view), for the curves only. The lab computes
one run per (seed, unit) (`unit_run`).

Underfitting is judged on training accuracy (the narrowest net against the widest), overfitting on the
widest net's train - test accuracy, per unit: gap_u = acc_train,u - acc_test,u, each with the lab's paired
t rule (`dlbasic.lab.stats.decide`) against a margin.
"""

from __future__ import annotations

from dataclasses import replace

import matplotlib.pyplot as plt
import torch

from dlbasic.data import load, stratified_subset
from dlbasic.evaluation._fit import fit, load_pool, split_options, with_own_stats
from dlbasic.lab.registry import register_study
from dlbasic.lab.stats import decide
from dlbasic.lab.study import (
    CONTRADICTED,
    INCONCLUSIVE,
    SUPPORTED,
    Measurements,
    Run,
    Study,
    Verdict,
    mean_std,
    pm,
    unit_runs,
)

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)

WIDTHS = (2, 8, 32, 128, 512)
UNITS = 3  # training subsets per seed for the judged (narrowest and widest) nets; the curve uses the first
TRAIN = 300
NOISE = 0.2  # Zhang et al.'s partially corrupted labels: each replaced by a uniform random class with probability p
CONDITIONS = {"clean": 0.0, "noisy": NOISE}


def corrupt_labels(labels: torch.Tensor, p: float, num_classes: int, seed: int) -> torch.Tensor:
    """Zhang et al.'s partially corrupted labels: each label independently, with probability `p`, replaced by
    a class drawn uniformly from all `num_classes` (so it may stay the same); deterministic for a seed."""
    g = torch.Generator().manual_seed(seed)
    flip = torch.rand(labels.shape, generator=g) < p
    random = torch.randint(0, num_classes, labels.shape, generator=g)
    return torch.where(flip, random, labels)


def unit_widths(unit: int) -> tuple[int, ...]:
    """The widths unit `unit` of a seed trains: all for the first, the narrowest and widest for the others."""
    return WIDTHS if unit == 0 else (WIDTHS[0], WIDTHS[-1])


def unit_run(ctx, seed: int, unit: int) -> dict:
    """Unit `unit` of `seed`: its training subset, with true and corrupted labels, at each of its widths;
    training and test accuracy per condition and width, and the widest net's epoch curves (first unit)."""
    cfg = ctx.config(
        data=ctx.data(DATA),
        model="mlp",
        optimizer="adam",
        lr=1e-2,
        epochs=ctx.profile.epochs(30),
        batch_size=32,
        seed=seed,
    )
    full = load_pool(cfg)
    test = load(cfg.data, "test", **split_options(cfg))
    cfg = replace(cfg, seed=1000 * seed + unit)
    pool = with_own_stats(full.subset(stratified_subset(full.labels, ctx.profile.size(TRAIN), cfg.seed)))
    out = {"train_accuracy": {}, "test_accuracy": {}, "widest_curves": {}}
    for cond, p in CONDITIONS.items():
        labels = corrupt_labels(pool.labels, p, pool.num_classes, cfg.seed)
        data = pool if p == 0 else replace(pool, labels=labels)
        out["train_accuracy"][cond], out["test_accuracy"][cond] = {}, {}
        for w in unit_widths(unit):
            trainer = fit(replace(cfg, model_options={"hidden": [w]}), data, test)  # test: curves only
            out["train_accuracy"][cond][str(w)] = float(trainer.evaluate(data)["accuracy"])
            out["test_accuracy"][cond][str(w)] = float(trainer.evaluate(test)["accuracy"])
            if w == WIDTHS[-1] and unit == 0:
                out["widest_curves"][cond] = {
                    "train_accuracy": [h["train_accuracy"] for h in trainer.history],
                    "test_accuracy": [h["val_accuracy"] for h in trainer.history],
                }
    return out


UNIT_RUN = "dlbasic.studies.generalization:unit_run"
UNIT_COST = (2.4, 1.1)  # seconds of the first unit of a seed (every width) and of the others


@register_study
class Generalization(Study):
    """Claim `generalization`: Underfitting: too little learning; overfitting: test performance falls behind training
    performance.
    """

    id = "generalization"
    trains_on = DATA
    section = "Important Concepts"
    claim = "Underfitting: too little learning; overfitting: test performance falls behind training performance."
    note = (
        "접한 적 없는 데이터에 대해서도 잘 동작함. Underfitting : 모델이 학습이 덜 된 경우. "
        "Overfitting : 학습 데이터에 비해 테스트 데이터에서 성능이 떨어짐."
    )
    literature = (
        "Zhang et al. (arXiv 1611.03530) show that networks large enough fit their training labels, even "
        "random ones, so the gap between training and test performance is set by the data and labels, not "
        "by capacity alone; the gap need not grow monotonically with width."
    )
    UNDERFIT_MARGIN = 0.05  # a training-accuracy shortfall under 5 points is not what anyone calls underfitting
    GAP_MARGIN = 0.02  # a train - test gap under 2 points (~7 of 359 test images) is no "falling behind"
    method = (
        f"One-hidden-layer MLPs of widths {', '.join(map(str, WIDTHS))} train with Adam (lr 1e-2, batch 32) for "
        f"30 epochs on {TRAIN} training images (a stratified subset of the train+val pool) of the `--data` "
        f"source (default: 8x8 digits), once with the true labels and once with {NOISE:.0%} of the labels "
        "replaced by a uniformly random class (Zhang et al. 2017). Units: "
        f"{UNITS} training subsets per seed for the narrowest and widest nets, the first also for every other "
        "width; a unit fixes the subset, the corrupted labels, the initialization and the data order, a seed "
        "the test split, so all arms of a unit are paired. Training "
        "accuracy is measured after training (eval mode) on the training images with the labels trained on; "
        "test accuracy on the seed's test split (true labels), also after every epoch for the curves."
    )
    rule = (
        f"Three paired t-tests over the units (stats.decide, two-sided 5 %): (U) underfitting: the widest net's "
        f"training accuracy above the narrowest's by more than {UNDERFIT_MARGIN}; (O) overfitting with true "
        f"labels: the widest net's training accuracy above its test accuracy by more than {GAP_MARGIN}; (O') the "
        f"same with {NOISE:.0%} corrupted labels. Supported if all three are supported; contradicted if any is "
        "contradicted; inconclusive otherwise. The gap at every width and epoch is reported, not judged: it "
        "need not grow monotonically."
    )

    def plan(self, ctx, results) -> list[Run]:
        """One run per (seed, unit): every width and label condition that unit trains."""
        if results:
            return []
        return unit_runs(ctx.seeds, UNITS, UNIT_RUN, lambda u: UNIT_COST[u > 0])

    def collect(self, ctx, results) -> Measurements:
        """The numbers of `method` from the units' runs, and the figure."""
        train_acc = {c: {str(w): [] for w in WIDTHS} for c in CONDITIONS}
        test_acc = {c: {str(w): [] for w in WIDTHS} for c in CONDITIONS}
        curves: dict[str, dict[str, list[float]]] = {}
        for seed in ctx.seeds:
            for u in range(UNITS):
                run = results[f"seed{seed}-unit{u}"]
                for cond in CONDITIONS:
                    for w in unit_widths(u):
                        train_acc[cond][str(w)].append(run["train_accuracy"][cond][str(w)])
                        test_acc[cond][str(w)].append(run["test_accuracy"][cond][str(w)])
                if seed == ctx.seeds[0] and u == 0:
                    curves = run["widest_curves"]
        gap = {
            c: {k: [a - b for a, b in zip(train_acc[c][k], test_acc[c][k])] for k in train_acc[c]} for c in CONDITIONS
        }
        numbers = {
            "widths": list(WIDTHS),
            "noise": NOISE,
            "units": UNITS,
            "train_accuracy": train_acc,
            "test_accuracy": test_acc,
            "gap": gap,
            "widest_curves": curves,
        }
        caption = (
            "Train and test accuracy against capacity with true and with corrupted labels (left; the middle "
            "widths from one unit per seed), and the widest net's accuracy per epoch (right)"
        )
        return Measurements(numbers, [(caption, _figure(numbers))], list(ctx.seeds))

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        tr, te = m["train_accuracy"], m["test_accuracy"]
        small, large = sorted(tr["clean"], key=int)[0], sorted(tr["clean"], key=int)[-1]
        under = decide(tr["clean"][large], tr["clean"][small], margin=self.UNDERFIT_MARGIN)
        over = decide(tr["clean"][large], te["clean"][large], margin=self.GAP_MARGIN)
        over_noisy = decide(tr["noisy"][large], te["noisy"][large], margin=self.GAP_MARGIN)
        decisions = (under, over, over_noisy)
        key = (
            f"train accuracy width {small} {pm(tr['clean'][small])} vs width {large} {pm(tr['clean'][large])}; "
            f"width {large} train {pm(tr['clean'][large])} vs test {pm(te['clean'][large])} (true labels), "
            f"train {pm(tr['noisy'][large])} vs test {pm(te['noisy'][large])} ({m['noise']:.0%} corrupted labels); "
            "gap by width (true labels): "
            + ", ".join(f"{w} {mean_std(m['gap']['clean'][w])[0]:+.3f}" for w in sorted(m["gap"]["clean"], key=int))
        )
        verdicts = [d.verdict for d in decisions]
        names = ("underfitting", "gap, true labels", "gap, corrupted labels")
        test = "; ".join(f"{name}: {d}" for name, d in zip(names, decisions))
        if all(v == SUPPORTED for v in verdicts):
            return Verdict(
                SUPPORTED,
                key,
                "the narrow net underfits (its training accuracy falls short), and the wide "
                "net's test accuracy falls behind its training accuracy, with true labels "
                "and, more so, with corrupted ones",
                test,
            )
        if CONTRADICTED in verdicts:
            failed = [
                name
                for name, v in zip(
                    ("the narrow net does not underfit", "no gap with true labels", "no gap with corrupted labels"),
                    verdicts,
                )
                if v == CONTRADICTED
            ]
            return Verdict(CONTRADICTED, key, "; ".join(failed) + " (beyond the margins)", test)
        unclear = [
            name
            for name, v in zip(("underfitting", "gap with true labels", "gap with corrupted labels"), verdicts)
            if v == INCONCLUSIVE
        ]
        return Verdict(INCONCLUSIVE, key, f"not decided: {', '.join(unclear)} (see the tests)", test)


def _figure(m):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    widths = m["widths"]
    for cond, color in (("clean", "C0"), ("noisy", "C3")):
        label = "true labels" if cond == "clean" else f"{m['noise']:.0%} corrupted"
        for name, style in (("train_accuracy", "o-"), ("test_accuracy", "s--")):
            s = [mean_std(m[name][cond][str(w)]) for w in widths]
            ax1.errorbar(
                widths,
                [a for a, _ in s],
                yerr=[b for _, b in s],
                fmt=style,
                color=color,
                capsize=3,
                label=f"{name.split('_')[0]}, {label}",
            )
        c = m["widest_curves"].get(cond)
        if c:
            epochs = range(1, len(c["train_accuracy"]) + 1)
            ax2.plot(epochs, c["train_accuracy"], "-", color=color, label=f"train (running), {label}")
            ax2.plot(epochs, c["test_accuracy"], "--", color=color, label=f"test, {label}")
    ax1.set_xscale("log", base=2)
    ax1.set_xlabel("hidden units (capacity)")
    ax1.set_ylabel("accuracy")
    ax1.set_title("capacity: underfitting (left) to fitting every label (right)")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy")
    ax2.set_title(f"width {widths[-1]}, first seed")
    for ax in (ax1, ax2):
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
