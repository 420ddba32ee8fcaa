r"""Claim `boosting`: sequential models, each focused on what the previous got wrong.

Freund & Schapire, "A decision-theoretic generalization of on-line learning and an application to
boosting", JCSS 1997 (AdaBoost), and its multi-class form SAMME (Zhu, Zou, Rosset & Hastie 2009): round m
trains learner h_m on the distribution D_m, then raises the weight of h_m's mistakes,

.. math::

    \alpha_m = \ln\frac{1 - \epsilon_m}{\epsilon_m} + \ln(K - 1),\qquad
    D_{m+1}(i) \propto D_m(i)\, e^{\alpha_m [h_m(x_i) \ne y_i]},

so that the next learner, which minimizes the weighted error \epsilon_{m+1} = \sum_i D_{m+1}(i)[h(x_i) \ne y_i],
concentrates on them. The claim has two parts of different kinds:

* **structural**: D_{m+1} puts more weight on round m's mistakes. That holds by construction whenever
  \alpha_m > 0, so it is checked exactly, not tested: every mistake's weight grows by a larger factor than
  every correct point's, D_{m+1}(i)/D_m(i), and the mistakes' share rises from \epsilon_m to (K-1)/K;
* **empirical**: the sequence pays off: the boosted vote H_M(x) = \arg\max_k \sum_m \alpha_m [h_m(x) = k]
  beats its own first learner h_1 (a learner trained on the uniform D_1) on test accuracy, by more than
  0.5 point. The previous version measured learner 2 on the objective it was trained on, on training points,
  which its training grants.

Scaled down: weak learners are 8-unit MLPs trained through a sample-weighted cross entropy
(`dlbasic.evaluation.ensembles.WeightedTask`) on 500 images of the 8x8 digits, 15 epochs: weak by their
capacity, not by truncated training (AdaBoost's weak learner returns a hypothesis fit to D_m; with 5 epochs
the learners' errors spread from 0.08 to 0.40 by initialization alone); 10 SAMME rounds. A unit is one
paired seed: its own test split, training subset, initializations and data orders (offset from bagging's,
so the two studies do not share initializations). The lab computes one run per seed (`seed_run`), in stages
of 8, 16, then 32 seeds.
"""

from __future__ import annotations

from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np

from dlbasic.evaluation.ensembles import boosting
from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, one_run_per_seed, per_seed, pm
from dlbasic.lab.verdicts import ACCURACY, check, looks, part, verdict
from dlbasic.studies.bagging import unit_data

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)

ROUNDS = 10
TRAIN = 500
SCHEDULE = looks(8)
INIT_OFFSET = 200  # initializations 1000 * seed + 200 + m (bagging uses + 100)


def reweighting(d_m: np.ndarray, d_next: np.ndarray, wrong: np.ndarray) -> dict[str, float]:
    """How D_{m+1} reweights round m's mistakes (`wrong`) against D_m: their share before and after, and the
    smallest growth factor D_{m+1}(i)/D_m(i) of a mistake and the largest of a correct point."""
    d_m, d_next = d_m / d_m.sum(), d_next / d_next.sum()
    factor = d_next / d_m
    return {
        "share_before": float(d_m[wrong].sum()),
        "share_after": float(d_next[wrong].sum()),
        "mistake_factor_min": float(factor[wrong].min()),
        "correct_factor_max": float(factor[~wrong].max()),
    }


def seed_run(ctx, seed: int) -> dict:
    """One paired seed: SAMME for `ROUNDS` rounds on its training subset (`dlbasic.evaluation.boosting`); each
    learner's and the vote's test accuracy after every round, the vote's training error, and the reweighting of
    every round (`reweighting`) whose next distribution a learner trained on."""
    options = {"model_options": {"hidden": [8]}, "lr": 1e-2, "batch_size": 50, "epochs": ctx.profile.epochs(15)}
    cfg, train, test = unit_data(ctx, ctx.data(DATA), seed, TRAIN, **options)
    r = boosting(replace(cfg, seed=1000 * seed + INIT_OFFSET), train, test, ROUNDS)  # learner m: seed + m
    y, yt, w = train.labels.numpy(), test.labels.numpy(), r.weights
    return {
        "classes": train.num_classes,
        "learner_test_accuracy": [float(np.mean(p == yt)) for p in r.test_predictions],
        "ensemble_test_accuracy": r.test_accuracy_per_round,
        "ensemble_train_error": [float(x.ensemble_train_error) for x in r.rounds],
        "reweighting": [reweighting(w[m], w[m + 1], r.train_predictions[m] != y) for m in range(len(w) - 1)],
    }


SEED_RUN = "dlbasic.studies.boosting:seed_run"
SEED_COST = 1.4  # seconds of one seed's run (one thread, quick profile)


