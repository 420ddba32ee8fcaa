"""Claim `cross-validation`: k-fold CV picks the hyperparameters; the test set is never used for choices.

Kohavi, "A study of cross-validation and bootstrap for accuracy estimation and model selection", IJCAI
1995, compares k-fold cross-validation with a single hold-out (2/3 train, 1/3 validation) as the way to
estimate accuracy and to choose among models: the hold-out estimate has the larger variance, so the
model it picks is more often a worse one. Cawley & Talbot, "On over-fitting in model selection and
subsequent selection bias in performance evaluation", JMLR 2010, show that the variance of the selection
criterion is what costs accuracy when candidates are close. Hence the experiment: a grid of near-ties
(learning rate x weight decay), each unit's candidates ranked once by k-fold CV and once by a single
hold-out, and the *regret* of each choice,

    regret = max_c acc_test(c) - acc_test(chosen),

where acc_test(c) is the test accuracy of candidate c retrained on the unit's whole pool (computed for the
analysis only: the test set takes no part in either choice). Lower is better.

Scaled down: 3 folds (Kohavi recommends 10; 3 keeps the hold-out at his 2/3 : 1/3 proportion, since it is
the first fold of the same split), 300-image pools of the 8x8 digits, 6 candidates, and 5 units per seed
(each its own pool subset, folds, initializations and data order; all units of a seed share its test
split). The hold-out arm uses the first fold's scores of the very runs CV averages, so the two arms differ
only in averaging the k folds or reading one. The lab computes one run per (seed, unit) (`unit_run`).
"""

from __future__ import annotations

from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np

from dlbasic.config import from_dict
from dlbasic.data import load, stratified_subset
from dlbasic.evaluation._fit import fit, load_pool, split_options, with_own_stats
from dlbasic.evaluation.crossval import cross_validate, grid
from dlbasic.lab.registry import register_study
from dlbasic.lab.stats import decide
from dlbasic.lab.study import Measurements, Run, Study, Verdict, mean_std, pm, unit_runs

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)

LRS = (0.05, 0.1, 0.2)
DECAYS = (0.0, 1e-3)
CANDIDATES = grid({"lr": list(LRS), "weight_decay": list(DECAYS)})
FOLDS = 3
UNITS = 5  # independent selection problems per seed
POOL = 300  # labelled images per unit


def choice_and_regret(scores: np.ndarray, test: np.ndarray) -> tuple[int, float]:
    """The candidate with the highest selection score (ties: the first listed) and its regret
    max(test) - test[choice]."""
    i = int(np.argmax(scores))
    return i, float(np.max(test) - test[i])


def unit_run(ctx, seed: int, unit: int) -> dict:
    """Unit `unit` of `seed`: every candidate's mean held-out accuracy over the folds (CV), its first fold's
    (hold-out), and its test accuracy retrained on the whole pool (for the analysis only)."""
    cfg = ctx.config(
        data=ctx.data(DATA),
        model="mlp",
        model_options={"hidden": [64]},
        optimizer="momentum",
        epochs=ctx.profile.epochs(8),
        batch_size=32,
        seed=seed,
    )
    full = load_pool(cfg)
    test = load(cfg.data, "test", **split_options(cfg))
    cfg = replace(cfg, seed=1000 * seed + unit)  # folds, initializations and data order of the unit
    pool = with_own_stats(full.subset(stratified_subset(full.labels, ctx.profile.size(POOL), cfg.seed)))
    res = cross_validate(cfg, CANDIDATES, FOLDS, patience=0, pool=pool)
    return {
        "cv_accuracy": [float(r["mean"]) for r in res.summary()],
        "holdout_accuracy": [float(res.scores(i)[0]) for i in range(len(CANDIDATES))],
        "test_accuracy": [float(fit(from_dict(c, cfg), pool).evaluate(test)["accuracy"]) for c in CANDIDATES],
    }


UNIT_RUN = "dlbasic.studies.cross_validation:unit_run"
UNIT_COST = 0.8  # seconds of one unit (one thread, quick profile)


