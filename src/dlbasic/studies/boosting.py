r"""Claim `boosting`: sequential models, each focused on what the previous got wrong.

Freund & Schapire, "A decision-theoretic generalization of on-line learning and an application to
boosting", JCSS 1997 (AdaBoost), and its multi-class form SAMME (Zhu, Zou, Rosset & Hastie 2009): round m
trains learner h_m on the distribution D_m, then raises the weight of h_m's mistakes,

.. math::

    \alpha_m = \ln\frac{1 - \epsilon_m}{\epsilon_m} + \ln(K - 1),\qquad
    D_{m+1}(i) \propto D_m(i)\, e^{\alpha_m [h_m(x_i) \ne y_i]},

so that the next learner, which minimizes the weighted error \epsilon_{m+1} = \sum_i D_{m+1}(i)[h(x_i) \ne y_i],
concentrates on them. The focus is cleanest at round 1: D_1 is uniform, D_2 is a function of h_1's
mistakes alone (after later rounds the weights accumulate, and "the previous learner's mistakes" are
mostly points that were easy for the learners before it). The share of D_2 on the mistakes is (K-1)/K by
construction of \alpha_1, so it is no measurement. Measured instead, against a learner trained identically
(same initialization and data order) but with uniform weights:

* its accuracy on h_1's training mistakes, and
* its weighted error under D_2 (the quantity boosting asks it to minimize).

Scaled down: weak learners are 8-unit MLPs trained through a sample-weighted cross entropy
(`dlbasic.evaluation.ensembles.WeightedTask`) on 500 images of the 8x8 digits, 15 epochs: weak by their
capacity, not by truncated training (AdaBoost's weak learner returns a hypothesis fit to D_m; with 5
epochs the learners' errors spread from 0.08 to 0.40 by initialization alone, and optimization noise
then swamps the focus); 5 units per seed, each its
own training subset. The full SAMME run (6 rounds) of each seed's first unit is reported beside. The lab
computes one run per (seed, unit) (`unit_run`).
"""

from __future__ import annotations

import math
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch

from dlbasic.data import load, stratified_subset
from dlbasic.evaluation._fit import fit, load_pool, predict_proba, split_options, with_own_stats
from dlbasic.evaluation.ensembles import WeightedDataset, WeightedTask, samme
from dlbasic.lab.registry import register_study
from dlbasic.lab.stats import decide
from dlbasic.lab.study import Measurements, Run, Study, Verdict, pm, unit_runs

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)

ROUNDS = 6  # of the SAMME run reported beside
UNITS = 5  # round-1 experiments per seed
TRAIN = 500


def unit_run(ctx, seed: int, unit: int) -> dict:
    """Unit `unit` of `seed`: SAMME on its training subset (`ROUNDS` rounds for the first unit, 2 for the
    others) and the uniform control; the round-1 measurements (`ROWS`, None where SAMME stopped after
    learner 1), and for the first unit the ensemble's training error and test accuracy per round."""
    cfg = ctx.config(
        data=ctx.data(DATA),
        model="mlp",
        model_options={"hidden": [8]},
        optimizer="adam",
        lr=1e-2,
        epochs=ctx.profile.epochs(15),
        batch_size=50,
        seed=seed,
    )
    full = load_pool(cfg)
    test = load(cfg.data, "test", **split_options(cfg))
    cfg = replace(cfg, seed=1000 * seed + unit)
    train = with_own_stats(full.subset(stratified_subset(full.labels, ctx.profile.size(TRAIN), cfg.seed)))
    y = train.labels.numpy()
    weights, preds, test_preds = [], [], []

    def fit_predict(w):
        trainer = fit(
            replace(cfg, seed=cfg.seed + len(preds)),
            WeightedDataset.of(train, torch.from_numpy(w * len(w))),
            task=WeightedTask(),
        )
        weights.append(w)
        preds.append(predict_proba(trainer, train).argmax(1).numpy())
        test_preds.append(predict_proba(trainer, test).argmax(1).numpy())
        return preds[-1]

    alphas, rounds = samme(fit_predict, y, train.num_classes, ROUNDS if unit == 0 else 2)
    out: dict = {k: None for k in ROWS}
    if unit == 0:
        out["ensemble_train_error"] = [float(r.ensemble_train_error) for r in rounds]
        out["ensemble_test_accuracy"] = ensemble_accuracy(alphas, test_preds, test.labels.numpy(), train.num_classes)
    wrong = preds[0] != y
    out["learner1_error"] = float(wrong.mean())
    if len(preds) < 2 or not wrong.any():  # SAMME stopped after learner 1
        return out
    control = fit(
        replace(cfg, seed=cfg.seed + 1),
        WeightedDataset.of(train, torch.ones(len(y), dtype=torch.float64)),
        task=WeightedTask(),
    )
    plain = predict_proba(control, train).argmax(1).numpy()
    d2 = weights[1] / weights[1].sum()
    out["focus_accuracy"] = float(np.mean(preds[1][wrong] == y[wrong]))
    out["uniform_accuracy"] = float(np.mean(plain[wrong] == y[wrong]))
    out["focus_weighted_error"] = float(d2[preds[1] != y].sum())
    out["uniform_weighted_error"] = float(d2[plain != y].sum())
    return out


