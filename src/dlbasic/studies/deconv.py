"""Claim `deconv`: transposed convolution is not a true inverse of convolution, but it restores the size.

Dumoulin & Visin 2016 (arXiv 1603.07285, chapter 4): a convolution is a matrix C acting on the flattened
input; the transposed convolution with the same kernel multiplies by C^T (it is the convolution's
gradient), and with output_padding it gives back the input's size. A strided convolution maps n^2 inputs
to fewer outputs, so rank C < n^2 and no linear layer can invert it. All three are exact (a structural
claim, CLAIMS.md v0.3) and are checked, never put through a t-test; how far C^T C x is from x (and the
best linear inverse pinv(C) C x) is measured and reported, not judged. The matrices are built for 12x12
inputs so that C (at most 144 x 144) is small enough to build and rank exactly in float64.
"""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from dlbasic.data import load
from dlbasic.lab.registry import register_study
from dlbasic.lab.study import Measurements, Study, Verdict
from dlbasic.lab.verdicts import check, verdict
from dlbasic.nn.conv import conv_output_size

SIDE = 12  # input side of the reconstruction experiment (1 channel: 144-dimensional inputs)
LAYERS = ((3, 1, 1), (3, 2, 1), (4, 2, 1), (2, 2, 0), (5, 3, 2))  # (kernel, stride, padding)


def conv_matrix(k: int, s: int, p: int, n: int, weight: torch.Tensor) -> torch.Tensor:
    """The convolution as a matrix Tensor[m*m, n*n] (float64), column j = conv of the j-th basis image."""
    basis = torch.eye(n * n, dtype=torch.float64).view(n * n, 1, n, n)
    return F.conv2d(basis, weight, stride=s, padding=p).flatten(1).T


@register_study
class Deconvolution(Study):
    """Claim `deconv`: Transposed convolution is not a true inverse but restores the size."""

    id = "deconv"
    section = "Deconvolution"
    claim = "Transposed convolution is not a true inverse but restores the size."
    note = (
        "Deconvolution (conv. transpose): convolution의 역연산으로 생각하면 편함. 실제로는 역연산은 불가능. "
        "padding을 주어 원하는 크기의 출력을 얻음."
    )
    literature = (
        "Dumoulin & Visin 2016 (arXiv 1603.07285), chapter 4: a transposed convolution multiplies by the "
        "transpose C^T of the convolution's matrix C (it is the convolution's gradient), not by C^-1; "
        "the output size is set by kernel, stride, padding and output_padding. 'Deconvolution' in the "
        "signal-processing sense is the inverse, which this layer is not."
    )
    method = (
        f"(1) Shapes: for every input side n = 4..40 and (kernel, stride, padding) with k = 1..5, s = 1..3, "
        f"p < k, conv2d then conv_transpose2d with the same k, s, p and output_padding = (n + 2p - k) mod s; "
        f"count outputs of side n. (2) Inverse: for 1-channel {SIDE}x{SIDE} inputs and layers (k, s, p) in "
        f"{LAYERS} with random Gaussian kernels, build the convolution matrix C, report its rank against "
        f"the input dimension, the relative error of x -> C^T C x (the transposed convolution with the same "
        f"kernel, best scalar rescaling) and of the best linear inverse pinv(C) C x on random inputs, and "
        f"compare conv_transpose2d(conv2d(x)) with C^T C x. Fixed data: random inputs, since the identities "
        f"hold for every input; the one digit in the figure is MNIST's whatever --data says."
    )
    rule = (
        "Structural, three exact checks (no t-test): every shape is restored; conv_transpose2d with the same "
        "kernel equals multiplying by C^T (float64, within 1e-10); every strided layer has rank C below the "
        "input dimension (no linear map can invert it). Checked when all hold; failed otherwise. The "
        "reconstruction errors of C^T C x and pinv(C) C x are reported, not judged."
    )
    form = "structural"
    cost = 2.0  # seconds of the whole-study run (one thread, quick profile)

    def measure(self, ctx) -> Measurements:
        """Run the experiment `method` describes; returns its numbers and figures."""
        cases = restored = 0
        for n, k, s in itertools.product(range(4, 41), range(1, 6), range(1, 4)):
            for p in range(k):
                m = conv_output_size(n, k, s, p)
                if m < 1:
                    continue
                x = torch.zeros(1, 1, n, n)
                y = F.conv2d(x, torch.zeros(1, 1, k, k), stride=s, padding=p)
                z = F.conv_transpose2d(
                    y, torch.zeros(1, 1, k, k), stride=s, padding=p, output_padding=(n + 2 * p - k) % s
                )
                cases += 1
                restored += z.shape[-1] == n and z.shape[-2] == n
        g = torch.Generator().manual_seed(ctx.seeds[0])
        layers, examples = {}, []
        x = torch.rand(64, 1, SIDE, SIDE, dtype=torch.float64, generator=g)
        for k, s, p in LAYERS:
            w = torch.randn(1, 1, k, k, dtype=torch.float64, generator=g)
            c = conv_matrix(k, s, p, SIDE, w)  # (m*m, n*n)
            flat = x.flatten(1).T  # (n*n, B)
            back = c.T @ (c @ flat)  # (n*n, B): C^T C x
            pad = (SIDE + 2 * p - k) % s
            layer = F.conv_transpose2d(F.conv2d(x, w, stride=s, padding=p), w, stride=s, padding=p, output_padding=pad)
            scale = (back * flat).sum() / (back * back).sum()  # the best rescaling of C^T C x
            adjoint_err = ((scale * back - flat).norm() / flat.norm()).item()
            pinv_err = ((torch.linalg.pinv(c) @ (c @ flat) - flat).norm() / flat.norm()).item()
            layers[f"k{k} s{s} p{p}"] = {
                "stride": s,
                "output_side": conv_output_size(SIDE, k, s, p),
                "rank": int(torch.linalg.matrix_rank(c)),
                "dimension": SIDE * SIDE,
                "transpose_error": adjoint_err,
                "pinv_error": pinv_err,
                "transpose_vs_matrix": (layer.flatten(1).T - back).abs().max().item(),
            }
            if s == 2 and not examples:  # shown on a real digit, shrunk to 12x12
                digit = load("mnist5k", "test", ctx.seeds[0]).images[:1].double()
                digit = F.interpolate(digit, size=(SIDE, SIDE), mode="bilinear", antialias=True, align_corners=False)
                y = F.conv2d(digit, w, stride=s, padding=p)
                z = F.conv_transpose2d(y, w, stride=s, padding=p, output_padding=(SIDE + 2 * p - k) % s)
                z = z * (z * digit).sum() / (z * z).sum()
                examples = [digit[0, 0], y[0, 0], z[0, 0]]
        fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
        titles = ("input 12x12", "conv k3 s2 p1: 6x6", "transposed conv (same kernel): 12x12")
        for ax, img, title in zip(axes, examples, titles):
            ax.imshow(img, cmap="gray")
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        names = list(layers)
        pos = torch.arange(len(names)).tolist()
        axes[3].bar(
            [i - 0.2 for i in pos],
            [layers[n]["transpose_error"] for n in names],
            width=0.4,
            label="same-kernel transpose",
        )
        axes[3].bar(
            [i + 0.2 for i in pos], [layers[n]["pinv_error"] for n in names], width=0.4, label="best linear inverse"
        )
        axes[3].set_xticks(range(len(names)), names, rotation=45, fontsize=7)
        axes[3].set_ylabel("relative reconstruction error")
        axes[3].legend(fontsize=7)
        fig.tight_layout()
        numbers = {"shape_cases": cases, "shapes_restored": restored, "layers": layers}
        return Measurements(
            numbers, [("Size comes back, content does not: conv then transposed conv", fig)], [ctx.seeds[0]]
        )

    def judge(self, m) -> Verdict:
        """The verdict by `rule`: three exact checks; the reconstruction errors go in the key number."""
        layers = m["layers"]
        strided = {name: v for name, v in layers.items() if v["stride"] > 1}
        ranks = ", ".join(f"{name} {v['rank']}/{v['dimension']}" for name, v in strided.items())
        gap = max((v["transpose_vs_matrix"] for v in layers.values()), default=float("nan"))
        checks = [
            check(
                f"conv then transposed conv restores the input side in {m['shapes_restored']} of "
                f"{m['shape_cases']} cases",
                m["shape_cases"] > 0 and m["shapes_restored"] == m["shape_cases"],
            ),
            check(f"the transposed convolution multiplies by C^T (largest difference {gap:.1e})", gap <= 1e-10),
            check(
                f"every strided convolution loses rank: {ranks}",
                bool(strided) and all(v["rank"] < v["dimension"] for v in strided.values()),
            ),
        ]
        errors = ", ".join(f"{name} {v['transpose_error']:.2f}" for name, v in layers.items())
        key = (
            f"{m['shapes_restored']}/{m['shape_cases']} shapes restored; relative error of C^T C x (rescaled) "
            f"{errors}; strided ranks {ranks}"
        )
        return verdict([], key, checks=checks)
