"""Claim `adadelta`: a window of recent updates fixes Adagrad's growing G_t; Adadelta has no learning rate."""

from __future__ import annotations

import matplotlib.pyplot as plt

from dlbasic.studies.adagrad import EPOCHS, run_tracked
from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict, compare, pm
from dlbasic.studies.registry import register_study


@register_study
class AdadeltaStudy(Study):
    id = "adadelta"
    section = "Adadelta"
    claim = "Fixes Adagrad's growing G_t with a window of recent updates; has no learning rate."
    note = ("Adagrad의 Gt가 너무 커지는 현상을 해결하기 위함. 이전 n-step 동안의 업데이트 정보만 반영. "
            "learning rate가 없다.")
    literature = ("Zeiler, arXiv 1212.5701: the 'window' is an exponential moving average (rho = 0.9 in torch), not "
                  "the last n steps, and the step is RMS[dx]_{t-1} / RMS[g]_t, so the paper's rule has no learning "
                  "rate. torch's Adadelta (and dlbasic's, which matches it) multiplies that step by lr, default 1.0; "
                  "eps (1e-6) sets the size of the first steps, sqrt(eps) / RMS[g], so it acts as a hidden step size.")
    method = (f"The digits MLP (64-64-10, batch 32) trains {EPOCHS} epochs with Adadelta given no learning rate "
              "(create_optimizer's default, torch's lr = 1.0 multiplier) and with Adagrad (lr 0.01). After every "
              "epoch the median effective step size of the first layer's weights is read from the optimizer state "
              "(Adadelta lr sqrt(E[dx^2]+eps)/sqrt(E[g^2]+eps), Adagrad lr/(sqrt(G_t)+eps)); the ratio last epoch / "
              "first epoch says whether the step stays alive.")
    rule = ("Supported if Adadelta's step ratio is above Adagrad's by the compare rule (beyond the larger seed std) "
            "and at least 0.5 in every seed, and Adadelta without a learning rate reaches validation accuracy above "
            "0.5 (chance is 0.1) in every seed. Contradicted if its ratio is below Adagrad's by the compare rule or "
            "it fails to learn (accuracy below 0.2) in any seed. Inconclusive otherwise.")

    def measure(self, ctx) -> Measurements:
        epochs = ctx.profile.epochs(EPOCHS)
        numbers: dict = {name: {"ratio": [], "val_accuracy": []} for name in ("adadelta", "adagrad")}
        fig, ax = plt.subplots(figsize=(6, 3.8))
        for name in ("adadelta", "adagrad"):
            for seed in ctx.seeds:
                s, tracker, _ = run_tracked(ctx, name, seed, epochs)
                numbers[name]["ratio"].append(tracker.medians[-1] / tracker.medians[0])
                numbers[name]["val_accuracy"].append(s["val_accuracy"])
                ax.plot(range(1, epochs + 1), tracker.medians, label=f"{name}, seed {seed}")
        ax.set(yscale="log", xlabel="epoch", ylabel="median effective step size (first layer)",
               title="Adadelta's step stays alive, Adagrad's shrinks")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        return Measurements(numbers, [("Effective step size per epoch: Adadelta (no lr given) vs Adagrad", fig)],
                            list(ctx.seeds))

    def judge(self, m) -> Verdict:
        d, a = m["adadelta"], m["adagrad"]
        alive = compare(d["ratio"], a["ratio"])
        key = (f"effective step last/first epoch: Adadelta {pm(d['ratio'])} vs Adagrad {pm(a['ratio'])}; Adadelta "
               f"with no lr: validation accuracy {pm(d['val_accuracy'])}")
        if alive == CONTRADICTED or any(x < 0.2 for x in d["val_accuracy"]):
            return Verdict(CONTRADICTED, key, "Adadelta's step shrank more than Adagrad's, or it did not learn "
                                              "without a learning rate")
        if alive == SUPPORTED and all(x >= 0.5 for x in d["ratio"]) and all(x > 0.5 for x in d["val_accuracy"]):
            return Verdict(SUPPORTED, key, "Adadelta's step stayed alive where Adagrad's shrank, and it learned "
                                           "with no learning rate given (torch's lr = 1.0 multiplier)")
        return Verdict(INCONCLUSIVE, key, "the difference is within the rule's margins")
