"""Claim `densenet`: concatenation grows the channels; transition blocks (BN, 1x1 conv, 2x2 avg pool) shrink them.

Huang et al. 2017 (https://arxiv.org/abs/1608.06993): inside a dense block layer l sees
k0 + (l - 1) k channels (growth rate k); a transition keeps floor(theta m) of its m input channels
(compression theta = 0.5 in DenseNet-BC) and halves the resolution. The study records the channels
entering every dense layer and leaving every transition of DenseNet-121 with forward hooks (on the
meta device), checks them against the closed forms, and counts the parameters of the same network
with theta = 0.5 and theta = 1 (no compression) through the zoo's `compression` argument. Every count
is exact (a structural claim, CLAIMS.md v0.3): checked, never put through a t-test.
"""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import torch

from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Study, Verdict
from dlbasic.lab.verdicts import check, verdict
from dlbasic.models import create_model
from dlbasic.models.densenet import DenseLayer, Transition

GROWTH, STEM, BLOCKS = 32, 64, (6, 12, 24, 16)  # DenseNet-121


def channel_trace(compression: float) -> tuple[list[tuple[str, int]], int]:
    """[(kind, channels)] in call order for DenseNet-121 at 224 (dense-layer inputs, transition outputs), params."""
    with torch.device("meta"):
        model = create_model("densenet121", num_classes=1000, in_channels=3, input_size=224, compression=compression)
        trace: list[tuple[str, int]] = []

        def hook(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if isinstance(module, DenseLayer):
                trace.append(("layer", inputs[0].shape[1]))  # (B, k0 + (l - 1) k, H, W)
            else:
                trace.append(("transition", output.shape[1]))  # (B, floor(theta m), H / 2, W / 2)

        for m in model.modules():
            if isinstance(m, (DenseLayer, Transition)):
                m.register_forward_hook(hook)
        with torch.no_grad():
            model(torch.zeros(1, 3, 224, 224))
    return trace, sum(p.numel() for p in model.parameters())


def expected_trace(compression: float) -> list[tuple[str, int]]:
    """The closed form: k0 + (l - 1) k inside a block, floor(theta m) after a transition."""
    out, c = [], STEM
    for i, n in enumerate(BLOCKS):
        out += [("layer", c + j * GROWTH) for j in range(n)]
        c += n * GROWTH
        if i < len(BLOCKS) - 1:
            c = int(c * compression)
            out.append(("transition", c))
    return out


@register_study
class DenseNetStudy(Study):
    """Claim `densenet`: Concatenation grows channels; transition blocks (BN, 1x1 conv, 2x2 avg pool) shrink them."""

    id = "densenet"
    section = "DenseNet"
    claim = "Concatenation grows channels; transition blocks (BN, 1x1 conv, 2x2 avg pool) shrink them."
    note = (
        "addition 대신 concatenation (그냥 이어 붙임). 채널이 점점 커짐. - 중간중간 채널 수를 줄여줌. "
        "Transition Block: 채널 수를 줄임. BatchNorm → 1x1 conv. → 2x2 AvgPooling."
    )
    method = (
        "Run DenseNet-121 (growth 32, blocks 6/12/24/16, 224x224 input) on the meta device with forward hooks "
        "recording the channels entering each dense layer and leaving each transition; compare with "
        "k0 + (l - 1) k and floor(theta m); repeat with compression theta = 1 (transitions keep every "
        "channel) and count the parameters of both."
    )
    rule = (
        "Structural, exact checks (no t-test): the measured channels equal the closed form at theta = 0.5 "
        "and 1, grow by exactly the growth rate per layer inside every block, every compressing transition "
        "shrinks its input, and the compressed network has fewer parameters than the uncompressed one. "
        "Checked when all hold; failed otherwise."
    )
    form = "structural"
    cost = 2.0  # seconds of the whole-study run (one thread, quick profile)

    def measure(self, ctx) -> Measurements:
        """Run the experiment `method` describes; returns its numbers and figures."""
        trace, params = channel_trace(0.5)
        trace_full, params_full = channel_trace(1.0)
        numbers = {
            "growth": GROWTH,
            "trace": [list(t) for t in trace],
            "trace_no_compression": [list(t) for t in trace_full],
            "matches_formula": trace == expected_trace(0.5) and trace_full == expected_trace(1.0),
            "params": params,
            "params_no_compression": params_full,
        }
        fig, ax = plt.subplots(figsize=(6.5, 3.5))
        for t, label in (
            (trace_full, "transition keeps all channels (theta = 1)"),
            (trace, "transition halves the channels (theta = 0.5, DenseNet-121)"),
        ):
            ax.step(range(len(t)), [c for _, c in t], where="post", label=label)
        for i, (kind, _) in enumerate(trace):
            if kind == "transition":
                ax.axvline(i, color="grey", ls=":", lw=0.8)
        ax.set_xlabel("dense layer / transition, in order (dotted: transitions)")
        ax.set_ylabel("channels")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        return Measurements(
            numbers, [("Channels through DenseNet-121: concatenation adds 32 per layer, transitions cut them", fig)]
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`: exact checks of the channel trace and the parameter counts."""
        trace, k = m["trace"], m["growth"]
        # the input of a transition is the last layer's input plus its k new maps
        transitions = [(trace[i - 1][1] + k, t[1]) for i, t in enumerate(trace) if t[0] == "transition" and i > 0]
        checks = [
            check(
                "channels equal k0 + (l - 1) k in the blocks and floor(theta m) after transitions", m["matches_formula"]
            ),
            check(
                f"each dense layer adds exactly k = {k} channels",
                all(b[1] - a[1] == k for a, b in itertools.pairwise(trace) if a[0] == b[0] == "layer"),
            ),
            check(
                "each transition shrinks its input: " + ", ".join(f"{a} -> {b}" for a, b in transitions),
                bool(transitions) and all(b < a for a, b in transitions),
            ),
            check(
                f"compression 0.5 has fewer parameters ({m['params']:,}) than none ({m['params_no_compression']:,})",
                m["params"] < m["params_no_compression"],
            ),
        ]
        last = trace[-1][1] + k if trace else 0
        key = (
            f"+{k} channels per layer, final {last} channels; parameters {m['params_no_compression'] / 1e6:.2f} M "
            f"-> {m['params'] / 1e6:.2f} M with compression 0.5"
        )
        return verdict([], key, checks=checks)