@register_study
class CrossValidation(Study):
    """Claim `cross-validation`: k-fold CV (train on k-1 folds, validate on the rest, k times) picks the
    hyperparameters; then retrain on all training data; the test set is never used for choices.
    """

    id = "cross-validation"
    trains_on = DATA
    section = "Important Concepts"
    claim = (
        "k-fold CV (train on k-1 folds, validate on the rest, k times) picks the hyperparameters; then "
        "retrain on all training data; the test set is never used for choices."
    )
    note = (
        "학습 데이터를 k개로 나누어, i (=1~k)번째를 제외하고 학습. → k번 반복. cross-validation으로 최적의 "
        "hyperparameter를 찾고, 이 값들로 전체 data set을 사용해 학습. test data는 학습에 사용하면 안 된다."
    )
    literature = (
        "Kohavi (IJCAI 1995) recommends stratified 10-fold CV over a single hold-out for model selection; "
        "Cawley & Talbot (JMLR 2010) show that a noisy selection criterion over-fits the choice when "
        "candidates are close."
    )
    MARGIN = 0.0  # regret is already the accuracy lost by the choice; any systematic reduction is Kohavi's effect
    method = (
        f"Per seed, {UNITS} units, each a stratified subset of {POOL} images of the train+val pool of the "
        "`--data` source (default: 8x8 digits) with its own folds, initializations and data order. Candidates: "
        f"SGD with momentum 0.9, learning rate {', '.join(map(str, LRS))} x weight decay "
        f"{', '.join(map(str, DECAYS))} (a grid of near-ties), a one-hidden-layer MLP (64 units), 8 epochs, "
        f"batch 32. Every candidate is trained on each of {FOLDS} stratified folds "
        "(`dlbasic.evaluation.cross_validate`); CV picks the best mean held-out accuracy, the hold-out picks "
        "the best accuracy on the first fold alone (train 2/3, validate 1/3: the same runs). For the analysis "
        "only, every candidate is retrained on the unit's whole pool and tested on the seed's test split; the "
        "regret of a choice is the best test accuracy minus the chosen candidate's."
    )
    rule = (
        "Paired t-test over the units (stats.decide, two-sided 5 %, margin 0): the regret of the CV choice "
        "against the regret of the hold-out choice of the same unit. Supported if CV's regret is lower (CV "
        "chooses better than a single hold-out); contradicted if higher; inconclusive otherwise. Neither "
        "choice reads the test set."
    )

    def plan(self, ctx, results) -> list[Run]:
        """One run per (seed, unit): its cross-validation, hold-out and test scores of every candidate."""
        if results:
            return []
        return unit_runs(ctx.seeds, UNITS, UNIT_RUN, UNIT_COST)

    def collect(self, ctx, results) -> Measurements:
        """The numbers of `method` from the units' runs: each arm's choice and regret, and the figure."""
        regret = {"cv": [], "holdout": []}
        chosen = {"cv": [], "holdout": []}
        cv_scores, holdout_scores, test_scores, units = [], [], [], []
        for seed in ctx.seeds:
            for u in range(UNITS):
                run = results[f"seed{seed}-unit{u}"]
                acc = np.array(run["test_accuracy"])
                for arm, key in (("cv", "cv_accuracy"), ("holdout", "holdout_accuracy")):
                    i, r = choice_and_regret(np.array(run[key]), acc)
                    chosen[arm].append(i)
                    regret[arm].append(r)
                cv_scores.append(list(run["cv_accuracy"]))
                holdout_scores.append(list(run["holdout_accuracy"]))
                test_scores.append(list(run["test_accuracy"]))
                units.append([seed, u])
        numbers = {
            "candidates": CANDIDATES,
            "folds": FOLDS,
            "units": units,
            "regret": regret,
            "chosen": chosen,
            "cv_accuracy": cv_scores,
            "holdout_accuracy": holdout_scores,
            "test_accuracy": test_scores,
        }
        return Measurements(
            numbers,
            [
                (
                    "Per unit: the regret (best test accuracy minus the chosen candidate's) of "
                    "the CV choice and of the hold-out choice",
                    _figure(numbers),
                )
            ],
            list(ctx.seeds),
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        cv, ho = m["regret"]["cv"], m["regret"]["holdout"]
        d = decide(cv, ho, lower_is_better=True, margin=self.MARGIN)
        same = sum(a == b for a, b in zip(m["chosen"]["cv"], m["chosen"]["holdout"]))
        key = (
            f"test regret of the choice: {FOLDS}-fold CV {pm(cv, 4)} vs single hold-out {pm(ho, 4)} over "
            f"{len(cv)} units (same choice in {same})"
        )
        return Verdict.of(
            d,
            key,
            {
                "supported": "k-fold CV chooses hyperparameters that test better than a single hold-out's choice, "
                "without the test set taking part in either choice",
                "contradicted": "a single hold-out chooses better than k-fold CV",
                "inconclusive": "CV and a single hold-out choose about equally well here",
            },
        )


def _figure(m):
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    n = len(m["regret"]["cv"])
    x = np.arange(n)
    ax.bar(x - 0.2, m["regret"]["cv"], 0.4, label=f"{m['folds']}-fold CV")
    ax.bar(x + 0.2, m["regret"]["holdout"], 0.4, label="single hold-out")
    ax.set_xticks(x, [f"{s}.{u}" for s, u in m["units"]], fontsize=7)
    ax.set_xlabel("unit (seed.subset)")
    ax.set_ylabel("test regret of the choice")
    means = {k: mean_std(v)[0] for k, v in m["regret"].items()}
    ax.set_title(f"mean regret: CV {means['cv']:.4f}, hold-out {means['holdout']:.4f}")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig
