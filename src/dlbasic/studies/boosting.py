"""Claim `boosting`: sequential models, each focused on what the previous ones got wrong."""

from __future__ import annotations

import math
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch

from dlbasic.data import load
from dlbasic.evaluation._fit import fit, load_pool, predict_proba, split_options, with_own_stats
from dlbasic.evaluation.ensembles import WeightedDataset, WeightedTask, samme
from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict, mean_std
from dlbasic.studies.registry import register_study

ROUNDS = 6


@register_study
class Boosting(Study):
    id = "boosting"
    section = "Bagging vs Boosting"
    claim = "Sequential models, each focused on what the previous got wrong."
    note = ("Boosting: 여러 개의 모델을 sequential하게 연결. "
            "이전 모델이 잘 학습하지 못한 데이터에 대해서만 다음 모델을 학습.")
    literature = ("AdaBoost (Freund & Schapire 1997; SAMME, Zhu et al. 2009) does not train the next model *only* on "
                  "the misclassified data: it reweights every example, raising the weights of the mistakes so that "
                  "they carry (K-1)/K of the total weight in SAMME, and the final vote weighs each model by its "
                  "accuracy.")
    method = (f"AdaBoost SAMME, {ROUNDS} rounds, weak learners = MLPs with 8 hidden units trained 5 epochs (Adam, "
              "lr 1e-2) through a sample-weighted cross entropy on 500 digits images, per seed. Focus: the accuracy "
              "of learner m+1 on the training images learner m got wrong, against the accuracy on the same images "
              "of a learner trained identically (same seed) but with uniform weights. Also: the ensemble's training "
              "and test accuracy per round and how much weight sits on the mistakes.")
    rule = ("Supported if (a) the mean focus accuracy exceeds the uniform learners' accuracy on the same mistakes "
            "by more than the larger seed std and (b) the ensemble's training error after the last round is below "
            "the first learner's by more than its seed std (seeds where boosting stopped after one learner are "
            "left out of (a)); contradicted if the focus accuracy is below the uniform "
            "one by that margin; inconclusive otherwise.")

    def measure(self, ctx) -> Measurements:
        focus, uniform, train_err, test_acc, on_mistakes = [], [], [], [], []
        for seed in ctx.seeds:
            cfg = ctx.config(data="digits", model="mlp", model_options={"hidden": [8]}, optimizer="adam", lr=1e-2,
                             epochs=ctx.profile.epochs(5), batch_size=50, seed=seed,
                             train_subset=ctx.profile.size(500))
            train = with_own_stats(load_pool(cfg))
            test = load(cfg.data, "test", **split_options(cfg))
            preds: list[np.ndarray] = []
            test_preds: list[np.ndarray] = []

            def fit_predict(w: np.ndarray, cfg=cfg, train=train, test=test, preds=preds, test_preds=test_preds):
                c = replace(cfg, seed=cfg.seed + len(preds))
                trainer = fit(c, WeightedDataset.of(train, torch.from_numpy(w * len(w))), task=WeightedTask())
                preds.append(predict_proba(trainer, train).argmax(1).numpy())
                test_preds.append(predict_proba(trainer, test).argmax(1).numpy())
                return preds[-1]

            y = train.labels.numpy()
            alphas, rounds = samme(fit_predict, y, train.num_classes, ROUNDS)
            f, u = [], []
            for m in range(1, len(preds)):  # discarded learners (no better than chance) count too
                wrong = preds[m - 1] != y
                c = replace(cfg, seed=cfg.seed + m)
                plain = predict_proba(fit(c, train), train).argmax(1).numpy()  # same seed, uniform weights
                f.append(float(np.mean(preds[m][wrong] == y[wrong])))
                u.append(float(np.mean(plain[wrong] == y[wrong])))
            focus.append(float(np.mean(f)) if f else float("nan"))
            uniform.append(float(np.mean(u)) if u else float("nan"))
            train_err.append([r.ensemble_train_error for r in rounds])
            on_mistakes.append([r.weight_on_mistakes for r in rounds])
            scores = np.zeros((len(test), train.num_classes))
            acc = []
            for a, p in zip(alphas, test_preds):
                scores[np.arange(len(test)), p] += a
                acc.append(float(np.mean(scores.argmax(1) == test.labels.numpy())))
            test_acc.append(acc)
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for seed, e, a in zip(ctx.seeds, train_err, test_acc):
            r = range(1, len(e) + 1)
            ax.plot(r, [1 - x for x in e], marker="o", label=f"ensemble train accuracy (seed {seed})")
            ax.plot(r, a, marker="s", ls="--", label=f"ensemble test accuracy (seed {seed})")
        ax.set_xlabel("boosting round")
        ax.set_ylabel("accuracy")
        ax.set_title("AdaBoost (SAMME) of 8-unit MLPs")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        return Measurements({"rounds": ROUNDS, "focus_accuracy": focus, "uniform_accuracy": uniform,
                             "ensemble_train_error": train_err, "ensemble_test_accuracy": test_acc,
                             "weight_on_mistakes": on_mistakes},
                            [("Ensemble accuracy per boosting round", fig)], list(ctx.seeds))

    def judge(self, m) -> Verdict:
        pairs = [(f, u) for f, u in zip(m["focus_accuracy"], m["uniform_accuracy"]) if math.isfinite(f + u)]
        if not pairs:
            return Verdict(INCONCLUSIVE, "no second learner", "boosting stopped after one learner in every seed")
        (fm, fs), (um, us) = mean_std([f for f, _ in pairs]), mean_std([u for _, u in pairs])
        first = [e[0] for e in m["ensemble_train_error"]]
        last = [e[-1] for e in m["ensemble_train_error"]]
        drop, drop_std = mean_std([a - b for a, b in zip(first, last)])
        margin = max(fs, us)
        key = (f"next learner right on {fm:.3f} of the previous one's mistakes vs {um:.3f} with uniform weights; "
               f"ensemble train error {mean_std(first)[0]:.3f} -> {mean_std(last)[0]:.3f}")
        if fm - um > margin and drop > drop_std:
            return Verdict(SUPPORTED, key, "each learner fixes its predecessor's mistakes more often than an unfocused "
                                           "learner, and the sequence lowers the training error")
        if um - fm > margin:
            return Verdict(CONTRADICTED, key, "reweighting does not focus the next learner on the mistakes")
        return Verdict(INCONCLUSIVE, key, "the focus or the error reduction is within seed noise")
