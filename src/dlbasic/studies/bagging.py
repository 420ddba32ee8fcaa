"""Claim `bagging`: networks trained on bootstrap samples and aggregated by voting do better than one.

Breiman, "Bagging predictors", Machine Learning 24:123-140, 1996: the bagged predictor (B models, each
fit to a bootstrap sample of the learning set L, aggregated by averaging or voting) is compared with the
*single predictor fit to all of L*; bagging helps when the procedure is unstable. The bootstrap members
themselves are not the baseline: each sees only about 63 % of the distinct images of L. Lee, Purushwalkam,
Cogswell, Crandall & Batra, "Why M heads are better than one" (arXiv 1511.06314), find that for deep nets an
ensemble of members trained on all of L from different random initializations beats bagging, so that
ensemble is measured beside (it has M times the compute of the single net, like the bagged one).

Breiman's argument needs an *unstable* procedure, one whose predictor changes a lot when the learning set
does: here a wide net (256 hidden units) trained with a large step (Adam, lr 1e-2, batch 25) for 20 epochs
on a small learning set (300 images), far past fitting it. How unstable it is gets measured and reported:
the share of test images on which two bootstrap members disagree.

Scaled down: ensembles of 10 one-hidden-layer MLPs on 300 images of the 8x8 digits. A unit is one paired
seed: its own test split, learning set L, bootstrap samples, initializations and data orders (offset from
every other study's, so bagging and boosting do not share initializations). The single net has the
initialization and data order of the first bootstrap member and trains on all of L; it is the first member
of the random-initialization ensemble. The lab computes one run per seed (`seed_run`), in stages of 6 then
12 seeds.
"""

from __future__ import annotations

from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch

from dlbasic.data import load, stratified_subset
from dlbasic.evaluation._fit import fit, load_pool, predict_proba, with_own_stats
from dlbasic.evaluation.ensembles import bagging, soft_vote
from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Run, Study, Verdict, one_run_per_seed, per_seed, pm
from dlbasic.lab.verdicts import ACCURACY, looks, part, verdict

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)

MEMBERS = 10
TRAIN = 300
SCHEDULE = looks(6)
INIT_OFFSET = 100  # initializations 1000 * seed + 100 + m (boosting uses + 200)


def unit_data(ctx, data: str, seed: int, train: int, **options):
    """The paired seed's config (`options` on the lab's), its learning set (a stratified subset of `train`
    images of the train+val pool, with its own statistics) and its own test split."""
    cfg = ctx.config(data=data, model="mlp", optimizer="adam", seed=seed, **options)
    full = load_pool(cfg)
    test = load(cfg.data, "test", **cfg.split_options())
    learn = with_own_stats(full.subset(stratified_subset(full.labels, ctx.profile.size(train), 1000 * seed + 1)))
    return cfg, learn, test


def disagreement(probs: torch.Tensor) -> float:
    """Mean share of the test images on which two different members predict different classes."""
    pred = probs.argmax(-1)  # [M, N]
    m = len(pred)
    pairs = [(pred[i] != pred[j]).float().mean() for i in range(m) for j in range(i + 1, m)]
    return float(torch.stack(pairs).mean()) if pairs else 0.0


def seed_run(ctx, seed: int) -> dict:
    """One paired seed: test accuracy of each arm (`ARMS`), of the soft vote of the first k bootstrap members
    (k = 1..MEMBERS), and the members' disagreement."""
    options = {"model_options": {"hidden": [256]}, "lr": 1e-2, "batch_size": 25, "epochs": ctx.profile.epochs(20)}
    cfg, data, test = unit_data(ctx, ctx.data(DATA), seed, TRAIN, **options)
    cfg = replace(cfg, seed=1000 * seed + INIT_OFFSET)
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
        "disagreement": disagreement(bag.probs),
        "bagged_by_members": [float((soft_vote(bag.probs[:k]) == y).float().mean()) for k in range(1, MEMBERS + 1)],
    }


ARMS = ("bagged_soft", "bagged_hard", "single", "random_init", "member_mean", "disagreement")
SEED_RUN = "dlbasic.studies.bagging:seed_run"
SEED_COST = 3.6  # seconds of one seed's run (one thread, quick profile)


