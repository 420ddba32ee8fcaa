r"""Claim `generalization`: too little capacity underfits; overfitting is test performance falling behind training.

Zhang, Bengio, Hardt, Recht & Vinyals, "Understanding deep learning requires rethinking generalization",
ICLR 2017 (arXiv 1611.03530), train networks of growing capacity on CIFAR-10 and ImageNet with the true
labels and with *partially corrupted* labels (each label replaced by a uniformly random class with
probability p), and report training and test error against capacity and epochs on a fixed test split:
with true labels the training error reaches 0 and the test error stays well above it; with corrupted
labels the networks still fit the training labels, so the generalization gap grows to the noise.

Overfitting, as the claim states it, is measured over epochs: the epoch e* of the lowest validation loss (a
split of its own, never the test split) is where overfitting begins, and past it the wide net's test loss
L_test rises while its training loss L_train keeps falling, each judged on the log scale,

.. math::

    \ln L_\text{test}(E) - \ln L_\text{test}(e^*) > \ln 1.1, \qquad
    \ln L_\text{train}(e^*) - \ln L_\text{train}(E) > \ln 1.1,

E the last epoch; and with p = 0.2 corrupted labels, the train - test accuracy gap at E exceeds 0.5 point.

Scaled down: one-hidden-layer MLPs on 300 training images of the 8x8 digits (quick profile), 300 validation
images, 40 epochs of Adam (lr 1e-2, batch 32): the widest net (512 units) fits its 300 images within a few
epochs, so the 40 epochs run well past e*. Widths 2 and 32 are trained too, for the capacity curve, which
is reported, not judged (that a 2-unit net underfits is true of any 2-unit net). A unit is one paired seed:
its own test split, training and validation subsets, corrupted labels, initialization and data order; the
lab computes one run per seed (`seed_run`), in stages of 8, 16, then 32 seeds.
"""

from __future__ import annotations

from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch

from dlbasic.callbacks import Callback
from dlbasic.data import load
from dlbasic.evaluation._fit import load_pool, with_own_stats
from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, mean_std, one_run_per_seed, per_seed, pm
from dlbasic.lab.verdicts import ACCURACY, RATIO, looks, part, verdict

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)

WIDTHS = (2, 32, 512)
TRAIN, VAL = 300, 300
EPOCHS = 40
NOISE = 0.2  # Zhang et al.'s partially corrupted labels: each replaced by a uniform random class with probability p
CONDITIONS = {"clean": 0.0, "noisy": NOISE}
SCHEDULE = looks(8)


def corrupt_labels(labels: torch.Tensor, p: float, num_classes: int, seed: int) -> torch.Tensor:
    """Zhang et al.'s partially corrupted labels: each label independently, with probability `p`, replaced by
    a class drawn uniformly from all `num_classes` (so it may stay the same); deterministic for a seed."""
    g = torch.Generator().manual_seed(seed)
    flip = torch.rand(labels.shape, generator=g) < p
    random = torch.randint(0, num_classes, labels.shape, generator=g)
    return torch.where(flip, random, labels)


class Curves(Callback):
    """Loss and accuracy on named datasets after every epoch (eval mode)."""

    def __init__(self, **data):
        self.data = data
        self.log: dict[str, dict[str, list[float]]] = {k: {"loss": [], "accuracy": []} for k in data}

    def on_epoch_end(self, trainer, epoch: int, logs: dict[str, float]) -> None:
        for name, d in self.data.items():
            r = trainer.evaluate(d)
            self.log[name]["loss"].append(float(r["loss"]))
            self.log[name]["accuracy"].append(float(r["accuracy"]))


def past_optimum(val_loss, train_loss, test_loss) -> dict[str, float]:
    """At e* (the epoch of the lowest validation loss; ties: the first) and at the last epoch: the training
    and test losses, and e* (1-based)."""
    e = int(np.argmin(val_loss))
    return {
        "best_epoch": e + 1,
        "test_loss_best": float(test_loss[e]),
        "test_loss_end": float(test_loss[-1]),
        "train_loss_best": float(train_loss[e]),
        "train_loss_end": float(train_loss[-1]),
    }


