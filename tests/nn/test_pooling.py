"""roi_pool / roi_align against literal per-bin loops (torchvision's test pattern), gradcheck, SPP sizes; the
compiled kernels against the torch versions (bit for bit for roi_pool), on every layout and path, and their
fallbacks."""

from __future__ import annotations

import math
import stat
from pathlib import Path

import pytest
import torch

from dlbasic.nn import _roi_kernels, pooling
from dlbasic.nn.pooling import (
    SpatialPyramidPooling,
    first_max,
    roi_align,
    roi_align_torch,
    roi_pool,
    roi_pool_torch,
    rois_to_tensor,
)

POOLS = pytest.mark.parametrize("pool", [roi_pool, roi_pool_torch], ids=["roi_pool", "roi_pool_torch"])
ALIGNS = pytest.mark.parametrize("align", [roi_align, roi_align_torch], ids=["roi_align", "roi_align_torch"])
native = pytest.mark.skipif(not _roi_kernels.available(), reason="no C++ compiler here: no RoI kernels")


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


@POOLS
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("size", "scale"), [((3, 3), 1.0), ((2, 4), 0.5), ((5, 5), 0.7)])
def test_roi_pool_equals_loop(pool, seed, size, scale):
    x, rois = make_inputs(seed)
    torch.testing.assert_close(pool(x, rois, size, scale), reference_roi_pool(x, rois, *size, scale), rtol=0, atol=0)


@ALIGNS
@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize(("size", "scale", "ratio"), [((3, 3), 1.0, -1), ((2, 4), 0.5, 2), ((4, 3), 0.7, 0)])
def test_roi_align_equals_loop(align, seed, aligned, size, scale, ratio):
    x, rois = make_inputs(seed)
    expected = reference_roi_align(x, rois, *size, scale, ratio, aligned)
    out = align(x, rois, size, scale, ratio, aligned)
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


@pytest.mark.parametrize(("pool", "align"), [(roi_pool, roi_align), (roi_pool_torch, roi_align_torch)])
@pytest.mark.parametrize("seed", range(3))
def test_gradcheck(pool, align, seed):
    x, rois = make_inputs(seed)
    x = x[:, :2, :6, :7].clone().requires_grad_(True)
    rois = rois * torch.tensor([1.0, 0.5, 0.5, 0.5, 0.5], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: align(t, rois, (2, 3), 1.0, -1, seed % 2 == 0), (x,))
    assert torch.autograd.gradcheck(lambda t: pool(t, rois, (2, 3), 1.0), (x,))


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


@POOLS
@pytest.mark.parametrize("seed", range(3))
def test_roi_pool_with_ties_sends_the_gradient_to_the_first_maximum(pool, seed):
    """ReLU features hold many equal values (whole bins of zeros): values and gradients equal the loop's."""
    x, rois = make_inputs(seed)
    x = (x * 2).round().clamp(min=0).requires_grad_()  # about half zeros, the rest small integers
    out = pool(x, rois, (3, 2), 0.8)
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


# The compiled kernels (`_roi_kernels.py`) against the torch versions: roi_pool bit for bit (values, the cell each
# gradient goes to, and the gradients' sums in the same order), roi_align to rounding (it adds a bin's samples in
# torchvision's order, the torch version in torch's).