@register_study
class Bagging(Study):
    """Claim `bagging`: models trained on bootstrap samples and aggregated (voting/averaging) do better."""

    id = "bagging"
    trains_on = DATA
    form = "difference"
    schedule = SCHEDULE
    section = "Bagging vs Boosting"
    claim = "Models trained on bootstrap samples and aggregated (voting/averaging) do better (an ensemble)."
    note = (
        "Bagging (Bootstrapping aggregating): bootstrapping으로 학습된 여러 모델들. 이 모델들 각각의 결과를 "
        "취합. (voting, aveaging 등) ex) 앙상블"
    )
    literature = (
        "Breiman (1996) compares the bagged predictor with one predictor fit to the whole learning set, and "
        "finds that bagging helps unstable procedures; for deep nets, Lee et al. (arXiv 1511.06314) find "
        "ensembles of random initializations on all the data better than bagging."
    )
    method = (
        f"Per paired seed, its own test split and a stratified subset L of {TRAIN} images of the train+val pool "
        "of the `--data` source (default: 8x8 digits). An unstable base learner: a one-hidden-layer MLP (256 "
        "units, Adam lr 1e-2, 20 epochs, batch 25) trained far past fitting L. Bagging: "
        f"{MEMBERS} members, each on its own bootstrap sample of L (`dlbasic.evaluation.bagging`), soft vote "
        "(mean probabilities); hard vote reported. Baseline: one net trained on all of L. Reported beside: an "
        f"ensemble of {MEMBERS} nets on all of L from different initializations and data orders (its first "
        "member is the baseline net), the members' mean accuracy, and their disagreement (the share of test "
        "images two members classify differently: how unstable the learner is)."
    )
    rule = (
        "One paired comparison over seeds (difference form, verdicts.part, margin 0.005 of accuracy; seeds "
        f"{' then '.join(map(str, SCHEDULE))}, O'Brien-Fleming boundary): the bagged ensemble's test accuracy (soft "
        "vote) against the single net trained on all of L. Supported if the ensemble is better by more than "
        "the margin; contradicted if the single net is better or the two are equivalent within it; else "
        "inconclusive. The random-initialization ensemble is reported, not judged."
    )

    def seed_runs(self, ctx, seeds) -> list[Run]:
        """One run per paired seed: the bagged ensemble and the nets on all of L."""
        return one_run_per_seed(seeds, SEED_RUN, SEED_COST)

    def collect(self, ctx, results) -> Measurements:
        """The numbers of `method` from the seeds' runs (in seed order), and the figure."""
        seeds, runs = per_seed(results)
        numbers = {
            "members": MEMBERS,
            "seeds": seeds,
            **{k: [r[k] for r in runs] for k in ARMS},
            "bagged_by_members": [list(r["bagged_by_members"]) for r in runs],
        }
        caption = (
            "Test accuracy of the bagged ensemble as bootstrap members are added, against one net on all the "
            "data and the random-initialization ensemble"
        )
        return Measurements(numbers, [(caption, _figure(numbers))], seeds)

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `collect` returned."""
        p = part(
            "test accuracy, bagged ensemble vs one net on all the data",
            m["bagged_soft"],
            m["single"],
            form="difference",
            margin=ACCURACY,
            schedule=self.schedule,
        )
        key = (
            f"bagged soft vote {pm(m['bagged_soft'])} (hard {pm(m['bagged_hard'])}) vs one net on all the data "
            f"{pm(m['single'])}; reported: random-init ensemble {pm(m['random_init'])}, bootstrap members "
            f"{pm(m['member_mean'])}, members disagree on {pm(m['disagreement'])} of the test images"
        )
        reasons = {"supported": "the bagged ensemble tests better than one net trained on all the data"}
        return verdict([p], key, reasons)


def _figure(m):
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ks = range(1, m["members"] + 1)
    g = np.array(m["bagged_by_members"])
    ax.plot(ks, g.mean(0), "o-", label="bagged soft vote of the first k members (mean of seeds)")
    for name, style in (("single", "--"), ("random_init", ":")):
        label = {"single": "one net on all the data", "random_init": "random-init ensemble on all the data"}[name]
        ax.axhline(float(np.mean(m[name])), ls=style, color="C1" if name == "single" else "C2", label=label)
    ax.set_xlabel("members k")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
