"""Claim `bagging`: networks trained on bootstrap samples and aggregated by voting do better than one.

Breiman, "Bagging predictors", Machine Learning 24:123-140, 1996: the bagged predictor (B models, each
fit to a bootstrap sample of the learning set L, aggregated by averaging or voting) is compared with the
*single predictor fit to all of L*; bagging helps when the procedure is unstable. The bootstrap members
themselves are not the baseline: each sees only about 63 % of the distinct images of L. Lee, Purushwalkam,
Cogswell, Crandall & Batra, "Why M heads are better than one" (arXiv 1511.06314), find that for deep nets an
ensemble of members trained on all of L from different random initializations beats bagging, so that
ensemble is measured beside (it has M times the compute of the single net, like the bagged one).

Scaled down: ensembles of 5 one-hidden-layer MLPs on 500 images of the 8x8 digits; 3 units per seed,
each its own training subset (the seed's test split is shared). The single net is the random-initialization
ensemble's first member: same initialization and data order as the first bootstrap member, all of L. The
lab computes one run per (seed, unit) (`unit_run`).
"""

from __future__ import annotations

from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch

from dlbasic.data import load, stratified_subset
from dlbasic.evaluation._fit import fit, load_pool, predict_proba, split_options, with_own_stats
from dlbasic.evaluation.ensembles import bagging, soft_vote
from dlbasic.lab.registry import register_study
from dlbasic.lab.stats import decide
from dlbasic.lab.study import Measurements, Run, Study, Verdict, pm, unit_runs

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)

MEMBERS = 5
UNITS = 3  # training subsets per seed
TRAIN = 500


def unit_run(ctx, seed: int, unit: int) -> dict:
    """Unit `unit` of `seed`: test accuracy of each arm (`ARMS`) and of the soft vote of the first k
    bootstrap members, k = 1..MEMBERS."""
    cfg = ctx.config(
        data=ctx.data(DATA),
        model="mlp",
        model_options={"hidden": [128]},
        optimizer="adam",
        lr=1e-2,
        epochs=ctx.profile.epochs(15),
        batch_size=50,
        seed=seed,
    )
    full = load_pool(cfg)
    test = load(cfg.data, "test", **split_options(cfg))
    cfg = replace(cfg, seed=1000 * seed + unit)
    data = with_own_stats(full.subset(stratified_subset(full.labels, ctx.profile.size(TRAIN), cfg.seed)))
    bag = bagging(cfg, data, test, MEMBERS, seed=cfg.seed)  # member m: seed cfg.seed + m
    whole = torch.stack(
        [predict_proba(fit(replace(cfg, seed=cfg.seed + m), data), test) for m in range(MEMBERS)]
    )  # [M, N, K] on all of L
    y = test.labels
    return {
        "bagged_soft": float(bag.soft_accuracy),
        "bagged_hard": float(bag.hard_accuracy),
        "single": float((whole[0].argmax(1) == y).float().mean()),
        "random_init": float((soft_vote(whole) == y).float().mean()),
        "member_mean": float(np.mean(bag.member_accuracy)),
        "bagged_by_members": [float((soft_vote(bag.probs[:k]) == y).float().mean()) for k in range(1, MEMBERS + 1)],
    }


ARMS = ("bagged_soft", "bagged_hard", "single", "random_init", "member_mean")
UNIT_RUN = "dlbasic.studies.bagging:unit_run"
UNIT_COST = 1.1  # seconds of one unit (one thread, quick profile)


