"""Claim `gd-variants`: SGD uses one sample per step, mini-batch some, batch gradient descent all."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt

from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict, mean_std
from dlbasic.studies.registry import register_study

BATCHES = ("1", "32", "256", "full")
EPOCHS = {"1": 3, "32": 15, "256": 15, "full": 15}  # batch 1 takes ~1,300 steps per epoch: fewer epochs
TARGET = 0.6  # validation loss to reach
LR = 0.05


@register_study
class GDVariants(Study):
    id = "gd-variants"
    section = "Practical Gradient Descent Methods"
    claim = "SGD uses one sample, mini-batch some, batch GD all."
    note = ("Stochastic gradient descent (SGD): 하나의 sample로 gradient를 계산하여 업데이트. Mini-batch gradient "
            "descent: 일부분의 sample들로 gradient 계산. (주로 사용) Batch gradient descent: 전체 데이터를 사용하여 "
            "gradient 계산.")
    literature = ("Bottou, Curtis & Nocedal (SIAM Review 2018): per epoch, small batches make more progress (many "
                  "cheap noisy steps); per step, large batches are more accurate; mini-batches win in wall-clock "
                  "because a batch of 32 costs barely more than one sample on vectorized hardware.")
    method = (f"The same MLP (64 hidden units) on the 8x8 digits is trained with plain SGD at lr {LR} and batch sizes "
              f"1, 32, 256 and the full training set, for {EPOCHS['1']} epochs at batch 1 and {EPOCHS['32']} "
              "otherwise; after every epoch the validation loss and the training wall time so far are recorded. "
              f"Measured: optimizer steps per epoch, and the training seconds until the validation loss first "
              f"reaches {TARGET} (runs that never reach it count as infinitely slow).")
    rule = ("Supported if every batch size takes ceil(N / B) steps per epoch and mini-batch 32 reaches the target "
            "loss in less training time than both batch 1 and full batch, by more than the larger seed standard "
            "deviation; contradicted if a step count is wrong or batch 32 is slower than either by that margin; "
            "inconclusive otherwise.")

    def measure(self, ctx) -> Measurements:
        numbers: dict = {"train_images": None, "steps_per_epoch": {}, "seconds_to_target": {}, "curves": {}}
        for b in BATCHES:
            numbers["seconds_to_target"][b] = []
            for seed in ctx.seeds:
                cfg = ctx.config(data="digits", model="mlp", model_options={"hidden": [64]}, optimizer="sgd", lr=LR,
                                 batch_size="full" if b == "full" else int(b), epochs=ctx.profile.epochs(EPOCHS[b]),
                                 seed=seed)
                s = ctx.train(cfg)
                h = s["history"]
                numbers["train_images"] = s["train_images"]
                numbers["steps_per_epoch"][b] = h[0]["step"]
                elapsed = [sum(x["train_seconds"] for x in h[: i + 1]) for i in range(len(h))]
                hit = next((t for t, x in zip(elapsed, h) if x["val_loss"] <= TARGET), math.inf)
                numbers["seconds_to_target"][b].append(hit)
                if seed == ctx.seeds[0]:
                    numbers["curves"][b] = {"epoch": [x["epoch"] for x in h], "seconds": elapsed,
                                            "val_loss": [x["val_loss"] for x in h]}
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for b, c in numbers["curves"].items():
            label = f"batch {b}" + (" (SGD)" if b == "1" else " (batch GD)" if b == "full" else " (mini-batch)")
            axes[0].plot(c["epoch"], c["val_loss"], "-o", markersize=3, label=label)
            axes[1].plot(c["seconds"], c["val_loss"], "-o", markersize=3, label=label)
        for ax, xlabel in zip(axes, ("epoch", "training seconds")):
            ax.axhline(TARGET, color="gray", lw=0.8, ls="--")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("validation loss")
            ax.set_yscale("log")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        return Measurements(numbers, [("Validation loss against epochs and against wall-clock time (dashed: the "
                                       "target)", fig)], list(ctx.seeds))

    def judge(self, m) -> Verdict:
        n = m["train_images"]
        size = {"1": 1, "32": 32, "256": 256, "full": n}
        wrong = [b for b, steps in m["steps_per_epoch"].items() if steps != math.ceil(n / min(size[b], n))]
        t = m["seconds_to_target"]

        def finite(values):
            return [v for v in values if v is not None and math.isfinite(v)]

        def slower(a: str, b: str) -> int:
            """+1 if a is slower than b beyond noise, -1 if faster, 0 within noise."""
            fa, fb = finite(t[a]), finite(t[b])
            if len(fa) < len(t[a]) or len(fb) < len(t[b]):  # a run that never reached the target
                return (len(fb) == len(t[b])) - (len(fa) == len(t[a]))
            (ma, sa), (mb, sb) = mean_std(fa), mean_std(fb)
            margin = max(sa, sb)
            return 1 if ma - mb > margin else -1 if mb - ma > margin else 0

        vs = {other: slower("32", other) for other in ("1", "full")}
        shown = {b: (f"{mean_std(finite(v))[0]:.2f} s" if len(finite(v)) == len(v) else "never") for b, v in t.items()}
        key = "time to val loss {}: {}".format(TARGET, ", ".join(f"batch {b} {shown[b]}" for b in BATCHES))
        if wrong:
            return Verdict(CONTRADICTED, key, f"steps per epoch differ from ceil(N/B) for batch {', '.join(wrong)}")
        if all(v == -1 for v in vs.values()):
            return Verdict(SUPPORTED, key, "one sample, some, all: steps per epoch are ceil(N/B), and the mini-batch "
                                           "reaches the target first")
        if any(v == 1 for v in vs.values()):
            return Verdict(CONTRADICTED, key, "the mini-batch is slower to the target than SGD or batch GD")
        return Verdict(INCONCLUSIVE, key, "the mini-batch's lead is within seed noise")