def random_case(seed: int, dtype: torch.dtype = torch.float32, ties: bool = False):
    """Maps of random size and regions of every kind: inside, partly or wholly outside the map, empty (zero size),
    inverted, of fractional batch index; random bins, scale, sampling ratio and alignment."""
    g = torch.Generator().manual_seed(seed)

    def randint(lo: int, hi: int) -> int:
        return int(torch.randint(lo, hi + 1, (1,), generator=g))

    n, c, h, w, k = randint(1, 3), randint(1, 20), randint(1, 17), randint(1, 17), randint(4, 40)
    x = torch.randn(n, c, h, w, generator=g, dtype=dtype)
    if ties:
        x = (x * 2).round().clamp(min=0)  # ReLU-like: whole bins of zeros, small integers
    scale = [1.0, 0.5, 0.25, 0.7][seed % 4]
    side = max(h, w) / scale
    xy = torch.rand(k, 2, generator=g, dtype=dtype) * side * 1.4 - side * 0.2
    rois = torch.cat([torch.rand(k, 1, generator=g, dtype=dtype) * n, xy, xy + torch.rand(k, 2, generator=g) * side], 1)
    rois[0, 3:] = rois[0, 1:3]  # zero size
    rois[1, 1:] = torch.tensor([-40.0, -30.0, -2.0, -1.0])  # wholly outside, above and left
    rois[2, 1:3] = side + 3  # starts past the map
    rois[3, 3:] = rois[3, 1:3] - 5  # inverted
    size = (randint(1, 6), randint(1, 6))
    return x, rois, size, scale, [-1, 0, 1, 2, 3][seed % 5], bool(seed % 2)


def backward(fn, x: torch.Tensor, *args, upstream: torch.Tensor | None = None):
    """fn(x, *args) and the gradient of <fn(x), upstream> with respect to x (upstream: seeded normal)."""
    leaf = x.detach().clone().requires_grad_()
    out = fn(leaf, *args)
    if upstream is None:
        upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(7), dtype=out.dtype)
    out.backward(upstream)
    return out, leaf.grad


@pytest.fixture
def torch_versions_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if roi_pool or roi_align falls back to its torch version."""

    def refuse(*args, **kwargs):
        raise AssertionError("the torch version ran, not the kernel")

    monkeypatch.setattr(pooling, "roi_pool_torch", refuse)
    monkeypatch.setattr(pooling, "roi_align_torch", refuse)


@native
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", range(16))
def test_native_roi_pool_equals_the_torch_version_bit_for_bit(seed, dtype, torch_versions_refused):
    x, rois, size, scale, _, _ = random_case(seed, dtype, ties=seed % 2 == 0)
    out, grad = backward(roi_pool, x, rois, size, scale)
    assert out.grad_fn.name() == "_RoIPoolBackward"
    expected, expected_grad = backward(roi_pool_torch, x, rois, size, scale)
    assert torch.equal(out, expected) and torch.equal(grad, expected_grad)
    with torch.no_grad():  # no maxima to route: the kernel keeps no cells, the torch version takes amax
        assert torch.equal(roi_pool(x, rois, size, scale), expected)


@native
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", range(16))
def test_native_roi_align_equals_the_torch_version(seed, dtype, torch_versions_refused):
    x, rois, size, scale, ratio, aligned = random_case(seed, dtype)
    out, grad = backward(roi_align, x, rois, size, scale, ratio, aligned)
    assert out.grad_fn.name() == "_RoIAlignBackward"
    expected, expected_grad = backward(roi_align_torch, x, rois, size, scale, ratio, aligned)
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {}  # measured: 4e-16 and 2e-15 at most
    torch.testing.assert_close(out, expected, **tol)
    torch.testing.assert_close(grad, expected_grad, **tol)
    with torch.no_grad():
        assert torch.equal(roi_align(x, rois, size, scale, ratio, aligned), out.detach())


@native
@pytest.mark.parametrize("seed", range(8))
def test_both_roi_pool_kernels_agree_on_every_layout(seed):
    """One (region, channel) at a time and a vector of channels at a time (after copying the map channels-last, or
    reading a channels-last map in place): the same values and cells, on maps of any strides."""
    x, rois, size, scale, _, _ = random_case(seed, ties=True)
    x = x.repeat(1, 3, 1, 1)  # 3 to 60 channels: whole and partial vectors of channels
    rois = rois.contiguous()
    expected = roi_pool_torch(x, rois, size, scale)
    layouts = {
        "contiguous": x,
        "channels_last": x.contiguous(memory_format=torch.channels_last),
        "transposed": x.transpose(2, 3).contiguous().transpose(2, 3),
        "every_other_channel": torch.stack([x, x], 2).flatten(1, 2)[:, ::2],
    }
    results = []
    for name, t in layouts.items():
        assert torch.equal(t, x), name
        for path in (1, 2):
            out, cells, batch = pooling._pool_forward(t, rois, *size, scale, True, path)
            assert torch.equal(out, expected), (name, path)
            assert torch.equal(batch, rois[:, 0].long())
            results.append(cells)
    assert all(torch.equal(cells, results[0]) for cells in results)
    flat = x.flatten(2)[rois[:, 0].long()]  # [K, C, H * W]: the value at each region's chosen cell
    found = flat.gather(2, results[0].long().clamp(min=0).flatten(2)).reshape(expected.shape)
    assert torch.equal(torch.where(results[0] >= 0, found, 0.0), expected)


@native
@pytest.mark.parametrize("seed", range(8))
def test_both_roi_align_kernels_agree_on_every_layout(seed, monkeypatch: pytest.MonkeyPatch):
    """One (region, channel) at a time and a vector of channels at a time, forward (on maps of any strides) and
    backward (into a channels-last gradient, then transposed): the same bits, to rounding the torch version's."""
    x, rois, size, scale, ratio, aligned = random_case(seed, torch.float64 if seed % 2 else torch.float32)
    x = x.repeat(1, 3, 1, 1)
    rois = rois.contiguous()
    tol = {"rtol": 1e-12, "atol": 1e-12} if x.dtype == torch.float64 else {}
    expected, expected_grad = backward(roi_align_torch, x, rois, size, scale, ratio, aligned)
    layouts = [
        x,
        x.contiguous(memory_format=torch.channels_last),
        x.transpose(2, 3).contiguous().transpose(2, 3),
        torch.stack([x, x], 2).flatten(1, 2)[:, ::2],
    ]
    outs = [pooling._align_forward(t, rois, *size, scale, ratio, aligned, path) for t in layouts for path in (1, 2)]
    assert all(torch.equal(out, outs[0]) for out in outs)
    torch.testing.assert_close(outs[0], expected, **tol)
    grads = []
    for path in (1, 2):
        monkeypatch.setattr(pooling._RoIAlign, "path", path)
        grads.append(backward(roi_align, x, rois, size, scale, ratio, aligned)[1])
    assert torch.equal(grads[0], grads[1])
    torch.testing.assert_close(grads[0], expected_grad, **tol)