@register_study
class Bagging(Study):
    """Claim `bagging`: models trained on bootstrap samples and aggregated (voting/averaging) do better."""

    id = "bagging"
    trains_on = DATA
    section = "Bagging vs Boosting"
    claim = "Models trained on bootstrap samples and aggregated (voting/averaging) do better (an ensemble)."
    note = (
        "Bagging (Bootstrapping aggregating): bootstrapping으로 학습된 여러 모델들. 이 모델들 각각의 결과를 "
        "취합. (voting, aveaging 등) ex) 앙상블"
    )
    literature = (
        "Breiman (1996) compares the bagged predictor with one predictor fit to the whole learning set; for "
        "deep nets, Lee et al. (arXiv 1511.06314) find ensembles of random initializations on all the data "
        "better than bagging."
    )
    MARGIN = 0.005  # half an accuracy point (~2 of 359 test images): less is no practical gain for 5x the compute
    method = (
        f"Per seed, {UNITS} units, each a stratified subset L of {TRAIN} images of the train+val pool of the "
        "`--data` source (default: 8x8 digits); a one-hidden-layer MLP (128 units, Adam lr 1e-2, 15 epochs, "
        f"batch 50). Bagging: {MEMBERS} members, each on its own bootstrap sample of L "
        "(`dlbasic.evaluation.bagging`), soft vote (mean probabilities); hard vote reported. Baseline: one net "
        f"trained on all of L. Beside: an ensemble of {MEMBERS} nets on all of L from different initializations "
        "and data orders (its first member is the baseline net). Accuracy on the seed's test split."
    )
    rule = (
        "Paired t-test over the units (stats.decide, two-sided 5 %, margin 0.005): the bagged ensemble's test "
        "accuracy (soft vote) against the single net trained on all the data. Supported if the ensemble is "
        "better, contradicted if worse, inconclusive otherwise. Bagging against the random-initialization "
        "ensemble is tested the same way and reported, not judged."
    )

    def plan(self, ctx, results) -> list[Run]:
        """One run per (seed, unit): the bagged ensemble and the ensemble on all of L of that unit."""
        if results:
            return []
        return unit_runs(ctx.seeds, UNITS, UNIT_RUN, UNIT_COST)

    def collect(self, ctx, results) -> Measurements:
        """The numbers of `method` from the units' runs, and the figure."""
        arms = {k: [] for k in ARMS}
        growth: list[list[float]] = []
        for seed in ctx.seeds:
            for u in range(UNITS):
                run = results[f"seed{seed}-unit{u}"]
                for k in ARMS:
                    arms[k].append(run[k])
                growth.append(list(run["bagged_by_members"]))
        numbers = {"members": MEMBERS, "units": UNITS, **arms, "bagged_by_members": growth}
        return Measurements(
            numbers,
            [
                (
                    "Test accuracy of the bagged ensemble as bootstrap members are added, against "
                    "one net on all the data and the random-initialization ensemble",
                    _figure(numbers),
                )
            ],
            list(ctx.seeds),
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        d = decide(m["bagged_soft"], m["single"], margin=self.MARGIN)
        beside = decide(m["bagged_soft"], m["random_init"], margin=self.MARGIN)
        key = (
            f"bagged soft vote {pm(m['bagged_soft'])} (hard {pm(m['bagged_hard'])}) vs one net on all the data "
            f"{pm(m['single'])}; beside: random-init ensemble {pm(m['random_init'])}, bootstrap members "
            f"{pm(m['member_mean'])}"
        )
        reasons = {
            "supported": "the bagged ensemble tests better than one net trained on all the data",
            "contradicted": "one net trained on all the data tests better than the bagged ensemble",
            "inconclusive": "the bagged ensemble and one net on all the data are not shown to differ by the margin",
        }
        return Verdict(
            d.verdict,
            key,
            reasons[d.verdict],
            f"bagged vs single: {d}; reported beside, not judged — bagged vs random-init ensemble: {beside}",
        )


def _figure(m):
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ks = range(1, m["members"] + 1)
    g = np.array(m["bagged_by_members"])
    ax.plot(ks, g.mean(0), "o-", label="bagged soft vote of the first k members (mean of units)")
    for name, style in (("single", "--"), ("random_init", ":")):
        label = {"single": "one net on all the data", "random_init": "random-init ensemble on all the data"}[name]
        ax.axhline(float(np.mean(m[name])), ls=style, color="C1" if name == "single" else "C2", label=label)
    ax.set_xlabel("members k")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
