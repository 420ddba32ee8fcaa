"""Claim `cross-validation`: k-fold CV picks the hyperparameters; the test set is never used for choices."""

from __future__ import annotations

import matplotlib.pyplot as plt

from dlbasic.config import from_dict
from dlbasic.data import load
from dlbasic.evaluation._fit import fit, load_pool, split_options, with_own_stats
from dlbasic.evaluation.crossval import cross_validate, final_test
from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict, mean_std
from dlbasic.studies.registry import register_study

LRS = (1e-3, 1e-2, 1e-1, 1.0)
FOLDS = 3


@register_study
class CrossValidation(Study):
    id = "cross-validation"
    section = "Important Concepts"
    claim = ("k-fold CV (train on k-1 folds, validate on the rest, k times) picks the hyperparameters; then "
             "retrain on all training data; the test set is never used for choices.")
    note = ("학습 데이터를 k개로 나누어, i (=1~k)번째를 제외하고 학습. → k번 반복. cross-validation으로 최적의 "
            "hyperparameter를 찾고, 이 값들로 전체 data set을 사용해 학습. test data는 학습에 사용하면 안 된다.")
    method = (f"`dlbasic.evaluation.run_cv` chooses the SGD-with-momentum learning rate of a one-hidden-layer MLP "
              f"(64 units) on the digits among {', '.join(map(str, LRS))} by {FOLDS}-fold stratified CV of the "
              "train+val data (5 epochs, early stopping with patience 2 on the held-out fold), retrains the choice "
              "on all of it and evaluates it on the test split once. For the analysis only (never for the choice), "
              "every candidate is also retrained the same way and tested, to find the test-optimal learning rate; "
              "the regret is test accuracy(test-optimal) - test accuracy(CV choice), per seed.")
    rule = ("Supported if the mean regret is at most max(0.01, the seed std of the chosen and of the "
            "test-optimal test accuracies) — CV chose as well as peeking at the test set would have; contradicted "
            "if it exceeds three times that margin; inconclusive otherwise.")

    def measure(self, ctx) -> Measurements:
        cv_acc: dict[str, list[float]] = {f"{lr:g}": [] for lr in LRS}
        test_acc: dict[str, list[float]] = {f"{lr:g}": [] for lr in LRS}
        chosen, chosen_test, best_test = [], [], []
        for seed in ctx.seeds:
            cfg = ctx.config(data="digits", model="mlp", model_options={"hidden": [64]}, optimizer="momentum",
                             epochs=ctx.profile.epochs(5), batch_size=32, seed=seed)
            pool = load_pool(cfg)
            res = cross_validate(cfg, [{"lr": lr} for lr in LRS], FOLDS, patience=2, pool=pool)
            final = final_test(cfg, res, pool)
            test = load(cfg.data, "test", **split_options(cfg))
            for i, row in enumerate(res.summary()):
                key = f"{LRS[i]:g}"
                cv_acc[key].append(row["mean"])
                if i == res.best_index:
                    test_acc[key].append(final["test_accuracy"])  # the protocol's own single test evaluation
                    continue
                c = from_dict({"lr": LRS[i], "epochs": row["best_epochs"]}, cfg)  # analysis only
                test_acc[key].append(float(fit(c, with_own_stats(pool)).evaluate(test)["accuracy"]))
            chosen.append(f"{res.best['lr']:g}")
            chosen_test.append(final["test_accuracy"])
            best_test.append(max(v[-1] for v in test_acc.values()))
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for name, values, style in (("CV mean held-out accuracy", cv_acc, "o-"),
                                    ("test accuracy (retrained on train+val)", test_acc, "s--")):
            m = [mean_std(values[f"{lr:g}"]) for lr in LRS]
            ax.errorbar(LRS, [a for a, _ in m], yerr=[b for _, b in m], fmt=style, capsize=3, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (SGD with momentum 0.9)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"CV choice per seed: {', '.join(chosen)}")
        ax.legend(loc="lower center")
        ax.grid(alpha=0.3)
        return Measurements({"cv_accuracy": cv_acc, "test_accuracy": test_acc, "chosen_lr": chosen,
                             "chosen_test_accuracy": chosen_test, "best_test_accuracy": best_test, "folds": FOLDS},
                            [("Cross-validated accuracy (used for the choice) and test accuracy (analysis only) "
                              "per learning rate", fig)], list(ctx.seeds))

    def judge(self, m) -> Verdict:
        chosen, best = m["chosen_test_accuracy"], m["best_test_accuracy"]
        margin = max(0.01, mean_std(chosen)[1], mean_std(best)[1])
        regret = mean_std([b - c for b, c in zip(best, chosen)])[0]
        key = f"CV chose lr {', '.join(m['chosen_lr'])}; mean test regret {regret:.4f} (margin {margin:.4f})"
        if regret <= margin:
            return Verdict(SUPPORTED, key, "the CV choice tests as well as the test-optimal choice, without the "
                                           "test set taking part in the choice")
        if regret > 3 * margin:
            return Verdict(CONTRADICTED, key, "the CV choice tests clearly worse than the test-optimal candidate")
        return Verdict(INCONCLUSIVE, key, "the CV choice loses a little against the test-optimal candidate")