@register_study
class Boosting(Study):
    """Claim `boosting`: Sequential models, each focused on what the previous got wrong."""

    id = "boosting"
    trains_on = DATA
    form = "structural + difference"
    schedule = SCHEDULE
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
    method = (
        f"Per paired seed, its own test split and a stratified subset of {TRAIN} training images of the "
        "`--data` source (default: 8x8 digits). SAMME for "
        f"{ROUNDS} rounds: each learner an MLP with 8 hidden units (Adam lr 1e-2, 15 epochs, batch 50, "
        "sample-weighted cross entropy) trained on D_m, the first on uniform weights. Checked: for every round "
        "whose next distribution a learner trained on, each of the round's mistakes gains more weight "
        "(D_{m+1}/D_m) than any correct point, and the mistakes' share rises. Measured: the test accuracy of "
        "the boosted vote after the last round and of its first learner; the vote's training error and test "
        "accuracy per round, and each learner's test accuracy, are reported."
    )
    rule = (
        "Structural part, exact (checked, no test): D_{m+1} puts more weight on round m's mistakes, every "
        "round and seed. Difference part: one paired comparison over seeds (verdicts.part, margin 0.005 of "
        f"accuracy; seeds {' then '.join(map(str, SCHEDULE))}, O'Brien-Fleming boundary): the boosted vote's test "
        "accuracy against its first learner's. Supported if the vote is better by more than the margin and the "
        "checks hold; contradicted if the first learner is better or the two are equivalent within the "
        "margin; failed if a check does not hold; else inconclusive."
    )

    def seed_runs(self, ctx, seeds) -> list[Run]:
        """One run per paired seed: its SAMME rounds."""
        return one_run_per_seed(seeds, SEED_RUN, SEED_COST)

    def collect(self, ctx, results) -> Measurements:
        """The numbers of `method` from the seeds' runs (in seed order), and the figure."""
        seeds, runs = per_seed(results)
        numbers = {
            "rounds": ROUNDS,
            "classes": runs[0]["classes"],
            "seeds": seeds,
            "first_learner": [r["learner_test_accuracy"][0] for r in runs],
            "ensemble": [r["ensemble_test_accuracy"][-1] for r in runs],
            **{k: [list(r[k]) for r in runs] for k in ("learner_test_accuracy", "ensemble_test_accuracy")},
            "ensemble_train_error": [list(r["ensemble_train_error"]) for r in runs],
            "reweighting": [x for r in runs for x in r["reweighting"]],
        }
        caption = (
            "The SAMME vote's test accuracy after each round against its learners' own, per seed (left); the "
            "mistakes' share of the weight before and after each reweighting (right)"
        )
        return Measurements(numbers, [(caption, _figure(numbers))], seeds)

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `collect` returned."""
        rw = m["reweighting"]
        checks = [
            check(
                f"each of round m's mistakes gains more weight D_(m+1)/D_m than any correct point ({len(rw)} "
                "reweightings)",
                all(r["mistake_factor_min"] > r["correct_factor_max"] for r in rw),
            ),
            check(
                "the share of D_(m+1) on round m's mistakes exceeds D_m's",
                all(r["share_after"] > r["share_before"] for r in rw),
            ),
        ]
        p = part(
            f"test accuracy, boosted vote ({m['rounds']} rounds) vs its first learner",
            m["ensemble"],
            m["first_learner"],
            form="difference",
            margin=ACCURACY,
            schedule=self.schedule,
        )
        share = [r["share_before"] for r in rw], [r["share_after"] for r in rw]
        key = (
            f"test accuracy: boosted vote {pm(m['ensemble'])} vs first learner {pm(m['first_learner'])}; "
            f"mistakes' share of the weight {pm(share[0]) if rw else '-'} -> {pm(share[1]) if rw else '-'} "
            f"((K-1)/K = {(m['classes'] - 1) / m['classes']:.3f})"
        )
        reasons = {
            "supported": "each round moves the weight onto the previous learner's mistakes (checked), and the "
            "boosted vote tests better than its first learner",
        }
        return verdict([p], key, reasons, checks)


def _figure(m):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (e, a) in enumerate(zip(m["ensemble_test_accuracy"], m["learner_test_accuracy"])):
        ax1.plot(range(1, len(e) + 1), e, "o-", color=f"C{i % 10}", lw=1, ms=3)
        ax1.plot(range(1, len(a) + 1), a, ":", color=f"C{i % 10}", lw=0.8)
    ax1.plot([], [], "ko-", ms=3, label="boosted vote after round m")
    ax1.plot([], [], "k:", label="learner m alone")
    ax1.set_xlabel("boosting round m")
    ax1.set_ylabel("test accuracy")
    ax1.legend(fontsize=7)
    ax1.grid(alpha=0.3)
    rw = m["reweighting"]
    ax2.scatter([r["share_before"] for r in rw], [r["share_after"] for r in rw], s=10)
    ax2.axline((0, 0), slope=1, color="grey", lw=0.8, label="no change")
    ax2.set_xlabel("share of D_m on round m's mistakes (weighted error)")
    ax2.set_ylabel("share of D_(m+1) on them")
    ax2.legend(fontsize=7)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    return fig
