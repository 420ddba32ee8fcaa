"""Claim `rmsprop-adam`: RMSprop is used instead of Adadelta; Adam (momentum + adaptive lr) is the safe default."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt

from dlbasic.optim import default_lr
from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict, mean_std
from dlbasic.studies.registry import register_study

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam")
MULTIPLIERS = (0.1, 1.0, 10.0)  # times each optimizer's default lr
EPOCHS = 5


def worst(per_lr: dict[str, list[float]]) -> tuple[float, float]:
    """Mean and seed std of the worst learning rate's accuracy."""
    return min((mean_std(v) for v in per_lr.values()), key=lambda ms: ms[0])


@register_study
class RmspropAdamStudy(Study):
    id = "rmsprop-adam"
    section = "RMSprop, Adam"
    claim = "RMSprop is used instead of Adadelta; Adam (momentum + adaptive lr) is the safe default."
    note = ("RMSprop: Adadelta 대신 많이 사용됨. step size 추가. "
            "Adam: 가장 무난하게 사용. momentum과 adaptive learning rate를 합침.")
    literature = ("RMSprop: Hinton, Coursera lecture 6e (2012), unpublished; Adam: Kingma & Ba, arXiv 1412.6980. "
                  "Wilson et al., arXiv 1705.08292, find tuned SGD/momentum often generalizes as well or better; "
                  "'safe default' is about robustness to the lr choice, which this study measures. Which optimizer "
                  "people use is not measurable here: the RMSprop/Adadelta numbers are reported, not judged.")
    method = (f"The digits MLP (64-64-10, batch 32) trains {EPOCHS} epochs with each of {', '.join(OPTIMIZERS)} at "
              f"{', '.join(f'{m:g}' for m in MULTIPLIERS)} x its default learning rate (sgd 0.1, momentum/nesterov "
              "0.01, adagrad 0.01, adadelta 1.0, rmsprop/adam 0.001), for each seed; a run that diverges (non-finite "
              "loss) scores the chance accuracy 0.1. Robustness = the validation accuracy at the optimizer's worst "
              "learning rate of the grid.")
    rule = ("Supported if Adam's worst-lr accuracy is within the margin of the best optimizer's worst-lr accuracy "
            "AND Adam at its default lr is within the margin of the best (optimizer, lr) cell; margin = max(0.01, the "
            "larger seed std of the two). Contradicted if another optimizer's worst-lr accuracy beats Adam's by more "
            "than max(0.05, 3 x that std). Inconclusive otherwise.")

    def measure(self, ctx) -> Measurements:
        acc: dict[str, dict[str, list[float]]] = {}
        for name in OPTIMIZERS:
            acc[name] = {}
            for mult in MULTIPLIERS:
                key = f"{mult:g}"
                acc[name][key] = []
                for seed in ctx.seeds:
                    s = ctx.train(ctx.config(data="digits", model="mlp", model_options={"hidden": [64]},
                                             optimizer=name, lr=default_lr(name) * mult, batch_size=32, seed=seed,
                                             epochs=ctx.profile.epochs(EPOCHS)))
                    ok = all(math.isfinite(h["train_loss"]) for h in s["history"]) and math.isfinite(
                        s["val_loss"] if s["val_loss"] is not None else math.nan)
                    acc[name][key].append(s["val_accuracy"] if ok else 0.1)
        fig, ax = plt.subplots(figsize=(7, 4))
        for name in OPTIMIZERS:
            means = [mean_std(acc[name][f"{m:g}"]) for m in MULTIPLIERS]
            ax.errorbar(MULTIPLIERS, [m for m, _ in means], yerr=[s for _, s in means], marker="o", capsize=3,
                        label=name, lw=2.5 if name == "adam" else 1.2)
        ax.set(xscale="log", xlabel="learning rate / the optimizer's default", ylabel="validation accuracy",
               title=f"digits MLP after {EPOCHS} epochs")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        return Measurements({"val_accuracy": acc}, [
            ("Validation accuracy against the learning rate (relative to each default), mean ± std over seeds", fig)],
            list(ctx.seeds))

    def judge(self, m) -> Verdict:
        acc = m["val_accuracy"]
        worsts = {name: worst(per_lr) for name, per_lr in acc.items()}
        rival = max((n for n in worsts if n != "adam"), key=lambda n: worsts[n][0])
        cells = {(n, k): mean_std(v) for n, per_lr in acc.items() for k, v in per_lr.items()}
        best_cell = max(cells, key=lambda c: cells[c][0])
        adam_default = cells[("adam", "1")]
        (wa, sa), (wr, sr) = worsts["adam"], worsts[rival]
        gap_worst = wr - wa  # > 0: the rival is more robust than Adam
        gap_default = cells[best_cell][0] - adam_default[0]
        key = (f"worst-lr accuracy: Adam {wa:.3f} vs {rival} {wr:.3f}; Adam at default lr {adam_default[0]:.3f} vs "
               f"best cell {best_cell[0]} x{best_cell[1]} {cells[best_cell][0]:.3f}")
        if "rmsprop" in worsts and "adadelta" in worsts:  # reported beside the verdict, not judged
            key += f"; RMSprop/Adadelta worst {worsts['rmsprop'][0]:.3f}/{worsts['adadelta'][0]:.3f}"
        if gap_worst > max(0.05, 3 * max(sa, sr)):
            return Verdict(CONTRADICTED, key, f"{rival} is clearly more robust to the lr choice than Adam")
        if gap_worst <= max(0.01, sa, sr) and gap_default <= max(0.01, adam_default[1], cells[best_cell][1]):
            return Verdict(SUPPORTED, key, "Adam is among the most robust to the lr choice and its default lr is "
                                           "as good as the best tuned cell")
        return Verdict(INCONCLUSIVE, key, "Adam is neither clearly the most robust nor clearly beaten")
