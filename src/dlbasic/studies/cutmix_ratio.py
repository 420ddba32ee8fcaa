"""Claim `cutmix-ratio`: CutMix's label weight is the area actually pasted, the image's own ratio.

A structural claim, checked exactly rather than tested (no decision rule, no seeds to pair): Yun et al., "CutMix"
(ICCV 2019), eq. (1)-(2) and the pseudo-code of their appendix, draw lambda ~ Beta(alpha, alpha), cut a box
of sides sqrt(1 - lambda) W and sqrt(1 - lambda) H at a uniform centre, clip it to the image, and then set
lambda to 1 - (box area) / (W H), the fraction of the image's own pixels that remain. The study runs the
library's CutMix on images whose pixels name their own sample and checks that the label weight equals the
kept pixel fraction to rounding, clipped boxes included. It trains nothing, so `--data` does not apply: the
images are synthetic, one constant per sample, so the kept fraction can be counted pixel by pixel.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Study, Verdict
from dlbasic.lab.verdicts import check, verdict
from dlbasic.regularization.mixing import Mix, box_lambda, rand_box, sample_beta

SHAPES = ((28, 28), (32, 32), (24, 40), (17, 9))  # (H, W): square, and non-square with odd sides
BATCHES, BATCH = 40, 64  # per shape and seed
TOLERANCE = 1e-12  # float64: the weight is a ratio of integers, so it must match to rounding
MIN_CLIPPED = 100  # boxes clipped at the border that the check needs to have seen


def pasted_fraction(
    batch: int, height: int, width: int, mix: Mix, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run `mix` on images whose pixels name their own sample; return (label weight of the own class,
    fraction of the image's pixels still its own, whether the box touches the border), each Tensor[B]."""
    own = torch.arange(batch, dtype=torch.float64).view(-1, 1, 1, 1).expand(batch, 1, height, width)
    labels = torch.arange(batch)  # one class per sample, so the soft target shows each weight separately
    params = mix.sample(batch, height, width, generator)
    x, target = mix.apply(own.clone(), labels, params)  # (B, 1, H, W), (B, B)
    kept = (x == own).double().mean(dim=(1, 2, 3))  # pixels not replaced by the partner's
    b = params.boxes
    border = (b[:, 0] == 0) | (b[:, 1] == 0) | (b[:, 2] == width) | (b[:, 3] == height)
    return target.diagonal(), kept, border & params.cutmix


@register_study
class CutMixRatio(Study):
    """Claim `cutmix-ratio`: CutMix uses the image's own area ratio: a random box is cut and pasted, and the label
    weight is the pasted area.
    """

    id = "cutmix-ratio"
    section = "Peer session"
    form = "structural"
    claim = (
        "CutMix uses the image's own area ratio: a random box is cut and pasted, and the label weight is "
        "the pasted area."
    )
    note = "CutMix의 비율 지정 방법 : 이미지 자체의 비율 사용. 랜덤하게 잘라 붙임."
    method = (
        f"The library's CutMix batch transform (per-sample lambda ~ Beta(1, 1)) mixes {BATCHES} batches of "
        f"{BATCH} images per seed for each image shape (H, W) in {SHAPES}. Each image is filled with its own "
        "index and has its own class, so after mixing the fraction of a sample's pixels that are still its "
        "own and the weight of its own class in the soft target can be read off and compared. Boxes that "
        "reach the border are counted (their nominal area sqrt(1 - lambda)^2 H W is clipped). As a "
        "contrast, the Beta draw itself (before correction) is compared with the pasted area. Nothing is "
        "trained, so the lab's --data does not apply: the images are synthetic, one constant per sample."
    )
    rule = (
        "Structural, exact checks (no t-test): over every mixed sample, |label weight - kept pixel fraction| <= "
        f"{TOLERANCE:g} (float64 rounding of a ratio of integers), and at least {MIN_CLIPPED} of the samples "
        "have boxes clipped at the border, so the clipped case was exercised. Checked when both hold, failed "
        "otherwise."
    )

    def measure(self, ctx) -> Measurements:
        """Run the experiment `method` describes; returns its numbers and figures."""
        mix = Mix(cutmix_alpha=1.0, per_sample=True, num_classes=BATCH)
        worst, samples, clipped, exact_clipped = 0.0, 0, 0, 0
        drawn_all, area_all = [], []
        for seed in ctx.seeds:
            g = torch.Generator().manual_seed(seed)
            for h, w in SHAPES:
                for _ in range(BATCHES):
                    weight, kept, border = pasted_fraction(BATCH, h, w, mix, g)
                    err = (weight - kept).abs()
                    worst = max(worst, float(err.max()))
                    samples += BATCH
                    clipped += int(border.sum())
                    exact_clipped += int((err[border] <= TOLERANCE).sum())
                # the uncorrected draw: lambda from Beta(1, 1) against the area rand_box really pastes
                lam = sample_beta(1.0, 500, g)
                boxes = rand_box(h, w, lam, g)
                drawn_all.append(lam)
                area_all.append(box_lambda(boxes, h, w))
        drawn, area = torch.cat(drawn_all), torch.cat(area_all)
        naive = (drawn - area).abs()
        fig = self._figure(drawn, area)
        return Measurements(
            {
                "samples": samples,
                "clipped_samples": clipped,
                "clipped_exact": exact_clipped,
                "max_abs_error": worst,
                "uncorrected_mean_abs_error": float(naive.mean()),
                "uncorrected_max_abs_error": float(naive.max()),
            },
            [
                (
                    "Drawn lambda against the image's own pixels actually kept: clipping at the border moves points "
                    "above the diagonal; the corrected label weight is the kept fraction itself",
                    fig,
                )
            ],
            list(ctx.seeds),
        )

    @staticmethod
    def _figure(drawn: torch.Tensor, area: torch.Tensor):
        fig, ax = plt.subplots(figsize=(5, 4.5))
        ax.scatter(drawn.numpy(), area.numpy(), s=4, alpha=0.4, label="box from rand_box (clipped)")
        ax.plot([0, 1], [0, 1], color="black", lw=1, label="kept fraction = drawn lambda")
        ax.set_xlabel("drawn lambda ~ Beta(1, 1)")
        ax.set_ylabel("fraction of own pixels kept = label weight")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        return fig

    def judge(self, m) -> Verdict:
        """The verdict by `rule`: the exact checks, computed from the numbers `measure` returned."""
        key = (
            f"max |weight - kept fraction| = {m['max_abs_error']:.1e} over {m['samples']} samples "
            f"({m['clipped_samples']} clipped); uncorrected lambda off by {m['uncorrected_mean_abs_error']:.3f}"
            " on average"
        )
        checks = [
            check(
                f"label weight = kept pixel fraction within {TOLERANCE:g} on all {m['samples']} samples",
                m["max_abs_error"] <= TOLERANCE,
            ),
            check(
                f"at least {MIN_CLIPPED} boxes clipped at the border ({m['clipped_samples']})",
                m["clipped_samples"] >= MIN_CLIPPED,
            ),
        ]
        return verdict(
            [],
            key,
            {"checked": "every label weight equals the fraction of the image's own pixels kept, clipped boxes too"},
            checks,
        )
