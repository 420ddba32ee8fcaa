"""Claim `learning-rate`: choosing the learning rate well matters."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt

from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict, mean_std
from dlbasic.studies.registry import register_study

LRS = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


@register_study
class LearningRate(Study):
    id = "learning-rate"
    section = "Gradient Descent"
    claim = "Choosing the learning rate well matters."
    note = "적절한 learning rate를 잡아주는 것이 중요."
    method = ("Plain SGD (no momentum) trains the same MLP on the digits for the same number of steps at learning "
              f"rates {', '.join(map(str, LRS))}, for each seed. A run diverges when its loss becomes NaN/inf or "
              "ends above its starting value; a diverged run scores the chance accuracy 0.1.")
    rule = ("Supported if the best and worst learning rates differ in mean validation accuracy by more than "
            "max(0.05, 3 x the largest seed standard deviation); contradicted if they differ by less than the "
            "largest seed standard deviation; inconclusive otherwise.")

    def measure(self, ctx) -> Measurements:
        acc: dict[str, list[float]] = {}
        diverged: dict[str, int] = {}
        curves: dict[str, list[float]] = {}
        for lr in LRS:
            key = f"{lr:g}"
            acc[key], diverged[key] = [], 0
            for seed in ctx.seeds:
                cfg = ctx.config(model="mlp", optimizer="sgd", lr=lr, epochs=ctx.profile.epochs(2), batch_size=64,
                                 seed=seed, train_subset=ctx.profile.size(2000))
                s = ctx.train(cfg)
                losses = [h["train_loss"] for h in s["history"]]
                bad = any(not math.isfinite(x) for x in losses) or not math.isfinite(s["val_loss"] or math.nan)
                if bad:
                    diverged[key] += 1
                acc[key].append(0.1 if bad else s["val_accuracy"])
                if seed == ctx.seeds[0]:
                    curves[key] = [x if math.isfinite(x) else float("nan") for x in losses]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        means = [mean_std(acc[f"{lr:g}"]) for lr in LRS]
        ax.errorbar(LRS, [m for m, _ in means], yerr=[s for _, s in means], marker="o", capsize=3)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (plain SGD)")
        ax.set_ylabel("validation accuracy")
        ax.grid(alpha=0.3)
        return Measurements({"val_accuracy": acc, "diverged_runs": diverged}, [
            ("Validation accuracy against learning rate (mean ± std over seeds)", fig)], list(ctx.seeds))

    def judge(self, m) -> Verdict:
        stats = {lr: mean_std(v) for lr, v in m["val_accuracy"].items()}
        best = max(stats, key=lambda k: stats[k][0])
        worst = min(stats, key=lambda k: stats[k][0])
        gap = stats[best][0] - stats[worst][0]
        noise = max(s for _, s in stats.values())
        key = f"lr {best}: {stats[best][0]:.3f} vs lr {worst}: {stats[worst][0]:.3f} (gap {gap:.3f})"
        if gap > max(0.05, 3 * noise):
            return Verdict(SUPPORTED, key, "the learning rate alone moves accuracy far beyond seed noise")
        if gap < noise:
            return Verdict(CONTRADICTED, key, "all learning rates end within seed noise of each other")
        return Verdict(INCONCLUSIVE, key, "the gap is larger than noise but below the rule's margin")
