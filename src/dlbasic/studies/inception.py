"""Claim `inception`: Inception blocks with 1x1 reductions cut GoogLeNet's parameter count.

GoogLeNet (Szegedy et al. 2014, https://arxiv.org/abs/1409.4842, Table 1 and Figure 2) puts a 1x1
"reduce" convolution before each 3x3 and 5x5 branch. The comparison network is the same GoogLeNet
with those two reductions removed: the 3x3 and 5x5 convolutions read the module's input directly
and keep their output widths, so every module still emits the same channels (the pool projection
stays: without it the channel count would grow from module to module, the paper's "naive" version,
which is not the same network). The zoo has no switch for this, so the study builds the paper's
network and swaps the two branches of every module for single convolutions, then counts both with
`summarize` on the meta device (parameters and multiply-accumulates at 224x224). The counts are exact
(a structural claim, CLAIMS.md v0.3): checked, never put through a t-test; the MACs are reported beside.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import nn

from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Study, Verdict
from dlbasic.lab.verdicts import check, verdict
from dlbasic.models import create_model
from dlbasic.models._layers import conv_norm_act
from dlbasic.models.googlenet import Inception
from dlbasic.nn.summary import summarize


def without_reductions(model: nn.Module) -> nn.Module:
    """Replace (1x1 reduce -> 3x3) and (1x1 reduce -> 5x5) in every Inception module by the bare 3x3 and 5x5.

    New layers go to the current default device (call it under `torch.device("meta")` to count only).
    """
    for block in model.modules():
        if isinstance(block, Inception):
            c_in = block.branch1[0].in_channels
            for name in ("branch3", "branch5"):
                conv = getattr(block, name)[1][0]  # the 3x3 / 5x5 conv after the reduction
                k = conv.kernel_size[0]
                setattr(block, name, conv_norm_act(c_in, conv.out_channels, k, 1, k // 2, norm="none", act="relu"))
    return model


def per_module(model: nn.Module) -> dict[str, int]:
    """Parameters of each Inception module."""
    return {
        name.removeprefix("blocks.inception"): sum(p.numel() for p in m.parameters())
        for name, m in model.named_modules()
        if isinstance(m, Inception)
    }


@register_study
class InceptionStudy(Study):
    """Claim `inception`: Inception blocks with 1x1 reductions cut the parameter count."""

    id = "inception"
    section = "GoogLeNet"
    claim = "Inception blocks with 1x1 reductions cut the parameter count."
    note = (
        "network in network (NiN)와 inception block을 함께 활용. 1x1 convolution이 중간에 추가로 들어감. "
        "전체적인 파라미터 수를 줄임. 1x1 convolution을 사용하는 이유 - 파라미터 수를 줄이기 위해."
    )
    method = (
        "Build the paper's GoogLeNet (Table 1 widths, 224x224 RGB input, 1000 classes, no auxiliary heads) "
        "and the same network with the 1x1 reductions of the 3x3 and 5x5 branches removed (same output "
        "widths per branch, so the same channels flow between modules); count parameters and "
        "multiply-accumulates of both with dlbasic.nn.summarize on the meta device, in total and per module."
    )
    rule = (
        "Structural, two exact checks (no t-test): the network with reductions has fewer parameters in total, "
        "and in every Inception module, than the one without. Checked when both hold; failed otherwise. "
        "The MACs are reported, not judged."
    )
    form = "structural"
    cost = 1.0  # seconds of the whole-study run (one thread, quick profile)

    def measure(self, ctx) -> Measurements:
        """Run the experiment `method` describes; returns its numbers and figures."""
        with torch.device("meta"):
            ours = create_model("googlenet", num_classes=1000, in_channels=3, input_size=224)
            bare = without_reductions(create_model("googlenet", num_classes=1000, in_channels=3, input_size=224))
        s_ours, s_bare = summarize(ours, 224, 3), summarize(bare, 224, 3)
        mod_ours, mod_bare = per_module(ours), per_module(bare)
        numbers = {
            "params_with": s_ours.params,
            "params_without": s_bare.params,
            "macs_with": s_ours.macs,
            "macs_without": s_bare.macs,
            "modules_with": mod_ours,
            "modules_without": mod_bare,
        }
        fig, ax = plt.subplots(figsize=(6.5, 3.5))
        names = list(mod_ours)
        x = range(len(names))
        ax.bar([i - 0.2 for i in x], [mod_bare[n] / 1e6 for n in names], 0.4, label="without 1x1 reductions")
        ax.bar([i + 0.2 for i in x], [mod_ours[n] / 1e6 for n in names], 0.4, label="with 1x1 reductions (paper)")
        ax.set_xticks(list(x), [f"inception {n}" for n in names], rotation=45, fontsize=8)
        ax.set_ylabel("parameters (millions)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
        fig.tight_layout()
        return Measurements(
            numbers, [("Parameters of each Inception module of GoogLeNet, with and without the 1x1 reductions", fig)]
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`: two exact checks of the parameter counts."""
        modules = m["modules_with"]
        checks = [
            check(
                f"GoogLeNet has fewer parameters with the 1x1 reductions ({m['params_with']:,}) than without "
                f"({m['params_without']:,})",
                m["params_with"] < m["params_without"],
            ),
            check(
                f"each of the {len(modules)} Inception modules has fewer parameters with its reductions",
                bool(modules) and all(modules[k] < m["modules_without"][k] for k in modules),
            ),
        ]
        key = (
            f"{m['params_without'] / 1e6:.1f} M -> {m['params_with'] / 1e6:.1f} M parameters "
            f"({m['params_with'] / m['params_without']:.2f}x), {m['macs_without'] / 1e9:.2f} -> "
            f"{m['macs_with'] / 1e9:.2f} GMACs"
        )
        return verdict([], key, checks=checks)
