"""Convolution written out: im2col (unfold) + matrix multiply, and its transpose via col2im (fold).

Chellapilla, Puri & Simard, "High Performance Convolutional Neural Networks for Document Processing"
(2006) lower a convolution to one matrix product; Dumoulin & Visin, "A guide to convolution
arithmetic for deep learning" (https://arxiv.org/abs/1603.07285) give the output-size relations:

    conv:       o = floor((n + 2p - d(k - 1) - 1) / s) + 1
    transposed: o = (n - 1) s - 2p + d(k - 1) + output_padding + 1

These are readable references; autograd differentiates through the window views and fold, so
backward comes free.
`receptive_field` stacks layers with r_out = r_in + (k_eff - 1) j_in and j_out = j_in s, where
k_eff = d(k - 1) + 1 and j is the distance in input pixels between neighbouring outputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from dlbasic.errors import check

IntPair = int | tuple[int, int]
COLUMNS_BYTES = 8 * 2**20  # conv2d lowers at most this much of its column matrix at once


def _pair(v: IntPair) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv_output_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Output side of a convolution or pooling over an input side `n`.

    >>> conv_output_size(224, 11, 4, 2)
    55
    """
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def conv_transpose_output_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1, output_padding: int = 0) -> int:
    """Output side of a transposed convolution over an input side `n`.

    >>> conv_transpose_output_size(7, 4, 2, 1)
    14
    """
    return (n - 1) * s - 2 * p + d * (k - 1) + output_padding + 1


def im2col(x: Tensor, kernel: IntPair, stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1) -> Tensor:
    """Every kernel window of `x` as a column: the same result as `F.unfold`.

    The windows are strided views of the zero-padded input (`Tensor.unfold` slides along one
    dimension); one copy lays them out as columns, ordered (channel, kernel row, kernel column).

    Args:
        x: Tensor[B, C, H, W].

    Returns:
        Tensor[B, C * kh * kw, Ho * Wo].
    """
    B, C, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = _pair(kernel), _pair(stride), _pair(padding), _pair(dilation)
    Ho, Wo = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
    x = F.pad(x, (pw, pw, ph, ph))
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1  # a dilated kernel covers this many pixels
    windows = x.unfold(2, span_h, sh).unfold(3, span_w, sw)  # (B, C, Ho, Wo, span_h, span_w), a view
    windows = windows[..., ::dh, ::dw]  # the kernel's taps: (B, C, Ho, Wo, kh, kw)
    return windows.permute(0, 1, 4, 5, 2, 3).reshape(B, C * kh * kw, Ho * Wo)


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> Tensor:
    """Same as `F.conv2d`, as im2col + batched matmul.

    Args:
        x: Tensor[B, C, H, W].
        weight: Tensor[O, C / groups, kh, kw].
        bias: Tensor[O] or None.

    Returns:
        Tensor[B, O, Ho, Wo] with Ho = conv_output_size(H, kh, sh, ph, dh) (and likewise Wo).
    """
    C, H, W = x.shape[1:]
    O, Cg, kh, kw = weight.shape
    G = groups
    check(Cg * G == C and O % G == 0, f"conv2d: {C} input channels, weight {tuple(weight.shape)}, groups {G}")
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    Ho, Wo = conv_output_size(H, kh, sh, ph, dh), conv_output_size(W, kw, sw, pw, dw)
    w = weight.reshape(G, O // G, Cg * kh * kw)  # (G, O/G, Cg*kh*kw): a row per filter
    # The columns hold each pixel up to kh*kw times; lowering a few samples at a time keeps that
    # buffer under COLUMNS_BYTES, so it is reused rather than freshly mapped from the OS each call
    # (torch's old THNN convolution also lowered one sample at a time).
    per_sample = C * kh * kw * Ho * Wo * x.element_size()
    outs = []
    for xs in x.split(max(1, COLUMNS_BYTES // per_sample)):
        # 1) im2col: every receptive field becomes a column
        cols = im2col(xs, (kh, kw), (sh, sw), (ph, pw), (dh, dw))  # (b, C*kh*kw, L), C ordered before kh, kw
        # 2) one matrix product per group: filters (rows) times columns
        out = w @ cols.view(len(xs), G, Cg * kh * kw, Ho * Wo)  # (b, G, O/G, L)
        outs.append(out.view(len(xs), O, Ho, Wo))
    out = torch.cat(outs) if len(outs) > 1 else outs[0]
    if bias is not None:
        out = out + bias.view(1, O, 1, 1)
    return out


def conv_transpose2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    output_padding: IntPair = 0,
    groups: int = 1,
    dilation: IntPair = 1,
) -> Tensor:
    """Same as `F.conv_transpose2d` (same argument order), as batched matmul + fold (col2im).

    Each input pixel scatters `weight` times its value into a k x k patch of the output; fold sums
    the overlapping patches. That is the adjoint of `conv2d`'s unfold.

    Args:
        x: Tensor[B, C, H, W].
        weight: Tensor[C, O / groups, kh, kw].
        bias: Tensor[O] or None.

    Returns:
        Tensor[B, O, Ho, Wo] with Ho = conv_transpose_output_size(H, kh, sh, ph, dh, oph).
    """
    B, C, H, W = x.shape
    Cw, Og, kh, kw = weight.shape
    G = groups
    check(Cw == C and C % G == 0, f"conv_transpose2d: {C} input channels, weight {tuple(weight.shape)}")
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    oph, opw = _pair(output_padding)
    # 1) one matrix product per group: columns = filters^T times input pixels
    w = weight.reshape(G, C // G, Og * kh * kw).transpose(1, 2)  # (G, Og*kh*kw, C/G)
    cols = w @ x.reshape(B, G, C // G, H * W)  # (B, G, Og*kh*kw, H*W)
    cols = cols.reshape(B, G * Og * kh * kw, H * W)
    # 2) col2im onto the full, uncropped output, where the H x W patches fit exactly
    Hf, Wf = conv_transpose_output_size(H, kh, sh, 0, dh), conv_transpose_output_size(W, kw, sw, 0, dw)
    full = F.fold(cols, (Hf, Wf), (kh, kw), dilation=(dh, dw), stride=(sh, sw))  # (B, O, Hf, Wf)
    # 3) padding removes p rows/cols on each side; output_padding adds rows/cols at the end (zero
    # beyond the full map)
    Ho = conv_transpose_output_size(H, kh, sh, ph, dh, oph)
    Wo = conv_transpose_output_size(W, kw, sw, pw, dw, opw)
    full = F.pad(full, (0, max(0, pw + Wo - Wf), 0, max(0, ph + Ho - Hf)))
    out = full[:, :, ph : ph + Ho, pw : pw + Wo]  # (B, O, Ho, Wo)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


def receptive_field(layers: Iterable[Sequence[int]]) -> list[tuple[int, int]]:
    """Receptive field and jump after each layer of a chain.

    Args:
        layers: (kernel, stride) or (kernel, stride, dilation) per layer, input first.

    Returns:
        (receptive field side in input pixels, jump in input pixels) after each layer.

    >>> receptive_field([(3, 1), (3, 1), (2, 2), (3, 1)])
    [(3, 1), (5, 1), (6, 2), (10, 2)]
    """
    r, j, out = 1, 1, []
    for layer in layers:
        k, s, d = (*layer, 1)[:3]
        r += d * (k - 1) * j
        j *= s
        out.append((r, j))
    return out


__all__ = ["conv2d", "conv_output_size", "conv_transpose2d", "conv_transpose_output_size", "im2col", "receptive_field"]
