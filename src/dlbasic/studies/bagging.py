"""Claim `bagging`: networks trained on bootstrap samples and aggregated by voting do better than one."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from dlbasic.data import load
from dlbasic.evaluation._fit import load_pool, split_options
from dlbasic.evaluation.ensembles import bagging, soft_vote
from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict, mean_std, pm
from dlbasic.studies.registry import register_study

MEMBERS = 7


@register_study
class Bagging(Study):
    id = "bagging"
    section = "Bagging vs Boosting"
    claim = "Models trained on bootstrap samples and aggregated (voting/averaging) do better (an ensemble)."
    note = ("Bagging (Bootstrapping aggregating): bootstrapping으로 학습된 여러 모델들. 이 모델들 각각의 결과를 "
            "취합. (voting, aveaging 등) ex) 앙상블")
    method = (f"Per seed, {MEMBERS} one-hidden-layer MLPs (128 units, Adam lr 1e-2, 20 epochs) train on bootstrap "
              "samples of 500 digits images (`dlbasic.evaluation.bagging`). On the 359 test images: each member's "
              "accuracy, soft voting (mean probabilities) and hard voting (majority) of all members, and the "
              "ensemble accuracy as members are added.")
    rule = ("Paired per seed (ensemble and members share data and split): the gain is soft-voting accuracy minus "
            "the mean member accuracy. Supported if the mean gain exceeds max(its seed std, the mean spread (std) "
            "of single members' accuracies); contradicted if it is below minus that margin; inconclusive "
            "otherwise. Hard voting is reported beside it.")

    def measure(self, ctx) -> Measurements:
        members, soft, hard, oob, spread = [], [], [], [], []
        growth: list[list[float]] = []
        for seed in ctx.seeds:
            cfg = ctx.config(data="digits", model="mlp", model_options={"hidden": [128]}, optimizer="adam", lr=1e-2,
                             epochs=ctx.profile.epochs(20), batch_size=50, seed=seed,
                             train_subset=ctx.profile.size(500))
            test = load(cfg.data, "test", **split_options(cfg))
            res = bagging(cfg, load_pool(cfg), test, MEMBERS, seed=seed)
            members.append(float(np.mean(res.member_accuracy)))
            soft.append(res.soft_accuracy)
            hard.append(res.hard_accuracy)
            oob.append(float(np.mean(res.oob_accuracy)))
            growth.append([float((soft_vote(res.probs[:k]) == test.labels).float().mean())
                           for k in range(1, MEMBERS + 1)])
            spread.append(float(np.std(res.member_accuracy)))
        fig, ax = plt.subplots(figsize=(6, 3.6))
        ks = range(1, MEMBERS + 1)
        for g, seed in zip(growth, ctx.seeds):
            ax.plot(ks, g, marker="o", label=f"soft vote of first k members (seed {seed})")
        ax.axhline(float(np.mean(members)), color="gray", ls="--", label="mean single member")
        ax.set_xlabel("members k")
        ax.set_ylabel("test accuracy")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        return Measurements({"members": MEMBERS, "member_mean_accuracy": members, "soft_accuracy": soft,
                             "hard_accuracy": hard, "oob_accuracy": oob, "soft_by_members": growth,
                             "member_accuracy_std": spread},
                            [("Test accuracy of the soft-voting ensemble as bootstrap members are added", fig)],
                            list(ctx.seeds))

    def judge(self, m) -> Verdict:
        gain, gain_std = mean_std([a - b for a, b in zip(m["soft_accuracy"], m["member_mean_accuracy"])])
        margin = max(gain_std, mean_std(m["member_accuracy_std"])[0])
        outcome = SUPPORTED if gain > margin else CONTRADICTED if gain < -margin else INCONCLUSIVE
        key = (f"soft vote {pm(m['soft_accuracy'])}, hard vote {pm(m['hard_accuracy'])} vs single member "
               f"{pm(m['member_mean_accuracy'])}; paired gain {gain:.4f} (margin {margin:.4f})")
        reason = {SUPPORTED: "the ensemble beats its members beyond seed noise",
                  CONTRADICTED: "the ensemble is worse than its average member",
                  INCONCLUSIVE: "the ensemble and its members differ within seed noise"}[outcome]
        return Verdict(outcome, key, reason)
