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
the first fold of the same split), a 3 x 3 grid of near-ties (SGD with momentum, learning rate 0.03-0.12 x
weight decay 0-3e-3, a one-hidden-layer MLP of 64 units, 8 epochs) on 240-image pools of the 8x8 digits. The
hold-out arm uses the first fold's scores of the very runs CV averages, so the two arms differ only in
averaging the k folds or reading one. A unit is one paired seed: its own test split and 3 disjoint
stratified pools (each with its own folds, initializations and data order), whose regrets it averages, so
that a seed's regret is rarely exactly 0 in both arms (the previous design's 15 single-pool units, 10 of them
tied and all of a seed sharing one test split, made the interval too narrow). The lab computes one run per seed
(`seed_run`), in stages of 6, 12, then 24 seeds.
"""

from __future__ import annotations

from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch

from dlbasic.config import from_dict
from dlbasic.data import load, stratified_subset
from dlbasic.evaluation._fit import fit, load_pool, with_own_stats
from dlbasic.evaluation.crossval import cross_validate, grid
from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, mean_std, one_run_per_seed, per_seed, pm
from dlbasic.lab.verdicts import ACCURACY, looks, part, verdict

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)

LRS = (0.03, 0.06, 0.12)
DECAYS = (0.0, 1e-3, 3e-3)
CANDIDATES = grid({"lr": list(LRS), "weight_decay": list(DECAYS)})
FOLDS = 3
POOLS = 3  # disjoint selection problems per seed, their regrets averaged
POOL = 240  # labelled images per pool
SCHEDULE = looks(6)


def choice_and_regret(scores: np.ndarray, test: np.ndarray) -> tuple[int, float]:
    """The candidate with the highest selection score (ties: the first listed) and its regret
    max(test) - test[choice]."""
    i = int(np.argmax(scores))
    return i, float(np.max(test) - test[i])


def seed_run(ctx, seed: int) -> dict:
    """One paired seed: for each of its disjoint pools, every candidate's mean held-out accuracy over the
    folds (CV), its first fold's (hold-out), and its test accuracy retrained on the whole pool (analysis only)."""
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
    test = load(cfg.data, "test", **cfg.split_options())
    n = min(ctx.profile.size(POOL), len(full) // POOLS)
    left = torch.arange(len(full))
    out: dict[str, list] = {"cv_accuracy": [], "holdout_accuracy": [], "test_accuracy": []}
    for p in range(POOLS):
        pcfg = replace(cfg, seed=1000 * seed + 300 + p)  # folds, initializations and data order of the pool
        take = left[stratified_subset(full.labels[left], n, pcfg.seed)]  # stratified, disjoint from the others
        left = left[~torch.isin(left, take)]
        pool = with_own_stats(full.subset(take))
        res = cross_validate(pcfg, CANDIDATES, FOLDS, patience=0, pool=pool)
        out["cv_accuracy"].append([float(r["mean"]) for r in res.summary()])
        out["holdout_accuracy"].append([float(res.scores(i)[0]) for i in range(len(CANDIDATES))])
        out["test_accuracy"].append(
            [float(fit(from_dict(c, pcfg), pool).evaluate(test)["accuracy"]) for c in CANDIDATES]
        )
    return out


SEED_RUN = "dlbasic.studies.cross_validation:seed_run"
SEED_COST = 4.5  # seconds of one seed's run (one thread, quick profile)


@register_study
class CrossValidation(Study):
    """Claim `cross-validation`: k-fold CV (train on k-1 folds, validate on the rest, k times) picks the
    hyperparameters; then retrain on all training data; the test set is never used for choices.
    """

    id = "cross-validation"
    trains_on = DATA
    form = "difference"
    schedule = SCHEDULE
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
    method = (
        f"Per paired seed, its own test split and {POOLS} disjoint stratified pools of {POOL} images of the "
        "train+val pool of the `--data` source (default: 8x8 digits), each with its own folds, initializations "
        "and data order. "
        f"Candidates: SGD with momentum 0.9, learning rate {', '.join(map(str, LRS))} x weight decay "
        f"{', '.join(map(str, DECAYS))} (a grid of near-ties), a one-hidden-layer MLP (64 units), 8 epochs, "
        f"batch 32. Every candidate is trained on each of {FOLDS} stratified folds "
        "(`dlbasic.evaluation.cross_validate`); CV picks the best mean held-out accuracy, the hold-out picks "
        "the best accuracy on the first fold alone (train 2/3, validate 1/3: the same runs). For the analysis "
        "only, every candidate is retrained on the whole pool and tested on the seed's test split; the regret "
        "of a choice is the best test accuracy minus the chosen candidate's, averaged over the seed's pools."
    )
    rule = (
        "One paired comparison over seeds (difference form, verdicts.part, margin 0.005 of accuracy; seeds "
        f"{' then '.join(map(str, SCHEDULE))}, O'Brien-Fleming boundary): the regret of the CV choice against the "
        "regret of the hold-out choice (lower is better). Supported if CV's regret is lower by more than the "
        "margin; contradicted if the hold-out's is lower or the two are equivalent within it; else "
        "inconclusive. Neither choice reads the test set."
    )

    def seed_runs(self, ctx, seeds) -> list[Run]:
        """One run per paired seed: its pools' cross-validation, hold-out and test scores of every candidate."""
        return one_run_per_seed(seeds, SEED_RUN, SEED_COST)

    def collect(self, ctx, results) -> Measurements:
        """The numbers of `method` from the seeds' runs: each arm's choices and mean regret per seed."""
        seeds, runs = per_seed(results)
        regret = {"cv": [], "holdout": []}
        chosen = {"cv": [], "holdout": []}
        for run in runs:
            for arm, key in (("cv", "cv_accuracy"), ("holdout", "holdout_accuracy")):
                picks = [choice_and_regret(np.array(a), np.array(t)) for a, t in zip(run[key], run["test_accuracy"])]
                chosen[arm].append([i for i, _ in picks])
                regret[arm].append(float(np.mean([r for _, r in picks])))
        numbers = {
            "candidates": CANDIDATES,
            "folds": FOLDS,
            "pools": POOLS,
            "seeds": seeds,
            "regret": regret,
            "chosen": chosen,
            **{k: [run[k] for run in runs] for k in ("cv_accuracy", "holdout_accuracy", "test_accuracy")},
        }
        caption = (
            "Per seed: the regret (best test accuracy minus the chosen candidate's, mean of the seed's pools) of "
            "the CV choice and of the hold-out choice"
        )
        return Measurements(numbers, [(caption, _figure(numbers))], seeds)

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `collect` returned."""
        cv, ho = m["regret"]["cv"], m["regret"]["holdout"]
        p = part(
            "test regret of the choice, k-fold CV vs single hold-out",
            cv,
            ho,
            form="difference",
            margin=ACCURACY,
            lower_is_better=True,
            schedule=self.schedule,
        )
        pairs = [(a, b) for x, y in zip(m["chosen"]["cv"], m["chosen"]["holdout"]) for a, b in zip(x, y)]
        same = sum(a == b for a, b in pairs)
        key = (
            f"test regret of the choice: {m['folds']}-fold CV {pm(cv, 4)} vs single hold-out {pm(ho, 4)} over "
            f"{len(cv)} seeds x {m['pools']} pools (same choice in {same} of {len(pairs)} pools)"
        )
        reasons = {
            "supported": "k-fold CV chooses hyperparameters that test better than a single hold-out's choice, "
            "without the test set taking part in either choice",
        }
        return verdict([p], key, reasons)


def _figure(m):
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    x = np.arange(len(m["regret"]["cv"]))
    ax.bar(x - 0.2, m["regret"]["cv"], 0.4, label=f"{m['folds']}-fold CV")
    ax.bar(x + 0.2, m["regret"]["holdout"], 0.4, label="single hold-out")
    ax.set_xticks(x, [str(s) for s in m["seeds"]], fontsize=7)
    ax.set_xlabel("seed")
    ax.set_ylabel("test regret of the choice (mean of pools)")
    means = {k: mean_std(v)[0] for k, v in m["regret"].items()}
    ax.set_title(f"mean regret: CV {means['cv']:.4f}, hold-out {means['holdout']:.4f}")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig
