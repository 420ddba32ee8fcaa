"""Claim `group-norm`: group norm does not depend on the batch size, unlike batch norm."""

from __future__ import annotations

import matplotlib.pyplot as plt

from dlbasic.studies.base import CONTRADICTED, INCONCLUSIVE, SUPPORTED, Measurements, Study, Verdict, mean_std
from dlbasic.studies.registry import register_study

BATCH_SIZES = (2, 8, 32, 128)
EPOCHS, SUBSET, GROUPS = 4, 600, 8
BASE_LR = 0.02  # SGD momentum 0.9 at batch 32; scaled linearly with the batch size (Goyal et al. 2017)
NORMS = {"batch": "batch norm", "group": f"group norm ({GROUPS} groups)"}


def drop(acc: dict[str, list[float]]) -> float:
    """Mean accuracy at the best batch size minus mean accuracy at the smallest."""
    means = {int(k): mean_std(v)[0] for k, v in acc.items()}
    return max(means.values()) - means[min(means)]


@register_study
class GroupNorm(Study):
    id = "group-norm"
    section = "Regularization"
    claim = "Group norm does not depend on batch size, unlike batch norm."
    note = (
        "Batch Normalization: 원하는 레이어의 모든 파라미터의 통계치를 정규화. 평균을 빼고, 표준편차를 나눔. "
        "> [논문](https://arxiv.org/abs/1803.08494)"
    )
    literature = (
        "Wu & He (https://arxiv.org/abs/1803.08494), figure 1: ResNet-50 on ImageNet, batch norm's error "
        "rises steeply below 16 images per GPU while group norm's stays flat from 32 down to 2. Batch "
        "norm's statistics come from the batch (and its running averages from noisy small batches); group "
        "norm's come from each sample alone."
    )
    method = (
        f"tiny_cnn (16 and 32 channels) with batch norm or group norm ({GROUPS} groups) after each convolution, "
        f"trained on {SUBSET} of the 8x8 digits for {EPOCHS} epochs with SGD (momentum 0.9, lr {BASE_LR} x "
        f"batch / 32) at batch sizes {BATCH_SIZES}, for each seed; test accuracy in evaluation mode (batch "
        "norm uses its running statistics)."
    )
    rule = (
        "drop = mean test accuracy at the best batch size - at batch size 2, for each norm. Supported if batch "
        "norm's drop exceeds group norm's by more than the largest seed std at batch size 2; contradicted if "
        "group norm's drop exceeds batch norm's by that margin; inconclusive otherwise."
    )

    def measure(self, ctx) -> Measurements:
        acc = {n: {str(b): [] for b in BATCH_SIZES} for n in NORMS}
        for norm in NORMS:
            for b in BATCH_SIZES:
                for seed in ctx.seeds:
                    cfg = ctx.config(
                        model="tiny_cnn",
                        data="digits",
                        norm=norm,
                        model_options={"groups": GROUPS},
                        optimizer="sgd",
                        momentum=0.9,
                        lr=BASE_LR * b / 32,
                        batch_size=b,
                        seed=seed,
                        epochs=ctx.profile.epochs(EPOCHS),
                        train_subset=ctx.profile.size(SUBSET),
                    )
                    acc[norm][str(b)].append(ctx.train(cfg)["test_accuracy"])
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for norm, label in NORMS.items():
            stats = [mean_std(acc[norm][str(b)]) for b in BATCH_SIZES]
            ax.errorbar(
                BATCH_SIZES, [m for m, _ in stats], yerr=[s for _, s in stats], marker="o", capsize=3, label=label
            )
        ax.set_xscale("log", base=2)
        ax.set_xticks(BATCH_SIZES, [str(b) for b in BATCH_SIZES])
        ax.set_xlabel("batch size")
        ax.set_ylabel("test accuracy")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        return Measurements(
            {"test_accuracy": acc},
            [("Test accuracy against batch size for batch norm and group norm (mean ± std over seeds)", fig)],
            list(ctx.seeds),
        )

    def judge(self, m) -> Verdict:
        acc = m["test_accuracy"]
        smallest = str(min(int(k) for k in acc["batch"]))
        d_bn, d_gn = drop(acc["batch"]), drop(acc["group"])
        margin = max(mean_std(acc[n][smallest])[1] for n in ("batch", "group"))
        key = f"accuracy lost at batch {smallest}: batch norm {d_bn:.3f}, group norm {d_gn:.3f} (seed std {margin:.3f})"
        if d_bn - d_gn > margin:
            return Verdict(SUPPORTED, key, "batch norm loses more accuracy at small batches than group norm")
        if d_gn - d_bn > margin:
            return Verdict(CONTRADICTED, key, "group norm loses more accuracy at small batches than batch norm")
        return Verdict(INCONCLUSIVE, key, "both lose about the same at small batches")
