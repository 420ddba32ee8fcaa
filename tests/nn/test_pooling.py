"""roi_pool / roi_align against literal per-bin loops (torchvision's test pattern), gradcheck, SPP sizes."""

from __future__ import annotations

import math

import pytest
import torch

from dlbasic.nn.pooling import SpatialPyramidPooling, first_max, roi_align, roi_pool, rois_to_tensor


def make_inputs(seed: int, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, 9, 11, generator=g, dtype=dtype)
    xy = torch.rand(7, 2, generator=g, dtype=dtype) * 24 - 3  # some regions start outside the map
    wh = torch.rand(7, 2, generator=g, dtype=dtype) * 16
    batch = torch.randint(0, 2, (7, 1), generator=g).to(dtype)
    rois = torch.cat([batch, xy, xy + wh], 1)
    rois[0, 1:] = torch.tensor([4.0, 4.0, 4.0, 4.0], dtype=dtype)  # zero-size region
    rois[1, 1:] = torch.tensor([-10.0, -10.0, -5.0, -5.0], dtype=dtype)  # fully outside
    return x, rois


def reference_bins(x, rois, ph, pw, scale):
    """Fast R-CNN's quantized bins, one at a time: (region k, image b, bin i, j, rows h0:h1, columns w0:w1) of
    every non-empty bin."""
    h, w = x.shape[-2:]
    c_round = lambda v: math.floor(v + 0.5) if v >= 0 else -math.floor(-v + 0.5)  # noqa: E731
    for k, (b, x1, y1, x2, y2) in enumerate(rois.tolist()):
        sx, sy, ex, ey = (c_round(v * scale) for v in (x1, y1, x2, y2))
        rh, rw = max(ey - sy + 1, 1), max(ex - sx + 1, 1)
        bh, bw = torch.tensor(rh, dtype=x.dtype) / ph, torch.tensor(rw, dtype=x.dtype) / pw
        for i in range(ph):
            for j in range(pw):
                h0 = min(max(math.floor(float(i * bh)) + sy, 0), h)
                h1 = min(max(math.ceil(float((i + 1) * bh)) + sy, 0), h)
                w0 = min(max(math.floor(float(j * bw)) + sx, 0), w)
                w1 = min(max(math.ceil(float((j + 1) * bw)) + sx, 0), w)
                if h1 > h0 and w1 > w0:
                    yield k, int(b), i, j, (h0, h1), (w0, w1)


def reference_roi_pool(x, rois, ph, pw, scale):
    """Fast R-CNN RoI max pooling, one bin at a time."""
    out = torch.zeros(len(rois), x.shape[1], ph, pw, dtype=x.dtype)
    for k, b, i, j, (h0, h1), (w0, w1) in reference_bins(x, rois, ph, pw, scale):
        out[k, :, i, j] = x[b, :, h0:h1, w0:w1].reshape(x.shape[1], -1).max(1).values
    return out


def bilinear(img, y, x):
    """One bilinear sample of img [H][W] (nested lists) with RoI Align's border rules."""
    h, w = len(img), len(img[0])
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    y1, x1 = y0 + 1, x0 + 1
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    ly, lx = y - y0, x - x0
    return (
        (1 - ly) * (1 - lx) * img[y0][x0]
        + (1 - ly) * lx * img[y0][x1]
        + ly * (1 - lx) * img[y1][x0]
        + ly * lx * img[y1][x1]
    )