def seed_run(ctx, seed: int) -> dict:
    """One paired seed: its test split, training and validation subsets; every width with true and with
    corrupted labels; final training (labels trained on) and test accuracy, and the widest net's curves."""
    cfg = ctx.config(
        data=ctx.data(DATA),
        model="mlp",
        optimizer="adam",
        lr=1e-2,
        epochs=ctx.profile.epochs(EPOCHS),
        batch_size=32,
        seed=seed,
    )
    full = load_pool(cfg)
    test = load(cfg.data, "test", **cfg.split_options())
    n = min(ctx.profile.size(TRAIN), len(full) // 2)
    rest = torch.from_numpy(np.random.default_rng(seed).permutation(len(full)))
    pool = with_own_stats(full.subset(rest[:n]))
    val = full.subset(rest[n : n + min(ctx.profile.size(VAL), len(full) - n)])
    cfg = replace(cfg, seed=1000 * seed + 1)
    out: dict = {"train_accuracy": {}, "test_accuracy": {}, "curves": {}}  # curves: true labels only
    for cond, p in CONDITIONS.items():
        data = replace(pool, labels=corrupt_labels(pool.labels, p, pool.num_classes, cfg.seed)) if p else pool
        out["train_accuracy"][cond], out["test_accuracy"][cond] = {}, {}
        for w in WIDTHS:
            judged = w == WIDTHS[-1] and not p  # the widest net with true labels: its curves decide
            curves = Curves(train=data, test=test) if judged else None
            trainer = _fit(replace(cfg, model_options={"hidden": [w]}), data, val if judged else None, curves)
            out["train_accuracy"][cond][str(w)] = float(trainer.evaluate(data)["accuracy"])
            out["test_accuracy"][cond][str(w)] = float(trainer.evaluate(test)["accuracy"])
            if curves is not None:
                out["curves"][cond] = {
                    "val_loss": [h["val_loss"] for h in trainer.history],
                    **{f"{k}_{m}": v for k, d in curves.log.items() for m, v in d.items()},
                }
    return out


def _fit(cfg, data, val, curves):
    from dlbasic.training.run import build_trainer

    cb = [curves] if curves else []
    trainer = build_trainer(
        replace(cfg, early_stopping=0), data, val, callbacks=cb, progress=False, stop_on_divergence=False
    )
    trainer.fit()
    return trainer


SEED_RUN = "dlbasic.studies.generalization:seed_run"
SEED_COST = 2.2  # seconds of one seed's run (one thread, quick profile)


@register_study
class Generalization(Study):
    """Claim `generalization`: Underfitting: too little learning; overfitting: test performance falls behind training
    performance.
    """

    id = "generalization"
    trains_on = DATA
    form = "difference"
    schedule = SCHEDULE
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
    method = (
        f"Per paired seed, {TRAIN} training and {VAL} validation images drawn from the train+val pool of the "
        "`--data` source (default: 8x8 digits) and the seed's own test split. One-hidden-layer MLPs of widths "
        f"{', '.join(map(str, WIDTHS))} train with Adam (lr 1e-2, batch 32) for {EPOCHS} epochs, once with the "
        f"true labels and once with {NOISE:.0%} of the labels replaced by a uniformly random class (Zhang et "
        f"al. 2017). For the widest net the training loss (eval mode, on the labels trained on), validation loss "
        "and test loss are recorded after every epoch; e* is the epoch of the lowest validation loss. Training "
        "accuracy (labels trained on) and test accuracy (true labels) at the end for every width; the widths "
        "below the widest are reported (capacity curve), not judged."
    )
    rule = (
        f"Three paired comparisons over seeds (difference form, verdicts.part; seeds {SCHEDULE[0]} then "
        f"{SCHEDULE[1]}, O'Brien-Fleming boundary), widest net: (1) test loss rises past the validation "
        "optimum: ln L_test(end) - ln L_test(e*) > ln 1.1 (true labels); (2) training loss keeps falling: "
        f"ln L_train(e*) - ln L_train(end) > ln 1.1 (true labels); (3) with {NOISE:.0%} corrupted labels, "
        f"training accuracy minus test accuracy at the end > {ACCURACY} (0.5 point). Supported when all three "
        "are, contradicted when any is (opposite side, or within the margin); else inconclusive."
    )

    def seed_runs(self, ctx, seeds) -> list[Run]:
        """One run per paired seed: every width and label condition."""
        return one_run_per_seed(seeds, SEED_RUN, SEED_COST)

    def collect(self, ctx, results) -> Measurements:
        """The numbers of `method` from the seeds' runs (in seed order), and the figure."""
        seeds, runs = per_seed(results)
        acc = {
            k: {c: {str(w): [r[k][c][str(w)] for r in runs] for w in WIDTHS} for c in CONDITIONS}
            for k in ("train_accuracy", "test_accuracy")
        }
        opt = [past_optimum(*(r["curves"]["clean"][k] for k in ("val_loss", "train_loss", "test_loss"))) for r in runs]
        numbers = {
            "widths": list(WIDTHS),
            "noise": NOISE,
            "seeds": seeds,
            **acc,
            "past_optimum": {k: [o[k] for o in opt] for k in opt[0]},
            "curves": runs[0]["curves"],
        }
        caption = (
            "Train and test accuracy against capacity with true and corrupted labels (left); the widest net's "
            "training, validation and test loss per epoch, first seed, true labels, e* marked (right)"
        )
        return Measurements(numbers, [(caption, _figure(numbers))], seeds)

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `collect` returned."""
        o, tr, te = m["past_optimum"], m["train_accuracy"], m["test_accuracy"]
        wide, narrow = str(m["widths"][-1]), str(m["widths"][0])
        parts = [
            part(
                "test loss at the end vs at the validation optimum (rises)",
                o["test_loss_end"],
                o["test_loss_best"],
                form="difference",
                margin=RATIO,
                log=True,
                schedule=self.schedule,
            ),
            part(
                "training loss at the validation optimum vs at the end (keeps falling)",
                o["train_loss_best"],
                o["train_loss_end"],
                form="difference",
                margin=RATIO,
                log=True,
                schedule=self.schedule,
            ),
            part(
                f"training vs test accuracy at the end, {m['noise']:.0%} corrupted labels",
                tr["noisy"][wide],
                te["noisy"][wide],
                form="difference",
                margin=ACCURACY,
                schedule=self.schedule,
            ),
        ]
        key = (
            f"width {wide}, true labels: e* = epoch {pm(o['best_epoch'], 1)}; test loss {pm(o['test_loss_best'])} "
            f"at e* -> {pm(o['test_loss_end'])} at the end, training loss {pm(o['train_loss_best'], 4)} -> "
            f"{pm(o['train_loss_end'], 4)}; {m['noise']:.0%} corrupted labels: train {pm(tr['noisy'][wide])} vs "
            f"test {pm(te['noisy'][wide])}; reported: width {narrow} training accuracy {pm(tr['clean'][narrow])} "
            f"vs width {wide} {pm(tr['clean'][wide])} (true labels)"
        )
        reasons = {
            "supported": "past the validation optimum the wide net's test loss rises while its training loss "
            "keeps falling, and with corrupted labels its test accuracy falls behind its training accuracy",
        }
        return verdict(parts, key, reasons)


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
    c = m["curves"]["clean"]
    epochs = range(1, len(c["val_loss"]) + 1)
    for key, style in (("train_loss", "-"), ("val_loss", ":"), ("test_loss", "--")):
        ax2.plot(epochs, c[key], style, label=key.replace("_", " "))
    ax2.axvline(int(np.argmin(c["val_loss"])) + 1, color="grey", lw=0.8, label="e* (lowest validation loss)")
    ax1.set_xscale("log", base=2)
    ax1.set_xlabel("hidden units (capacity)")
    ax1.set_ylabel("accuracy")
    ax1.set_title("capacity (reported)")
    ax2.set_yscale("log")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("cross-entropy")
    ax2.set_title(f"width {widths[-1]}, first seed, true labels")
    for ax in (ax1, ax2):
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
