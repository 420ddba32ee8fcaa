"""Claim `conv-shapes`: one kernel per output channel; stride and padding set the output size.

A structural claim (CLAIMS.md v0.3): the output side of a convolution is
floor((n + 2p - d(k - 1) - 1) / s) + 1 (Dumoulin & Visin 2016, arXiv 1603.07285, chapters 2 and 5, with
dilation) and it has one channel per kernel. Both hold by construction, so the study checks them exactly
on a grid of real `F.conv2d` calls; there is nothing to scale down and no t-test.
"""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Study, Verdict
from dlbasic.lab.verdicts import check, verdict
from dlbasic.nn.conv import conv_output_size


@register_study
class ConvShapes(Study):
    """Claim `conv-shapes`: One kernel per output channel; stride and padding set the output size."""

    id = "conv-shapes"
    section = "Convolution"
    claim = "One kernel per output channel; stride and padding set the output size."
    note = (
        "원하는 output의 채널 수만큼 커널 수가 필요. stride: kernel을 적용하는 step. "
        "padding: 원하는 output 크기를 맞추기 위해 input의 가장자리를 채움."
    )
    method = (
        "For every (n, k, s, p, d) on a grid (input side n = 5..32, kernel 1..7, stride 1..3, padding 0..3, "
        "dilation 1..2) with a non-empty output, run F.conv2d with C_out = 1..3 kernels and compare the "
        "output shape with floor((n + 2p - d(k - 1) - 1) / s) + 1 and the channel count with C_out. No "
        "training and no data: shapes do not depend on the values."
    )
    rule = (
        "Structural, two exact checks (no t-test): every output side equals the formula, and every output has "
        "exactly one channel per kernel. Checked when both hold in every case; failed by any mismatch."
    )
    form = "structural"
    cost = 1.0  # seconds of the whole-study run (one thread, quick profile)

    def measure(self, ctx) -> Measurements:
        """Run the experiment `method` describes; returns its numbers and figures."""
        cases = mismatches = channel_mismatches = 0
        for n, k, s, p, d in itertools.product(range(5, 33, 3), (1, 3, 5, 7), (1, 2, 3), (0, 1, 2, 3), (1, 2)):
            expected = conv_output_size(n, k, s, p, d)
            if expected < 1 or p > (k - 1) * d:  # empty outputs; padding wider than the dilated kernel
                continue
            c_out = 1 + cases % 3
            y = F.conv2d(torch.zeros(1, 2, n, n), torch.zeros(c_out, 2, k, k), stride=s, padding=p, dilation=d)
            cases += 1
            mismatches += y.shape[-1] != expected or y.shape[-2] != expected
            channel_mismatches += y.shape[1] != c_out
        fig, ax = plt.subplots(figsize=(6, 3.5))
        sizes = list(range(5, 33))
        for k, s, p in ((3, 1, 0), (3, 1, 1), (3, 2, 1), (5, 1, 2), (7, 2, 3)):
            ax.plot(sizes, [conv_output_size(n, k, s, p) for n in sizes], label=f"k={k}, s={s}, p={p}")
        ax.set_xlabel("input side n")
        ax.set_ylabel("output side")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        return Measurements(
            {"cases": cases, "shape_mismatches": int(mismatches), "channel_mismatches": int(channel_mismatches)},
            [("Output size against input size: stride divides, padding adds", fig)],
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`: two exact checks over every case."""
        n = m["cases"]
        checks = [
            check(
                f"output side = floor((n + 2p - d(k - 1) - 1) / s) + 1 in all {n} cases",
                n > 0 and m["shape_mismatches"] == 0,
            ),
            check(f"one output channel per kernel in all {n} cases", n > 0 and m["channel_mismatches"] == 0),
        ]
        bad = m["shape_mismatches"] + m["channel_mismatches"]
        return verdict([], f"{bad} mismatches in {n} shapes", checks=checks)