def reference_roi_align(x, rois, ph, pw, scale, ratio, aligned):
    """RoI Align, one bin and one sample at a time."""
    data = x.tolist()
    out = torch.zeros(len(rois), x.shape[1], ph, pw, dtype=x.dtype)
    off = 0.5 if aligned else 0.0
    for k, (b, x1, y1, x2, y2) in enumerate(rois.tolist()):
        sx, sy = x1 * scale - off, y1 * scale - off
        rw, rh = x2 * scale - off - sx, y2 * scale - off - sy
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / ph, rw / pw
        gy = ratio if ratio > 0 else math.ceil(rh / ph)
        gx = ratio if ratio > 0 else math.ceil(rw / pw)
        count = max(gy * gx, 1)
        for ch in range(x.shape[1]):
            for i in range(ph):
                for j in range(pw):
                    total = 0.0
                    for iy in range(gy):
                        for ix in range(gx):
                            yy = sy + i * bh + (iy + 0.5) * bh / gy
                            xx = sx + j * bw + (ix + 0.5) * bw / gx
                            total += bilinear(data[int(b)][ch], yy, xx)
                    out[k, ch, i, j] = total / count
    return out


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("size", "scale"), [((3, 3), 1.0), ((2, 4), 0.5), ((5, 5), 0.7)])
def test_roi_pool_equals_loop(seed, size, scale):
    x, rois = make_inputs(seed)
    torch.testing.assert_close(
        roi_pool(x, rois, size, scale), reference_roi_pool(x, rois, *size, scale), rtol=0, atol=0
    )


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize(("size", "scale", "ratio"), [((3, 3), 1.0, -1), ((2, 4), 0.5, 2), ((4, 3), 0.7, 0)])
def test_roi_align_equals_loop(seed, aligned, size, scale, ratio):
    x, rois = make_inputs(seed)
    expected = reference_roi_align(x, rois, *size, scale, ratio, aligned)
    out = roi_align(x, rois, size, scale, ratio, aligned)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_float32_and_list_rois():
    x, rois = make_inputs(5, torch.float32)
    as_list = [rois[rois[:, 0] == i, 1:] for i in range(2)]
    order = torch.cat([torch.nonzero(rois[:, 0] == i)[:, 0] for i in range(2)])
    torch.testing.assert_close(rois_to_tensor(as_list), rois[order])
    torch.testing.assert_close(roi_align(x, as_list, 3, 1.0), roi_align(x, rois[order], 3, 1.0))
    torch.testing.assert_close(
        roi_align(x, rois, 3, 0.5, 2, True),
        reference_roi_align(x.double(), rois.double(), 3, 3, 0.5, 2, True).float(),
        rtol=1e-5,
        atol=1e-5,
    )
    assert roi_pool(x, torch.zeros(0, 5), 2).shape == (0, 3, 2, 2)


@pytest.mark.parametrize("seed", range(3))
def test_gradcheck(seed):
    x, rois = make_inputs(seed)
    x = x[:, :2, :6, :7].clone().requires_grad_(True)
    rois = rois * torch.tensor([1.0, 0.5, 0.5, 0.5, 0.5], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: roi_align(t, rois, (2, 3), 1.0, -1, seed % 2 == 0), (x,))
    assert torch.autograd.gradcheck(lambda t: roi_pool(t, rois, (2, 3), 1.0), (x,))


def test_roi_pool_gradient_goes_to_the_maximum():
    x = torch.zeros(1, 1, 4, 4, requires_grad=True)
    with torch.no_grad():
        x[0, 0, 1, 2] = 5.0
    roi_pool(x, torch.tensor([[0.0, 0.0, 0.0, 3.0, 3.0]]), 1).sum().backward()
    expected = torch.zeros(1, 1, 4, 4)
    expected[0, 0, 1, 2] = 1.0
    torch.testing.assert_close(x.grad, expected)


def reference_roi_pool_grad(x, rois, ph, pw, scale, upstream):
    """The gradient of `reference_roi_pool`: each bin's upstream value goes to its first maximum (row-major)."""
    grad = torch.zeros_like(x)
    for k, b, i, j, (h0, h1), (w0, w1) in reference_bins(x, rois, ph, pw, scale):
        for ch in range(x.shape[1]):
            flat = x[b, ch, h0:h1, w0:w1].reshape(-1).tolist()
            first = flat.index(max(flat))
            grad[b, ch, h0 + first // (w1 - w0), w0 + first % (w1 - w0)] += upstream[k, ch, i, j]
    return grad


@pytest.mark.parametrize("seed", range(3))
def test_roi_pool_with_ties_sends_the_gradient_to_the_first_maximum(seed):
    """ReLU features hold many equal values (whole bins of zeros): values and gradients equal the loop's."""
    x, rois = make_inputs(seed)
    x = (x * 2).round().clamp(min=0).requires_grad_()  # about half zeros, the rest small integers
    out = roi_pool(x, rois, (3, 2), 0.8)
    torch.testing.assert_close(out, reference_roi_pool(x.detach(), rois, 3, 2, 0.8), rtol=0, atol=0)
    upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype)
    out.backward(upstream)
    expected = reference_roi_pool_grad(x.detach(), rois, 3, 2, 0.8, upstream)
    torch.testing.assert_close(x.grad, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [1, 9, 300])
