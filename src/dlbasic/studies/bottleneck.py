"""Claim `bottleneck`: a bottleneck block (1x1 down, 3x3, 1x1 up) has fewer parameters than a basic block.

He et al. 2016 (https://arxiv.org/abs/1512.03385, section 4.1 and Figure 5): for a block whose
input and output have W channels, the basic block's two 3x3 convolutions cost 2 * 9 W^2 weights,
the bottleneck's W -> W/4 -> W/4 -> W costs W^2/4 + 9 W^2/16 + W^2/4 = 17 W^2 / 16, about 17x
fewer, for one more layer. The study measures both blocks at the four ResNet stage widths (with
batch norm, as in the zoo) and two whole networks: ResNet-50 and the same 50-layer layout built
from basic blocks at the same output widths, through `summarize` (parameters, MACs). The counts are exact
(a structural claim, CLAIMS.md v0.3): checked against the closed forms, never put through a t-test.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Study, Verdict
from dlbasic.lab.verdicts import check, verdict
from dlbasic.models.resnet import BasicBlock, Bottleneck, ResNet
from dlbasic.nn.summary import summarize

STAGES = ((256, 56), (512, 28), (1024, 14), (2048, 7))  # (block width W, map side) of ResNet-50 at 224


def closed_forms(width: int, side: int) -> dict[str, int]:
    """He et al.'s counts for one block of width W on a side x side map: basic 2 * 9 W^2 weights, bottleneck
    W r + 9 r^2 + r W with r = W / 4 (= 17 W^2 / 16), plus 2 parameters per batch-norm channel; MACs are the
    weights times the map's pixels (identity shortcut, stride 1)."""
    r = width // Bottleneck.expansion
    basic_w, bottle_w = 18 * width * width, width * r + 9 * r * r + r * width
    return {
        "basic_params": basic_w + 2 * 2 * width,
        "basic_macs": basic_w * side * side,
        "bottleneck_params": bottle_w + 2 * (2 * r) + 2 * width,
        "bottleneck_macs": bottle_w * side * side,
    }


def block_cost(block: torch.nn.Module, width: int, side: int) -> tuple[int, int]:
    """(parameters, MACs) of one block on a W x side x side map, counted by `summarize`."""
    s = summarize(block, side, in_channels=width)
    return s.params, s.macs


@register_study
class BottleneckStudy(Study):
    """Claim `bottleneck`: Bottleneck blocks (1x1 down, 3x3, 1x1 up) cut parameters."""

    id = "bottleneck"
    section = "ResNet"
    claim = "Bottleneck blocks (1x1 down, 3x3, 1x1 up) cut parameters."
    note = (
        "Bottleneck architecture: 파라미터를 줄이기 위해, 3x3 convolution을 적용하기 전에 1x1을 사용하여 채널 수를 "
        "줄임. 3x3 이후에는 원하는 출력 채널을 위해 1x1을 한 번 더 적용."
    )
    method = (
        "At each ResNet-50 stage width W (256, 512, 1024, 2048, on its 224-input map size) build a basic block "
        "(two 3x3, W -> W) and a bottleneck block (1x1 W -> W/4, 3x3, 1x1 -> W), identity shortcut, batch "
        "norm, and count parameters and multiply-accumulates with dlbasic.nn.summarize on the meta device; "
        "then the whole 50-layer network: ResNet-50 against the same stages (3, 4, 6, 3) of basic blocks at "
        "the same output widths (256..2048)."
    )
    rule = (
        "Structural, exact checks (no t-test): at every width the block counts equal the closed forms "
        "(18W^2 and 17W^2/16 convolution weights, plus batch norm), the bottleneck block has fewer parameters "
        "and fewer MACs than the basic block, and the bottleneck ResNet-50 fewer parameters than its "
        "basic-block twin. Checked when all hold; failed otherwise."
    )
    form = "structural"
    cost = 1.0  # seconds of the whole-study run (one thread, quick profile)

    def measure(self, ctx) -> Measurements:
        """Run the experiment `method` describes; returns its numbers and figures."""
        blocks = []
        with torch.device("meta"):
            for width, side in STAGES:
                basic = block_cost(BasicBlock(width, width), width, side)
                bottle = block_cost(Bottleneck(width, width // Bottleneck.expansion), width, side)
                blocks.append(
                    {
                        "width": width,
                        "side": side,
                        "basic_params": basic[0],
                        "basic_macs": basic[1],
                        "bottleneck_params": bottle[0],
                        "bottleneck_macs": bottle[1],
                    }
                )
            widths = (64, 128, 256, 512)
            net_b = summarize(ResNet(Bottleneck, (3, 4, 6, 3), widths=widths), 224)
            net_a = summarize(ResNet(BasicBlock, (3, 4, 6, 3), widths=tuple(4 * w for w in widths)), 224)
        numbers = {
            "blocks": blocks,
            "matches_closed_forms": all(closed_forms(b["width"], b["side"]).items() <= b.items() for b in blocks),
            "network": {
                "bottleneck_params": net_b.params,
                "bottleneck_macs": net_b.macs,
                "basic_params": net_a.params,
                "basic_macs": net_a.macs,
            },
        }
        fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
        x = range(len(blocks))
        for ax, what, unit, scale in (
            (axes[0], "params", "parameters (millions)", 1e6),
            (axes[1], "macs", "multiply-accumulates (G)", 1e9),
        ):
            ax.bar([i - 0.2 for i in x], [b[f"basic_{what}"] / scale for b in blocks], 0.4, label="basic (3x3, 3x3)")
            ax.bar(
                [i + 0.2 for i in x],
                [b[f"bottleneck_{what}"] / scale for b in blocks],
                0.4,
                label="bottleneck (1x1, 3x3, 1x1)",
            )
            ax.set_xticks(list(x), [f"W={b['width']}\n{b['side']}x{b['side']}" for b in blocks], fontsize=8)
            ax.set_ylabel(unit)
            ax.set_yscale("log")
            ax.grid(alpha=0.3, axis="y")
        axes[0].legend(fontsize=8)
        fig.suptitle("One block with W channels in and out", fontsize=10)
        fig.tight_layout()
        return Measurements(
            numbers, [("Basic and bottleneck blocks at equal width: parameters and MACs (log scale)", fig)]
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`: exact checks of the counts."""
        blocks, net = m["blocks"], m["network"]
        widths = ", ".join(str(b["width"]) for b in blocks)
        checks = [
            check(f"block counts equal the closed forms at W = {widths}", bool(blocks) and m["matches_closed_forms"]),
            check(
                f"the bottleneck block has fewer parameters and MACs than the basic block at W = {widths}",
                bool(blocks)
                and all(
                    b["bottleneck_params"] < b["basic_params"] and b["bottleneck_macs"] < b["basic_macs"]
                    for b in blocks
                ),
            ),
            check(
                f"ResNet-50 has fewer parameters ({net['bottleneck_params']:,}) than its basic-block twin "
                f"({net['basic_params']:,})",
                net["bottleneck_params"] < net["basic_params"],
            ),
        ]
        ratio = min(b["basic_params"] / b["bottleneck_params"] for b in blocks) if blocks else float("nan")
        key = (
            f"blocks {ratio:.1f}x fewer parameters at equal width; ResNet-50 {net['bottleneck_params'] / 1e6:.1f} M "
            f"vs {net['basic_params'] / 1e6:.1f} M with basic blocks"
        )
        return verdict([], key, checks=checks)