ROWS = ("focus_accuracy", "uniform_accuracy", "focus_weighted_error", "uniform_weighted_error", "learner1_error")
UNIT_RUN = "dlbasic.studies.boosting:unit_run"
UNIT_COST = (0.6, 0.25)  # seconds of the first unit of a seed (all rounds) and of the others


@register_study
class Boosting(Study):
    """Claim `boosting`: Sequential models, each focused on what the previous got wrong."""

    id = "boosting"
    trains_on = DATA
    section = "Bagging vs Boosting"
    claim = "Sequential models, each focused on what the previous got wrong."
    note = (
        "Boosting: 여러 개의 모델을 sequential하게 연결. "
        "이전 모델이 잘 학습하지 못한 데이터에 대해서만 다음 모델을 학습."
    )
    literature = (
        "AdaBoost (Freund & Schapire 1997; SAMME, Zhu et al. 2009) does not train the next model *only* on "
        "the misclassified data: it reweights every example, raising the weights of the mistakes so that "
        "they carry (K-1)/K of the total weight in SAMME, and the final vote weighs each model by its "
        "accuracy."
    )
    MARGIN = 0.02  # two points of accuracy (or weighted error): a smaller shift is no visible focus
    method = (
        f"Per seed, {UNITS} units, each a stratified subset of {TRAIN} training images of the `--data` source "
        "(default: 8x8 digits). Round 1 of SAMME: learner 1 (an MLP with 8 hidden units, Adam lr 1e-2, 15 "
        "epochs, batch 50, sample-weighted cross entropy) trains with uniform weights; learner 2 trains on "
        "the SAMME weights D_2 that learner 1's mistakes give; a control trains with the same initialization "
        "and data order as learner 2 but uniform weights. Measured on the training images: accuracy on "
        "learner 1's mistakes and weighted error under D_2, of learner 2 and of the control. Beside: the "
        f"ensemble's training error and test accuracy over {ROUNDS} SAMME rounds (first unit of each seed)."
    )
    rule = (
        "Two paired t-tests over the units (stats.decide, two-sided 5 %, margin 0.02): learner 2's accuracy on "
        "learner 1's mistakes against the control's (higher favours the claim), and learner 2's weighted error "
        "under D_2 against the control's (lower favours it). Supported if both are supported; contradicted if "
        "either is contradicted; inconclusive otherwise. Units where learner 1 is perfect or no better than "
        "chance (SAMME stops) are left out."
    )

    def plan(self, ctx, results) -> list[Run]:
        """One run per (seed, unit): its SAMME rounds and the uniform control."""
        if results:
            return []
        return unit_runs(ctx.seeds, UNITS, UNIT_RUN, lambda u: UNIT_COST[u > 0])

    def collect(self, ctx, results) -> Measurements:
        """The numbers of `method` from the units' runs, and the figure."""
        rows = {k: [] for k in ROWS}
        train_err, test_acc = [], []
        for seed in ctx.seeds:
            for u in range(UNITS):
                run = results[f"seed{seed}-unit{u}"]
                for k in ROWS:
                    rows[k].append(math.nan if run[k] is None else float(run[k]))  # a saved run keeps NaN as None
                if u == 0:
                    train_err.append(list(run["ensemble_train_error"]))
                    test_acc.append(list(run["ensemble_test_accuracy"]))
        numbers = {
            "rounds": ROUNDS,
            "units": UNITS,
            **rows,
            "ensemble_train_error": train_err,
            "ensemble_test_accuracy": test_acc,
        }
        return Measurements(
            numbers,
            [
                (
                    "Round 1 per unit: accuracy on learner 1's mistakes of the reweighted learner "
                    "and of the uniform control (left); the SAMME ensemble over rounds (right)",
                    _figure(numbers),
                )
            ],
            list(ctx.seeds),
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        keep = [i for i, v in enumerate(m["focus_accuracy"]) if math.isfinite(v)]
        if len(keep) < 2:
            return Verdict(
                "inconclusive",
                f"{len(keep)} unit(s) with a second learner",
                "boosting stopped after one learner in (almost) every unit",
            )
        pick = lambda k: [m[k][i] for i in keep]  # noqa: E731
        focus = decide(pick("focus_accuracy"), pick("uniform_accuracy"), margin=self.MARGIN)
        weighted = decide(
            pick("focus_weighted_error"), pick("uniform_weighted_error"), lower_is_better=True, margin=self.MARGIN
        )
        key = (
            f"on learner 1's mistakes, learner 2 is right on {pm(pick('focus_accuracy'))} vs "
            f"{pm(pick('uniform_accuracy'))} with uniform weights; weighted error under D_2 "
            f"{pm(pick('focus_weighted_error'))} vs {pm(pick('uniform_weighted_error'))} ({len(keep)} units)"
        )
        test = f"accuracy on the mistakes: {focus}; weighted error under D_2: {weighted}"
        verdicts = (focus.verdict, weighted.verdict)
        if verdicts == ("supported", "supported"):
            return Verdict(
                "supported",
                key,
                "the reweighted learner gets more of its predecessor's mistakes right, "
                "and a lower weighted error, than the same learner with uniform weights",
                test,
            )
        if "contradicted" in verdicts:
            return Verdict(
                "contradicted",
                key,
                "the reweighted learner does worse on its predecessor's mistakes (or "
                "their weighted error) than with uniform weights",
                test,
            )
        return Verdict("inconclusive", key, "the focus is not decided on both measures (see the tests)", test)


def ensemble_accuracy(alphas, preds, y, num_classes: int) -> list[float]:
    """Accuracy of the SAMME vote H_m = argmax_k sum_{j<=m} alpha_j [h_j = k] after each round m."""
    if not alphas:
        return []
    votes = np.zeros((len(alphas), len(y), num_classes))
    votes[np.arange(len(alphas))[:, None], np.arange(len(y))[None, :], np.stack(preds[: len(alphas)])] = np.asarray(
        alphas
    )[:, None]
    return (np.cumsum(votes, 0).argmax(2) == y[None, :]).mean(1).tolist()


def _figure(m):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    x = np.arange(len(m["focus_accuracy"]))
    ax1.bar(x - 0.2, m["focus_accuracy"], 0.4, label="learner 2 (weights D_2)")
    ax1.bar(x + 0.2, m["uniform_accuracy"], 0.4, label="control (uniform weights)")
    ax1.set_xlabel("unit")
    ax1.set_ylabel("accuracy on learner 1's mistakes")
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3, axis="y")
    for i, (e, a) in enumerate(zip(m["ensemble_train_error"], m["ensemble_test_accuracy"])):
        r = range(1, len(e) + 1)
        ax2.plot(r, [1 - v for v in e], "o-", color=f"C{i}", label=f"train accuracy, seed #{i}")
        ax2.plot(r, a, "s--", color=f"C{i}", label=f"test accuracy, seed #{i}")
    ax2.set_xlabel("boosting round")
    ax2.set_ylabel("ensemble accuracy")
    ax2.legend(fontsize=7)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    return fig