@pytest.mark.parametrize("dim", [0, 1])
def test_first_max_is_argmax(n, dim):
    g = torch.Generator().manual_seed(n)
    shape = [5, 7, 3]
    shape[dim] = n
    values = torch.randint(-2, 3, shape, generator=g).float()  # many ties
    assert torch.equal(first_max(values, dim), values.argmax(dim))
    values.view(-1)[len(values.view(-1)) // 2] = float("nan")  # argmax counts a NaN as the maximum
    assert torch.equal(first_max(values, dim), values.argmax(dim))


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_spp_length_independent_of_size(mode):
    spp = SpatialPyramidPooling((1, 2, 4), mode)
    lengths = {spp(torch.randn(2, 5, h, w)).shape for h, w in [(4, 4), (7, 13), (32, 9)]}
    assert lengths == {(2, spp.output_size(5))} and spp.output_size(5) == 5 * 21
    x = torch.randn(1, 5, 8, 8)
    # level 1 is the global maximum (or mean), level 4 of an 8x8 map pools 2x2 blocks
    reduce = torch.amax if mode == "max" else torch.mean
    torch.testing.assert_close(spp(x)[:, :5], reduce(x, dim=(2, 3)))


def test_spp_over_regions():
    spp = SpatialPyramidPooling((1, 2, 4))
    x = torch.randn(2, 3, 20, 20)
    rois = torch.tensor([[0.0, 0.0, 0.0, 3.0, 3.0], [1.0, 2.0, 1.0, 19.0, 12.0], [0.0, 5.0, 5.0, 6.0, 15.0]])
    out = spp(x, rois)
    assert out.shape == (3, spp.output_size(3))
    torch.testing.assert_close(out[1, :3], x[1, :, 1:13, 2:20].amax((1, 2)))
    with pytest.raises(ValueError):
        SpatialPyramidPooling((1, 0))


def test_roi_pool_and_roi_align_equal_torchvisions_values_and_gradients():
    """Against torchvision.ops (CI runs this in its torchvision environment): ReLU-like features with ties,
    regions partly outside the map, three output sizes and scales."""
    ops = pytest.importorskip("torchvision.ops", reason="torchvision is not installed here; CI runs it there")
    g = torch.Generator().manual_seed(0)
    for _ in range(10):
        x = (torch.randn(3, 8, 13, 17, generator=g) * 2).round().clamp(min=0)
        xy = torch.rand(30, 2, generator=g) * 120 - 10
        rois = torch.cat(
            [torch.randint(0, 3, (30, 1), generator=g).float(), xy, xy + torch.rand(30, 2, generator=g) * 80], 1
        )
        for size, scale in (((4, 4), 1 / 8), ((7, 7), 1 / 4), ((2, 3), 1 / 8)):
            for ours, theirs in ((roi_pool, ops.roi_pool), (roi_align, ops.roi_align)):
                a, t = x.clone().requires_grad_(), x.clone().requires_grad_()
                ya, yt = ours(a, rois, size, scale), theirs(t, rois, size, scale)
                upstream = torch.randn(ya.shape, generator=g)
                ya.backward(upstream)
                yt.backward(upstream)
                exact = ours is roi_pool  # max pooling picks values; RoI Align sums in another order
                tol = {"rtol": 0, "atol": 0} if exact else {"rtol": 1e-5, "atol": 1e-5}
                torch.testing.assert_close(ya, yt, **tol)
                torch.testing.assert_close(a.grad, t.grad, **tol)
