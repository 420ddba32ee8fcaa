"""Claim `resnet`: skip connections let deeper networks train better.

The note says deep networks suffer from over-fitting. He et al. 2016
(https://arxiv.org/abs/1512.03385, Figure 1 and 4) show something else, the *degradation* problem:
a deeper plain network has a higher *training* error than a shallower one, so it is an optimization
difficulty, not over-fitting; with identity shortcuts the deeper net trains to a lower error. The
study trains the zoo's small-input plain and residual networks at 18 and 34 layers (identical
layers, the residual ones add identity/projection shortcuts) on the 8x8 digits, and reports
training error (running, over the last epoch) and test error.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from dlbasic.studies.base import (
    CONTRADICTED,
    INCONCLUSIVE,
    SUPPORTED,
    Measurements,
    Study,
    Verdict,
    compare,
    mean_std,
    pm,
)
from dlbasic.studies.registry import register_study

NETS = ("plain18", "resnet18", "plain34", "resnet34")


@register_study
class ResNetStudy(Study):
    id = "resnet"
    section = "ResNet"
    claim = "Skip connections let deeper networks train better."
    note = ("문제: 파라미터 수가 많아지면 생기는 문제 - over-fit. "
            "레이어 수가 적은 모델이 에러의 satuation 값이 더 작다. "
            "skip connection: 차이만 학습하길 원함. 깊은 레이어로 더 좋은 성능을 낼 수 있게 됨.")
    literature = ("The note blames over-fitting. He et al. (arXiv 1512.03385) show a degradation problem instead: "
                  "the deeper plain network has the higher *training* error (Figure 1), which over-fitting cannot "
                  "explain; shortcuts remove it, and the deeper residual net trains to a lower error.")
    method = ("Train plain18, resnet18, plain34 and resnet34 (the zoo's small-input variants: 3x3 stem, widths "
              "16-128, batch norm; residual branches not zero-initialized, as in the paper) on the digits, SGD "
              "with momentum 0.9, lr 0.05, batch 64, same epochs, per seed; record the training error over the last "
              "epoch and the test error.")
    rule = ("Compare the 34-layer residual and plain nets' training errors with the lab's rule (mean difference "
            "beyond the larger seed std): supported if the residual net's is lower, contradicted if it is higher, "
            "inconclusive within noise. Reported beside it: degradation (plain34 vs plain18 training error, same "
            "rule) and over-fitting (test minus training error).")

    def measure(self, ctx) -> Measurements:
        epochs = ctx.profile.epochs(5)
        train_err: dict[str, list[float]] = {}
        test_err: dict[str, list[float]] = {}
        losses: dict[str, list[list[float]]] = {}
        params: dict[str, int] = {}
        for name in NETS:
            train_err[name], test_err[name], losses[name] = [], [], []
            for seed in ctx.seeds:
                cfg = ctx.config(data="digits", model=name, optimizer="sgd", lr=0.05, momentum=0.9, epochs=epochs,
                                 batch_size=64, seed=seed, model_options={"zero_init_residual": False})
                s = ctx.train(cfg)
                train_err[name].append(1 - s["train_accuracy"])
                test_err[name].append(1 - s["test_accuracy"])
                losses[name].append([h["train_loss"] for h in s["history"]])
                params[name] = s["parameters"]
        numbers = {"epochs": epochs, "train_error": train_err, "test_error": test_err, "train_loss": losses,
                   "params": params}
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        x = range(len(NETS))
        for off, what, label in ((-0.2, train_err, "training error"), (0.2, test_err, "test error")):
            stats = [mean_std(what[n]) for n in NETS]
            axes[0].bar([i + off for i in x], [m for m, _ in stats], 0.4, yerr=[s for _, s in stats], capsize=3,
                        label=label)
        axes[0].set_xticks(list(x), NETS)
        axes[0].set_ylabel("error (mean ± std over seeds)")
        axes[0].legend(fontsize=8)
        for i, name in enumerate(NETS):
            curve = [sum(c[e] for c in losses[name]) / len(losses[name]) for e in range(epochs)]
            axes[1].plot(range(1, epochs + 1), curve, "--" if name.startswith("plain") else "-", color=f"C{i}",
                         label=name)
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("training loss (mean of seeds)")
        axes[1].set_yscale("log")
        axes[1].legend(fontsize=8)
        for ax in axes:
            ax.grid(alpha=0.3)
        fig.tight_layout()
        return Measurements(numbers, [("Plain (dashed) and residual (solid) nets at 18 and 34 layers on the digits: "
                                       "errors (left), training loss (right)", fig)], list(ctx.seeds))

    def judge(self, m) -> Verdict:
        tr, te = m["train_error"], m["test_error"]
        verdict = compare(tr["resnet34"], tr["plain34"], higher_is_better=False)
        degraded = compare(tr["plain18"], tr["plain34"], higher_is_better=False) == SUPPORTED
        gap = mean_std(te["plain34"])[0] - mean_std(tr["plain34"])[0]
        key = (f"training error resnet34 {pm(tr['resnet34'])} vs plain34 {pm(tr['plain34'])} "
               f"(plain18 {pm(tr['plain18'])}); plain34 test - train error {gap:+.3f}")
        aside = ("; the deeper plain net has the higher training error (degradation, not over-fitting)" if degraded
                 else "; no degradation beyond noise between plain18 and plain34 at this budget")
        if verdict == SUPPORTED:
            return Verdict(SUPPORTED, key, "with shortcuts the 34-layer net trains to a lower error" + aside)
        if verdict == CONTRADICTED:
            return Verdict(CONTRADICTED, key, "the 34-layer plain net trains to a lower error than the residual one"
                           + aside)
        return Verdict(INCONCLUSIVE, key, "the training-error gap is within seed noise" + aside)
