"""im2col conv2d / fold conv_transpose2d against torch in float64, forward and backward, over a grid."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from dlbasic.nn import conv
from dlbasic.nn.conv import (
    conv2d,
    conv_output_size,
    conv_transpose2d,
    conv_transpose_output_size,
    im2col,
    receptive_field,
)

# (C, O, H, W, kernel, stride, padding, dilation, groups): every option on its own, then combinations
GRID = [
    (C, O, H, W, k, s, p, d, g)
    for (C, O, g), (H, W), k, s, p, d in itertools.product(
        [(3, 4, 1), (4, 6, 2), (6, 6, 3), (4, 4, 4)],  # groups 1, 2, 3 and depthwise
        [(7, 7), (8, 5)],
        [1, 2, 3, (3, 2)],
        [1, 2, (2, 1)],
        [0, 1, (2, 0)],
        [1, 2],
    )
]


def _args(case: tuple, transposed: bool = False):
    C, O, H, W, k, s, p, d, g = case
    gen = torch.Generator().manual_seed(hash(case) % 2**31)
    kh, kw = (k, k) if isinstance(k, int) else k
    x = torch.randn(2, C, H, W, generator=gen, dtype=torch.float64, requires_grad=True)
    shape = (C, O // g, kh, kw) if transposed else (O, C // g, kh, kw)
    w = torch.randn(*shape, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(O, generator=gen, dtype=torch.float64, requires_grad=True)
    return x, w, b, dict(stride=s, padding=p, dilation=d, groups=g)


def _assert_same_forward_backward(ours, ref, x, w, b, kw, case) -> None:
    y, y_ref = ours(x, w, b, **kw), ref(x, w, b, **kw)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-10, msg=lambda m: f"{case}: {m}")
    grad_out = torch.randn_like(y_ref)
    g_ours = torch.autograd.grad(y, (x, w, b), grad_out)
    g_ref = torch.autograd.grad(y_ref, (x, w, b), grad_out)
    for name, a, r in zip("xwb", g_ours, g_ref):
        torch.testing.assert_close(a, r, rtol=0, atol=1e-10, msg=lambda m, n=name: f"{case} grad {n}: {m}")


def _pair(v):
    return (v, v) if isinstance(v, int) else v


def _fits(case: tuple) -> bool:
    _, _, H, W, k, _, p, d, _ = case
    (kh, kw), (ph, pw) = [(v, v) if isinstance(v, int) else v for v in (k, p)]
    return H + 2 * ph - d * (kh - 1) >= 1 and W + 2 * pw - d * (kw - 1) >= 1


@pytest.mark.parametrize("groups", [1, 2, 3, 4])
def test_conv2d_matches_torch(groups: int) -> None:
    cases = [c for c in GRID if _fits(c) and c[-1] == groups]
    assert len(cases) > 100
    for case in cases:  # one loop per groups value: 576 pytest items would cost more than the maths
        x, w, b, kw = _args(case)
        _assert_same_forward_backward(conv2d, F.conv2d, x, w, b, kw, case)


def _output_paddings(case: tuple) -> list[int]:
    # torch requires output_padding < stride or < dilation in each dimension
    s, d = _pair(case[5]), case[7]
    return [op for op in (0, 1) if all(op < max(si, d) for si in s)]


@pytest.mark.parametrize("groups", [1, 2, 3, 4])
def test_conv_transpose2d_matches_torch(groups: int) -> None:
    cases = [(c, op) for c in GRID[::2] if c[-1] == groups for op in _output_paddings(c)]
    assert len(cases) > 50 and {op for _, op in cases} == {0, 1}
    for case, op in cases:
        x, w, b, kw = _args(case, transposed=True)
        kw["output_padding"] = op
        _assert_same_forward_backward(conv_transpose2d, F.conv_transpose2d, x, w, b, kw, (case, op))


def test_im2col_equals_unfold_exactly() -> None:
    for case in filter(_fits, GRID[::3]):
        x, _, _, kw = _args(case)
        k = case[4]
        opts = dict(stride=kw["stride"], padding=kw["padding"], dilation=kw["dilation"])
        assert torch.equal(im2col(x, k, **opts), F.unfold(x, k, **opts)), case


@pytest.mark.parametrize(
    "case",
    [
        (3, 8, 31, 29, 11, 4, 2, 1, 1),  # AlexNet's conv1
        (4, 4, 9, 9, 1, 3, 0, 1, 2),  # stride larger than the kernel
        (2, 4, 10, 11, 2, (3, 2), 1, 1, 1),
        (4, 6, 17, 15, 3, 3, 2, 2, 2),  # stride and dilation together
    ],
)
def test_conv2d_strides_beyond_the_grid(case) -> None:
    x, w, b, kw = _args(case)
    _assert_same_forward_backward(conv2d, F.conv2d, x, w, b, kw, case)


def test_conv2d_lowers_large_batches_in_chunks_with_the_same_result(monkeypatch) -> None:
    case = (4, 6, 9, 8, 3, (2, 1), 1, 1, 2)
    x, w, b, kw = _args(case)
    whole = conv2d(x, w, b, **kw)
    per_sample = 4 * 9 * 5 * 8 * x.element_size()  # C * kh * kw * Ho * Wo * bytes
    monkeypatch.setattr(conv, "COLUMNS_BYTES", per_sample)  # one sample per chunk: 2 chunks
    torch.testing.assert_close(conv2d(x, w, b, **kw), whole, rtol=0, atol=0)
    _assert_same_forward_backward(conv2d, F.conv2d, x, w, b, kw, case)


def test_conv2d_without_bias() -> None:
    x, w, _, kw = _args((3, 4, 6, 6, 3, 1, 1, 1, 1))
    torch.testing.assert_close(conv2d(x, w, None, **kw), F.conv2d(x, w, None, **kw), rtol=0, atol=1e-10)


def test_conv_output_size_equals_real_shapes() -> None:
    for n, k, s, p, d in itertools.product(range(1, 12), [1, 2, 3, 5], [1, 2, 3], [0, 1, 2], [1, 2, 3]):
        if n + 2 * p - d * (k - 1) < 1:
            continue  # no output position: torch raises
        y = F.conv2d(torch.zeros(1, 1, n, 1), torch.zeros(1, 1, k, 1), stride=s, padding=(p, 0), dilation=d)
        assert y.shape[2] == conv_output_size(n, k, s, p, d), (n, k, s, p, d)


def test_conv_transpose_output_size_equals_real_shapes() -> None:
    grid = itertools.product([1, 4, 7], [1, 2, 3, 5], [1, 2, 3], [0, 1, 2], [1, 2], [0, 1])
    for n, k, s, p, d, op in grid:
        if op >= max(s, d) or conv_transpose_output_size(n, k, s, p, d, op) < 1:
            continue  # torch refuses these
        y = F.conv_transpose2d(
            torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p, output_padding=op, dilation=d
        )
        assert y.shape[-1] == conv_transpose_output_size(n, k, s, p, d, op), (n, k, s, p, d, op)


def test_receptive_field_of_stacked_3x3_convs_is_2n_plus_1() -> None:
    # VGG's argument: n stacked 3x3 convolutions see (2n + 1) x (2n + 1), e.g. three of them see 7x7
    for n in range(1, 8):
        assert receptive_field([(3, 1)] * n)[-1] == (2 * n + 1, 1)


def test_receptive_field_of_vgg16_matches_closed_form() -> None:
    # VGG-16: blocks of (2, 2, 3, 3, 3) 3x3 convs, each followed by 2x2/2 pooling. Closed form: a 3x3
    # conv in block b (0-based) adds 2 * 2**b, a pool after block b adds 2**b: r = 1 + sum(...)
    blocks = (2, 2, 3, 3, 3)
    layers = [layer for n in blocks for layer in [(3, 1)] * n + [(2, 2)]]
    closed = 1 + sum(2 * n * 2**b + 2**b for b, n in enumerate(blocks))
    assert receptive_field(layers)[-1] == (closed, 32)
    assert closed == 212  # pool5; conv5_3 sees 196
    assert receptive_field(layers[:-1])[-1][0] == 196


def test_receptive_field_with_dilation() -> None:
    # Yu & Koltun 2016: 3x3 convs dilated 1, 2, 4 grow the field exponentially: 3, 7, 15
    assert [r for r, _ in receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 4)])] == [3, 7, 15]
