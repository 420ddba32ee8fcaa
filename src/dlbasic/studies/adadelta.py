r"""Claim `adadelta`: a window of recent updates fixes Adagrad's growing G_t; Adadelta has no learning rate.

The experiment it scales down: Zeiler, "ADADELTA: an adaptive learning rate method" (arXiv 1212.5701, 2012,
§4 and Fig. 1-2): Adadelta's step RMS[dx]_{t-1} / RMS[g]_t uses decaying averages, so it does not decay like
Adagrad's lr / sqrt(G_t); trained on MNIST without choosing a learning rate, it learns about as well as tuned
methods. Scaled down as `adagrad` (whose Adagrad runs it shares): an MLP 64-64-10 on the 8x8 digits (or
``--data``), batch 32, 30 epochs, the same seeds (split, initialization, data order) for Adadelta and Adagrad.
Runs: one per (optimizer, seed), `adagrad.tracked`.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt

from dlbasic.lab.registry import register_study
from dlbasic.lab.stats import decide
from dlbasic.lab.study import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Run, Study, Verdict, pm
from dlbasic.studies.adagrad import EPOCHS, SHRINK_MARGIN, conjunction, tracked_runs

DATA = "digits"  # the source its runs train on, unless the lab names one (--data)


@register_study
class AdadeltaStudy(Study):
    """Claim `adadelta`: Fixes Adagrad's growing G_t with a window of recent updates; has no learning rate."""

    id = "adadelta"
    trains_on = DATA
    section = "Adadelta"
    claim = "Fixes Adagrad's growing G_t with a window of recent updates; has no learning rate."
    note = (
        "Adagrad의 Gt가 너무 커지는 현상을 해결하기 위함. 이전 n-step 동안의 업데이트 정보만 반영. "
        "learning rate가 없다."
    )
    literature = (
        "Zeiler, arXiv 1212.5701: the 'window' is an exponential moving average (rho = 0.9 in torch), not "
        "the last n steps, and the step is RMS[dx]_{t-1} / RMS[g]_t, so the paper's rule has no learning "
        "rate. torch's Adadelta (and dlbasic's, which matches it) multiplies that step by lr, default 1.0; "
        "eps (1e-6) sets the size of the first steps, sqrt(eps) / RMS[g], so it acts as a hidden step size."
    )
    method = (
        f"The MLP 64-64-10 (batch 32) trains {EPOCHS} epochs on the 8x8 digits (or --data) with Adadelta "
        "given no learning rate (create_optimizer's default, torch's lr = 1.0 multiplier) and with Adagrad (lr "
        "0.01), both from each seed's split, initialization and data order. After every epoch the median "
        "effective step size of the first layer's weights is read from the optimizer state (Adadelta lr "
        "sqrt(E[dx^2]+eps)/sqrt(E[g^2]+eps), Adagrad lr/(sqrt(G_t)+eps)); the ratio last epoch / first epoch "
        "says whether the step stays alive."
    )
    rule = (
        "Two paired t-tests (stats.decide) over seeds: (a) log step ratio, Adadelta against Adagrad, higher is "
        "better, margin ln 2 (its step must stay at least twice as alive); (b) Adadelta's validation accuracy "
        "with no learning rate given against the halfway point between chance (1/classes) and 1, margin 0 "
        "(a one-sample test: does it learn without an lr?). The claim has both parts: supported if both are "
        "supported, contradicted if either is contradicted, inconclusive otherwise."
    )

    def plan(self, ctx, results: dict) -> list[Run]:
        """Adadelta and Adagrad on each seed."""
        return tracked_runs(ctx, ("adadelta", "adagrad"))

    def collect(self, ctx, results: dict) -> Measurements:
        """The numbers and the figure, from the runs' effective steps."""
        epochs = ctx.profile.epochs(EPOCHS)
        from dlbasic.training.run import load_data

        numbers: dict = {name: {"ratio": [], "val_accuracy": []} for name in ("adadelta", "adagrad")}
        numbers["classes"] = load_data(ctx.config(data=ctx.data(DATA), seed=ctx.seeds[0])).train.num_classes
        fig, ax = plt.subplots(figsize=(6, 3.8))
        for name in ("adadelta", "adagrad"):
            for seed in ctx.seeds:
                r = results[f"{name} seed {seed}"]
                numbers[name]["ratio"].append(r["medians"][-1] / r["medians"][0])
                numbers[name]["val_accuracy"].append(r["val_accuracy"])
                ax.plot(range(1, epochs + 1), r["medians"], label=f"{name}, seed {seed}")
        ax.set(
            yscale="log",
            xlabel="epoch",
            ylabel="median effective step size (first layer)",
            title="Adadelta's step stays alive, Adagrad's shrinks",
        )
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        return Measurements(
            numbers, [("Effective step size per epoch: Adadelta (no lr given) vs Adagrad", fig)], list(ctx.seeds)
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`, computed from the numbers `measure` returned."""
        d, a = m["adadelta"], m["adagrad"]
        halfway = (1 + 1 / m["classes"]) / 2
        decisions = {
            "step alive": decide(
                [math.log(x) for x in d["ratio"]], [math.log(x) for x in a["ratio"]], margin=SHRINK_MARGIN
            ),
            "learns with no lr": decide(d["val_accuracy"], [halfway] * len(d["val_accuracy"])),
        }
        key = (
            f"effective step last/first epoch: Adadelta {pm(d['ratio'])} vs Adagrad {pm(a['ratio'])}; Adadelta "
            f"with no lr: validation accuracy {pm(d['val_accuracy'])} (halfway from chance to 1: {halfway:.3f}; "
            f"Adagrad at its default lr {pm(a['val_accuracy'])})"
        )
        verdict = conjunction(decisions)
        parts = ", ".join(f"{k}: {x.verdict}" for k, x in decisions.items())
        reason = {
            SUPPORTED: "Adadelta's step stayed alive where Adagrad's shrank, and it learned with no learning "
            "rate given (torch's lr = 1.0 multiplier)",
            CONTRADICTED: f"a part of the claim is contradicted ({parts})",
            INCONCLUSIVE: f"a part of the claim is undecided ({parts})",
        }[verdict]
        return Verdict(verdict, key, reason, "; ".join(f"{k}: {x}" for k, x in decisions.items()))