@native
@pytest.mark.parametrize("layout", ["channels_last", "channel_slice", "transposed", "expanded"])
def test_native_kernels_take_non_contiguous_inputs_and_gradients(layout, torch_versions_refused):
    x, rois, size, scale, ratio, aligned = random_case(3, torch.float64, ties=True)
    x = x.repeat(2, 2, 1, 1)
    base = x.clone()
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    elif layout == "channel_slice":
        x = torch.cat([x[:, :1], x], 1)[:, 1:]  # planes in order, batch stride one plane longer
    elif layout == "transposed":
        x = x.transpose(2, 3).contiguous().transpose(2, 3)
    else:
        x = x[:1].expand(x.shape)  # every image the same memory
        base = x.clone()
    assert not x.is_contiguous() and torch.equal(x, base)
    wide = torch.cat([torch.zeros(len(rois), 1, dtype=rois.dtype), rois], 1)[:, 1:]  # non-contiguous rows
    for ours, theirs, args in (
        (roi_pool, roi_pool_torch, (size, scale)),
        (roi_align, roi_align_torch, (size, scale, ratio, aligned)),
    ):
        leaf = x.detach().requires_grad_()
        out = ours(leaf, wide, *args)
        out.sum().backward()  # an expanded (stride 0) upstream gradient
        expected, expected_grad = backward(theirs, base, rois, *args, upstream=torch.ones_like(out))
        tol = {"rtol": 0, "atol": 0} if ours is roi_pool else {"rtol": 1e-12, "atol": 1e-12}
        torch.testing.assert_close(out, expected, **tol)
        torch.testing.assert_close(leaf.grad, expected_grad, **tol)


