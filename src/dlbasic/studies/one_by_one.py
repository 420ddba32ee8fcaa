"""Claim `one-by-one`: a 1x1 convolution cuts the channels, and so the parameters, while adding depth.

The lecture's example (the GoogLeNet idea, Szegedy et al. 2014, https://arxiv.org/abs/1409.4842,
and Lin et al.'s Network in Network, https://arxiv.org/abs/1312.4400): a 3x3 convolution from
C = 128 to O = 128 channels has 9 C O = 147,456 weights; squeezing to r = 32 channels first costs
C r + 9 r O = 40,960. In general the reduction pays off only while C r + 9 r O < 9 C O, i.e. for
r < r* = 9 C O / (C + 9 O); the study counts real `nn.Conv2d` weights and checks that bound too.
Every count is exact (a structural claim, CLAIMS.md v0.3): checked, never put through a t-test.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
from torch import nn

from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Study, Verdict
from dlbasic.lab.verdicts import check, verdict
from dlbasic.models.googlenet import INCEPTION

EXAMPLE = (128, 32, 128)  # input channels C, 1x1 reduction r, output channels O of the lecture's example


def count(*layers: nn.Module) -> int:
    """Weights of the given layers (biases off: the claim is about the kernels)."""
    return sum(p.numel() for m in layers for p in m.parameters())


def direct(c: int, o: int, k: int) -> int:
    """Parameters of one k x k convolution from c to o channels."""
    return count(nn.Conv2d(c, o, k, bias=False, device="meta"))


def reduced(c: int, r: int, o: int, k: int) -> int:
    """Parameters of a 1x1 convolution to r channels followed by the k x k convolution to o."""
    return count(nn.Conv2d(c, r, 1, bias=False, device="meta"), nn.Conv2d(r, o, k, bias=False, device="meta"))


def googlenet_branches() -> list[dict]:
    """The 3x3 and 5x5 branches of every Inception module of the paper, with and without their 1x1 reduction."""
    rows, c = [], 192
    for name, (n1, r3, n3, r5, n5, proj) in INCEPTION.items():
        for k, r, o in ((3, r3, n3), (5, r5, n5)):
            rows.append(
                {
                    "module": name,
                    "kernel": k,
                    "in": c,
                    "reduce": r,
                    "out": o,
                    "direct": direct(c, o, k),
                    "reduced": reduced(c, r, o, k),
                }
            )
        c = n1 + n3 + n5 + proj
    return rows


@register_study
class OneByOne(Study):
    """Claim `one-by-one`: 1x1 convolutions cut channels and so parameters while going deeper."""

    id = "one-by-one"
    section = "1x1 convolution"
    claim = "1x1 convolutions cut channels and so parameters while going deeper."
    note = "1x1 convolution: dimension을 줄임. 네트워크를 깊게 쌓으면서 파라미터의 수를 줄임."
    method = (
        "Count the weights of real nn.Conv2d layers: the lecture's 3x3 convolution 128 -> 128 directly and "
        "through a 1x1 reduction to 32 channels; every 3x3 and 5x5 branch of the paper's nine Inception "
        "modules with and without its 1x1 reduction; and the 128 -> 128 case for every reduction width "
        "r = 1..128, against the closed forms 9CO and Cr + 9rO and the break-even width r* = 9CO/(C + 9O)."
    )
    rule = (
        "Structural, exact checks (no t-test): the reduced path is one layer deeper and has fewer parameters "
        "than the direct one in the lecture's example and in every GoogLeNet branch; every count equals its "
        "closed form; and the first width r that is not cheaper is ceil(r*). Checked when all hold; failed "
        "otherwise."
    )
    form = "structural"
    cost = 1.0  # seconds of the whole-study run (one thread, quick profile)

    def measure(self, ctx) -> Measurements:
        """Run the experiment `method` describes; returns its numbers and figures."""
        c, r, o = EXAMPLE
        widths = list(range(1, c + 1))
        sweep = [reduced(c, w, o, 3) for w in widths]
        closed = [c * w + 9 * w * o for w in widths]
        branches = googlenet_branches()
        formula_ok = (
            direct(c, o, 3) == 9 * c * o
            and sweep == closed
            and all(
                b["direct"] == b["kernel"] ** 2 * b["in"] * b["out"]
                and b["reduced"] == b["in"] * b["reduce"] + b["kernel"] ** 2 * b["reduce"] * b["out"]
                for b in branches
            )
        )
        numbers = {
            "example": {
                "in": c,
                "reduce": r,
                "out": o,
                "direct": direct(c, o, 3),
                "reduced": reduced(c, r, o, 3),
                "depth_direct": 1,
                "depth_reduced": 2,
            },
            "break_even_width": 9 * c * o / (c + 9 * o),
            "first_width_not_cheaper": next((w for w, p in zip(widths, sweep) if p >= 9 * c * o), None),
            "googlenet_branches": branches,
            "formula_ok": formula_ok,
        }
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(widths, sweep, label="1x1 to r channels, then 3x3 (2 layers)")
        ax.axhline(9 * c * o, color="C3", ls="--", label="3x3 directly (1 layer)")
        ax.axvline(r, color="grey", ls=":", label=f"lecture's r = {r}")
        ax.set_xlabel(f"reduction width r (input {c}, output {o} channels)")
        ax.set_ylabel("parameters")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig2, ax2 = plt.subplots(figsize=(7, 3.5))
        labels = [f"{b['module']} {b['kernel']}x{b['kernel']}" for b in branches]
        x = range(len(branches))
        ax2.bar([i - 0.2 for i in x], [b["direct"] for b in branches], 0.4, label="without 1x1 reduction")
        ax2.bar([i + 0.2 for i in x], [b["reduced"] for b in branches], 0.4, label="with 1x1 reduction")
        ax2.set_xticks(list(x), labels, rotation=60, fontsize=7)
        ax2.set_ylabel("parameters of the branch")
        ax2.set_yscale("log")
        ax2.legend(fontsize=8)
        fig2.tight_layout()
        return Measurements(
            numbers,
            [
                ("A 1x1 reduction is cheaper than the direct 3x3 only while r stays below the break-even width", fig),
                ("GoogLeNet's 3x3 and 5x5 branches with and without their 1x1 reductions (log scale)", fig2),
            ],
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`: exact checks of the counts."""
        ex, branches = m["example"], m["googlenet_branches"]
        r_star = m["break_even_width"]
        checks = [
            check(
                f"lecture's example: {ex['direct']:,} weights directly, {ex['reduced']:,} through the 1x1 "
                "reduction, one layer deeper",
                ex["reduced"] < ex["direct"] and ex["depth_reduced"] == ex["depth_direct"] + 1,
            ),
            check(
                f"all {len(branches)} GoogLeNet 3x3 and 5x5 branches have fewer weights with their 1x1 reduction",
                bool(branches) and all(b["reduced"] < b["direct"] for b in branches),
            ),
            check("every count equals its closed form (9CO, Cr + 9rO, k^2 CO, Cr + k^2 rO)", m["formula_ok"]),
            check(
                f"the reduction stops paying at r = ceil(r*) = {math.ceil(r_star)} (r* = 9CO / (C + 9O))",
                m["first_width_not_cheaper"] == math.ceil(r_star),
            ),
        ]
        worst = max((b["reduced"] / b["direct"] for b in branches), default=float("nan"))
        key = (
            f"{ex['direct']:,} -> {ex['reduced']:,} parameters ({ex['reduced'] / ex['direct']:.2f}x) in the "
            f"example; worst GoogLeNet branch {worst:.2f}x; break-even r* = {r_star:.1f}"
        )
        return verdict([], key, checks=checks)