@native
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_nan_and_infinite_features_as_in_the_torch_version(dtype, torch_versions_refused):
    """A NaN in a bin wins (the torch version's argmax counts it the maximum), the first one in row-major order;
    -inf is an ordinary value. Both roi_pool kernels, and roi_align's propagation."""
    x, rois, size, scale, ratio, aligned = random_case(5, dtype, ties=True)
    x = x.repeat(1, 4, 1, 1)
    g = torch.Generator().manual_seed(0)
    flat = x.view(-1)
    flat[torch.randint(0, flat.numel(), (max(1, flat.numel() // 40),), generator=g)] = float("nan")
    flat[torch.randint(0, flat.numel(), (max(1, flat.numel() // 20),), generator=g)] = -float("inf")
    exact = {"rtol": 0, "atol": 0, "equal_nan": True}
    out, grad = backward(roi_pool, x, rois, size, scale)
    expected, expected_grad = backward(roi_pool_torch, x, rois, size, scale)
    assert out.isnan().any()
    torch.testing.assert_close(out, expected, **exact)
    torch.testing.assert_close(grad, expected_grad, **exact)
    for path in (1, 2):
        torch.testing.assert_close(pooling._pool_forward(x, rois, *size, scale, False, path)[0], expected, **exact)
    # roi_align: a NaN or infinite cell spreads to every bin that samples it (even with weight 0), as in torch's
    out, grad = backward(roi_align, x, rois, size, scale, ratio, aligned)
    expected, expected_grad = backward(roi_align_torch, x, rois, size, scale, ratio, aligned)
    assert out.isnan().any() and out.isinf().any()
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {}
    torch.testing.assert_close(out, expected, equal_nan=True, **tol)
    torch.testing.assert_close(grad, expected_grad, **tol)  # the gradient does not depend on the features


@native
def test_two_threads_give_the_same_bits(torch_versions_refused):
    """Work big enough for several threads (forward over regions and channel blocks, backward over channel blocks):
    the results do not depend on how it is shared."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 64, 24, 24, generator=g).clamp(min=0)
    xy = torch.rand(300, 2, generator=g) * 80
    rois = torch.cat([torch.randint(0, 3, (300, 1), generator=g).float(), xy, xy + torch.rand(300, 2) * 40], 1)
    runs = []
    previous = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            runs.append(
                [
                    *backward(roi_pool, x, rois, 4, 0.25),
                    *backward(roi_align, x, rois, 4, 0.25, 2, True),
                    *backward(roi_align, x.double(), rois, (3, 5), 0.25, -1, False),
                ]
            )
    finally:
        torch.set_num_threads(previous)
    assert all(torch.equal(a, b) for a, b in zip(*runs))


@native
def test_batch_index_column_and_region_lists(torch_versions_refused):
    """Each region reads its own image: the batch index truncates toward zero as torch's .long() does (1.9 -> 1,
    -0.5 -> 0); a list of per-image boxes is the same regions."""
    x = torch.arange(4.0)[:, None, None, None].expand(4, 3, 6, 6).contiguous()  # image i holds i everywhere
    boxes = torch.tensor([[1.0, 1.0, 4.0, 4.0]]).repeat(6, 1)
    rois = torch.cat([torch.tensor([[0.0], [1.9], [3.0], [2.5], [-0.5], [3.99]]), boxes], 1)
    for out in (roi_pool(x, rois, 2), roi_align(x, rois, 2, 1.0, 2)):
        assert torch.equal(out[:, 0, 0, 0], torch.tensor([0.0, 1.0, 3.0, 2.0, 0.0, 3.0]))
    per_image = [boxes[:1], boxes[:1], boxes[:1] + 0.5, torch.zeros(0, 4)]
    tensor = rois_to_tensor(per_image)
    assert torch.equal(tensor[:, 0], torch.tensor([0.0, 1.0, 2.0]))
    assert torch.equal(roi_pool(x, per_image, 3, 0.5), roi_pool(x, tensor, 3, 0.5))
    assert torch.equal(roi_align(x, per_image, 3, 0.5, -1, True), roi_align(x, tensor, 3, 0.5, -1, True))


@pytest.mark.parametrize("batch", [4.0, -1.0, float("nan")])
def test_a_batch_index_outside_the_batch_does_what_the_torch_version_does(batch):
    """The kernels check the column first and leave such regions to the torch versions (which raise, or wrap
    -1 around like Python's indexing)."""
    x = torch.randn(4, 2, 5, 5)
    rois = torch.tensor([[0.0, 0.0, 0.0, 3.0, 3.0], [batch, 1.0, 1.0, 3.0, 3.0]])
    for ours, theirs in ((roi_pool, roi_pool_torch), (roi_align, roi_align_torch)):
        try:
            expected = theirs(x, rois, 2)
        except (IndexError, RuntimeError) as e:
            with pytest.raises(type(e)):
                ours(x, rois, 2)
        else:
            assert torch.equal(ours(x, rois, 2), expected)


@native
def test_gradcheck_through_the_kernels_on_channels_last_maps():
    x, rois = make_inputs(4)
    x = x[:, :2, :6, :7].contiguous(memory_format=torch.channels_last).requires_grad_(True)
    rois = rois * torch.tensor([1.0, 0.5, 0.5, 0.5, 0.5], dtype=torch.float64)
    assert roi_pool(x, rois, (2, 3)).grad_fn.name() == "_RoIPoolBackward"
    assert roi_align(x, rois, (2, 3)).grad_fn.name() == "_RoIAlignBackward"
    assert torch.autograd.gradcheck(lambda t: roi_align(t, rois, (3, 2), 0.8, 2, True), (x,))
    assert torch.autograd.gradcheck(lambda t: roi_pool(t, rois, (3, 2), 0.8), (x,))


@native
def test_roi_align_backward_uses_the_regions_of_its_forward():
    x, rois, size, scale, ratio, aligned = random_case(6, torch.float64)
    _, expected = backward(roi_align, x, rois, size, scale, ratio, aligned)
    leaf = x.clone().requires_grad_()
    boxes = rois.clone()
    out = roi_align(leaf, boxes, size, scale, ratio, aligned)
    boxes[:, 1:] += 3.0  # the caller moves its boxes before backward
    out.backward(torch.randn(out.shape, generator=torch.Generator().manual_seed(7), dtype=out.dtype))
    assert torch.equal(leaf.grad, expected)


def test_what_the_kernels_do_not_take_runs_the_torch_versions(monkeypatch: pytest.MonkeyPatch):
    """Half precision, regions that need a gradient (the torch version differentiates roi_align by the box
    coordinates) and no regions at all take the torch versions, with their results."""
    calls = []
    for name in ("roi_pool_torch", "roi_align_torch"):
        original = getattr(pooling, name)
        monkeypatch.setattr(pooling, name, lambda *a, _f=original, _n=name, **k: (calls.append(_n), _f(*a, **k))[1])
    x, rois, size, scale, ratio, aligned = random_case(2, torch.float64)
    for dtype in (torch.bfloat16, torch.float16):
        assert roi_pool(x.to(dtype), rois, size, scale).dtype == dtype
        assert roi_align(x.to(dtype), rois, size, scale, ratio, aligned).dtype == dtype
    assert calls == ["roi_pool_torch", "roi_align_torch"] * 2
    calls.clear()
    boxes = rois.clone().requires_grad_()
    out = roi_align(x, boxes, size, scale, ratio, aligned)
    out.sum().backward()
    assert calls == ["roi_align_torch"] and boxes.grad is not None and boxes.grad.abs().sum() > 0
    calls.clear()
    assert roi_pool(x, torch.zeros(0, 5, dtype=x.dtype), size).shape == (0, x.shape[1], *size)
    assert roi_align(x, [torch.zeros(0, 4)] * x.shape[0], size).shape == (0, x.shape[1], *size)
    assert calls == ["roi_pool_torch", "roi_align_torch"]
    calls.clear()
    if _roi_kernels.available():  # more than 2^20 samples in one region: the kernel declines its buffers
        one = torch.tensor([[0.0, 1.0, 1.0, 5.0, 4.0]], dtype=x.dtype)
        assert roi_align(x[:1, :1], one, 4, 1.0, 260).shape == (1, 1, 4, 4) and calls == ["roi_align_torch"]
        roi_align(x[:1, :1], one, 4, 1.0, 250)  # 10^6 samples: the kernel
        assert calls == ["roi_align_torch"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensors_run_the_torch_versions():
    x, rois, size, scale, ratio, aligned = random_case(1)
    assert torch.equal(roi_pool(x.cuda(), rois.cuda(), size, scale).cpu(), roi_pool_torch(x, rois, size, scale))
    torch.testing.assert_close(
        roi_align(x.cuda(), rois.cuda(), size, scale, ratio, aligned).cpu(),
        roi_align_torch(x, rois, size, scale, ratio, aligned),
    )


def _fresh_loader(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, compiler: str | None = None) -> None:
    """Make `_roi_kernels.load()` start over (with `compiler` and an empty cache); all restored after the test."""
    if compiler is not None:
        monkeypatch.setenv("CXX", compiler)
    monkeypatch.setenv("DLBASIC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(_roi_kernels, "_lib", None)
    monkeypatch.setattr(_roi_kernels, "_tried", False)
    monkeypatch.setattr(_roi_kernels, "_functions", {})


def test_dlbasic_no_native_takes_the_torch_versions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys):
    _fresh_loader(monkeypatch, tmp_path)
    monkeypatch.setenv("DLBASIC_NO_NATIVE", "1")
    x, rois, size, scale, ratio, aligned = random_case(3, ties=True)
    x.requires_grad_()
    pooled, aligned_out = roi_pool(x, rois, size, scale), roi_align(x, rois, size, scale, ratio, aligned)
    assert pooled.grad_fn.name() != "_RoIPoolBackward" and aligned_out.grad_fn.name() != "_RoIAlignBackward"
    assert torch.equal(pooled, roi_pool_torch(x, rois, size, scale))
    assert not _roi_kernels.available() and not (tmp_path / "cache").exists()
    assert capsys.readouterr().err == ""


def test_a_failing_compiler_is_said_once_and_the_torch_versions_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
):
    compiler = tmp_path / "broken-c++"
    compiler.write_text('#!/bin/sh\necho "kernels.cpp:3:1: error: no omp.h" >&2\nexit 1\n')
    compiler.chmod(compiler.stat().st_mode | stat.S_IEXEC)
    monkeypatch.delenv("DLBASIC_NO_NATIVE", raising=False)
    _fresh_loader(monkeypatch, tmp_path, str(compiler))
    capsys.readouterr()
    x, rois, size, scale, _, _ = random_case(0)
    for _ in range(2):
        assert torch.equal(roi_pool(x, rois, size, scale), roi_pool_torch(x, rois, size, scale))
    err = capsys.readouterr().err
    assert err.count("dlbasic: compiling the RoI pooling kernels (first use") == 1
    assert err.count("dlbasic: could not compile the RoI pooling kernels") == 1
    assert "exited with 1" in err and "no omp.h" in err and "torch versions" in err


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore:`torch.jit.trace` is deprecated")
def test_a_traced_graph_records_the_torch_versions():
    """torch.jit.trace cannot see into the kernels: while tracing, the torch versions run, so the graph computes
    the pooling of new maps (the regions are constants of the trace)."""
    x, rois, size, scale, ratio, aligned = random_case(8)
    traced = torch.jit.trace(
        lambda t: torch.cat([roi_pool(t, rois, size, scale), roi_align(t, rois, size, scale, ratio, aligned)], 1),
        (x,),
        check_trace=False,
    )
    other = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    expected = torch.cat([roi_pool(other, rois, size, scale), roi_align(other, rois, size, scale, ratio, aligned)], 1)
    torch.testing.assert_close(traced(other), expected)
