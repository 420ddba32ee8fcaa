"""Region pooling: RoI max pooling, RoI Align, spatial pyramid pooling; differentiable, compiled on CPU.

* `roi_pool`: Fast R-CNN's quantized max pooling (Girshick, "Fast R-CNN", ICCV 2015,
  https://arxiv.org/abs/1504.08083): the region's corners are rounded to feature cells, split into
  an output grid of bins (floor/ceil bin edges, so bins may overlap), and each bin keeps its maximum;
  the gradient goes to that maximum (the first one in row-major order on ties).
* `roi_align`: Mask R-CNN's RoI Align (He et al., ICCV 2017, https://arxiv.org/abs/1703.06870):
  no rounding; each bin averages `sampling_ratio**2` bilinear samples (adaptive `ceil(roi / bins)`
  per side when `sampling_ratio <= 0`); `aligned=True` shifts by half a pixel so that a box's
  corners sit on pixel edges.
* `SpatialPyramidPooling`: SPP-net (He et al., ECCV 2014, https://arxiv.org/abs/1406.4729):
  max-pool a map or each region into 1x1, 2x2, 4x4, ... bins and concatenate, so any input size
  gives `C * sum(l * l)` numbers. Bins follow adaptive pooling (floor/ceil edges), not the paper's
  `ceil(a/n)` windows with `floor(a/n)` strides, which can leave the last bin past the map.

Both RoI ops follow the semantics of torchvision.ops.roi_pool / roi_align (the CPU kernels):
out-of-map bins give 0, `spatial_scale` maps box coordinates to the feature map. Regions are
`Tensor[K, 5]` rows `(batch index, x1, y1, x2, y2)` or a list with one `Tensor[L, 4]` xyxy per image.
On CPU, float32 and float64 run compiled kernels (`_roi_kernels.py`, OpenMP over regions and channels, built
once like the fused optimizers'); `roi_pool_torch` and `roi_align_torch` are the readable references and the
fallback (no C++ compiler, `DLBASIC_NO_NATIVE=1`, CUDA, other dtypes, regions that need a gradient). The kernels
give roi_pool's values and gradients bit for bit, and roi_align's to rounding (they add a bin's samples in
order, torch's sum in another). The torch versions gather every sample of every bin at once (no loop over
regions or bins), which costs memory proportional to K * C * (region area in cells).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from dlbasic.nn import _roi_kernels


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def rois_to_tensor(rois: Tensor | Sequence[Tensor]) -> Tensor:
    """List of Tensor[L_i, 4] xyxy (one per image) -> Tensor[K, 5] (batch index, x1, y1, x2, y2)."""
    if isinstance(rois, Tensor):
        if rois.dim() != 2 or rois.shape[1] != 5:
            raise ValueError(f"rois must be Tensor[K, 5] or a list of Tensor[L, 4], got {tuple(rois.shape)}")
        return rois
    parts = [torch.cat([torch.full_like(b[:, :1], i), b], 1) for i, b in enumerate(rois)]
    return torch.cat(parts) if parts else torch.zeros(0, 5)


def _gather(x: Tensor, batch: Tensor, y: Tensor, xx: Tensor) -> Tensor:
    """x: Tensor[N, C, H, W]; integer index tensors of one shape S -> Tensor[C, *S]."""
    _, c, h, w = x.shape
    flat = x.transpose(0, 1).reshape(c, -1)
    index = (batch * (h * w) + y * w + xx).reshape(-1)
    return flat[:, index].reshape(c, *y.shape)


def _c_round(v: Tensor) -> Tensor:
    """Round half away from zero, like C's round() (torch.round rounds half to even)."""
    return torch.sign(v) * torch.floor(v.abs() + 0.5)


def first_max(values: Tensor, dim: int = 0) -> Tensor:
    """`values.argmax(dim)`: the index of the first maximum along `dim`.

    On CPUs torch's argmax over an outer dimension is up to 100x slower than `amax`, so this takes the maximum,
    then the highest of the ranks L, L - 1, ..., 1 among the entries that equal it. A NaN (which argmax counts
    as the maximum, and no entry equals) falls back to argmax.
    """
    n = values.shape[dim]
    top = values.amax(dim, keepdim=True)
    dtype = torch.uint8 if n < 256 else torch.int16 if n < 2**15 else torch.int32
    shape = [1] * values.dim()
    shape[dim] = n
    rank = torch.arange(n, 0, -1, dtype=dtype, device=values.device).reshape(shape)
    best = ((values == top) * rank).amax(dim).long()
    return n - best if bool(best.all()) else values.argmax(dim)


def roi_pool(
    x: Tensor, rois: Tensor | Sequence[Tensor], output_size: int | tuple[int, int], spatial_scale: float = 1.0
) -> Tensor:
    """Quantized RoI max pooling (Fast R-CNN): the compiled kernel where it applies, else `roi_pool_torch`.

    Args:
        x: Tensor[N, C, H, W] feature maps.
        rois: Tensor[K, 5] (batch index, x1, y1, x2, y2) in image pixels, or a list of Tensor[L, 4].
        output_size: bins (ph, pw) per region.
        spatial_scale: feature cells per image pixel (1/16 for a stride-16 backbone).

    Returns:
        Tensor[K, C, ph, pw].
    """
    ph, pw = _pair(output_size)
    rois = rois_to_tensor(rois).to(x.dtype)
    out = _pool_native(x, rois, ph, pw, float(spatial_scale))
    return out if out is not None else roi_pool_torch(x, rois, (ph, pw), spatial_scale)


def roi_pool_torch(
    x: Tensor, rois: Tensor | Sequence[Tensor], output_size: int | tuple[int, int], spatial_scale: float = 1.0
) -> Tensor:
    """`roi_pool` in torch ops: the reference of the compiled kernel, and its fallback."""
    ph, pw = _pair(output_size)
    rois = rois_to_tensor(rois).to(x.dtype)
    _, c, h, w = x.shape
    k = rois.shape[0]
    if k == 0:
        return x.new_zeros(0, c, ph, pw)
    start = _c_round(rois[:, 1:3] * spatial_scale)  # [K, 2] (x, y) first cell
    end = _c_round(rois[:, 3:5] * spatial_scale)
    size = (end - start + 1).clamp(min=1)  # [K, 2] cells, at least one
    edges = []
    for axis, (bins, limit) in enumerate([(pw, w), (ph, h)]):
        bin_size = size[:, axis : axis + 1] / bins  # [K, 1] in x's dtype, as torchvision computes it
        i = torch.arange(bins, dtype=x.dtype, device=x.device)
        lo = torch.floor(i * bin_size) + start[:, axis : axis + 1]  # [K, bins]
        hi = torch.ceil((i + 1) * bin_size) + start[:, axis : axis + 1]
        edges.append((lo.clamp(0, limit).long(), hi.clamp(0, limit).long()))
    (x_lo, x_hi), (y_lo, y_hi) = edges
    len_y = int((y_hi - y_lo).max().clamp(min=1))
    len_x = int((x_hi - x_lo).max().clamp(min=1))
    ys = y_lo[:, :, None] + torch.arange(len_y, device=x.device)  # [K, ph, len_y]
    xs = x_lo[:, :, None] + torch.arange(len_x, device=x.device)  # [K, pw, len_x]
    # candidates first, bins last: (len_y, len_x, K, ph, pw), so the max runs over a leading dimension
    y_ok = (ys < y_hi[:, :, None]).permute(2, 0, 1)[:, None, :, :, None]
    x_ok = (xs < x_hi[:, :, None]).permute(2, 0, 1)[None, :, :, None, :]
    valid = (y_ok & x_ok).reshape(len_y * len_x, k * ph * pw)  # [L, M]
    yy = ys.clamp(max=h - 1).permute(2, 0, 1)[:, None, :, :, None]
    xx = xs.clamp(max=w - 1).permute(2, 0, 1)[None, :, :, None, :]
    batch = rois[:, 0].long()[None, None, :, None, None]
    where = (batch * (h * w) + yy * w + xx).expand(len_y, len_x, k, ph, pw).reshape(len_y * len_x, -1)  # [L, M]
    where = torch.where(valid, where, where[:1])  # a cell outside its bin stands for the bin's first cell
    flat = x.permute(0, 2, 3, 1).reshape(-1, c)  # [N * H * W, C]: a cell's channels side by side
    routed = torch.is_grad_enabled() and x.requires_grad  # a gradient goes to each bin's first maximum
    with torch.no_grad():  # find each bin's maximum; a gradient flows through the one gather below
        values = flat.index_select(0, where.reshape(-1)).reshape(*where.shape, c)  # [L, M, C]
        if routed:  # [M, C]: the cell of each first maximum in row-major order, as the C loop
            cells = where.T.gather(1, first_max(values, 0))
    out = flat.gather(0, cells) if routed else values.amax(0)  # [M, C]
    out = out.masked_fill(~valid.any(0)[:, None], 0.0)  # [M, C]; empty bins give 0
    return out.reshape(k, ph, pw, c).permute(0, 3, 1, 2).contiguous()


def _bilinear(x: Tensor, batch: Tensor, y: Tensor, xx: Tensor) -> Tensor:
    """Bilinear samples at float positions (torchvision's roi_align rules) -> Tensor[C, *y.shape]."""
    h, w = x.shape[-2:]
    outside = (y < -1.0) | (y > h) | (xx < -1.0) | (xx > w)
    y, xx = y.clamp(min=0), xx.clamp(min=0)
    y0, x0 = y.floor().long(), xx.floor().long()
    y_top, x_top = y0 >= h - 1, x0 >= w - 1  # at the last row/column: no interpolation
    y0, x0 = torch.where(y_top, h - 1, y0), torch.where(x_top, w - 1, x0)
    y1, x1 = torch.where(y_top, y0, y0 + 1), torch.where(x_top, x0, x0 + 1)
    ly = torch.where(y_top, 0.0, y - y0.to(y.dtype))
    lx = torch.where(x_top, 0.0, xx - x0.to(xx.dtype))
    hy, hx = 1 - ly, 1 - lx
    val = (
        hy * hx * _gather(x, batch, y0, x0)
        + hy * lx * _gather(x, batch, y0, x1)
        + ly * hx * _gather(x, batch, y1, x0)
        + ly * lx * _gather(x, batch, y1, x1)
    )
    return val.masked_fill(outside, 0.0)


def roi_align(
    x: Tensor,
    rois: Tensor | Sequence[Tensor],
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> Tensor:
    """RoI Align (Mask R-CNN) with torchvision's semantics: the compiled kernel where it applies, else
    `roi_align_torch`.

    Args:
        x: Tensor[N, C, H, W] feature maps.
        rois: Tensor[K, 5] (batch index, x1, y1, x2, y2) in image pixels, or a list of Tensor[L, 4].
        output_size: bins (ph, pw) per region.
        spatial_scale: feature cells per image pixel.
        sampling_ratio: samples per bin side; <= 0 means ceil(region side / bins), per region.
        aligned: shift coordinates by -0.5 cell (pixel-centre convention); when False, regions are
            at least one cell wide, as in the original implementation.

    Returns:
        Tensor[K, C, ph, pw].
    """
    ph, pw = _pair(output_size)
    rois = rois_to_tensor(rois).to(x.dtype)
    out = _align_native(x, rois, ph, pw, float(spatial_scale), int(sampling_ratio), bool(aligned))
    return out if out is not None else roi_align_torch(x, rois, (ph, pw), spatial_scale, sampling_ratio, aligned)


def roi_align_torch(
    x: Tensor,
    rois: Tensor | Sequence[Tensor],
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> Tensor:
    """`roi_align` in torch ops: the reference of the compiled kernel, and its fallback."""
    ph, pw = _pair(output_size)
    rois = rois_to_tensor(rois).to(x.dtype)
    c = x.shape[1]
    out = x.new_zeros(rois.shape[0], c, ph, pw)
    if rois.shape[0] == 0:
        return out
    offset = 0.5 if aligned else 0.0
    start = rois[:, 1:3] * spatial_scale - offset  # [K, 2] (x, y)
    size = rois[:, 3:5] * spatial_scale - offset - start
    if not aligned:
        size = size.clamp(min=1.0)
    bins = torch.tensor([pw, ph], dtype=x.dtype, device=x.device)
    bin_size = size / bins  # [K, 2]
    if sampling_ratio > 0:
        grid = torch.full_like(size, sampling_ratio, dtype=torch.long)
    else:
        grid = torch.ceil(size / bins).long().clamp(min=0)  # 0 samples (empty aligned box) -> 0
    keys, group = torch.unique(grid, dim=0, return_inverse=True)
    for g, (gx, gy) in enumerate(keys.tolist()):  # one vectorized pass per distinct sampling grid
        if gx == 0 or gy == 0:
            continue
        sel = torch.nonzero(group == g)[:, 0]
        s, b = start[sel], bin_size[sel]
        iy = torch.arange(ph * gy, device=x.device, dtype=x.dtype)  # bin * gy + sample
        ix = torch.arange(pw * gx, device=x.device, dtype=x.dtype)
        ys = s[:, 1:2] + (iy // gy) * b[:, 1:2] + ((iy % gy) + 0.5) * b[:, 1:2] / gy  # [k, ph*gy]
        xs = s[:, 0:1] + (ix // gx) * b[:, 0:1] + ((ix % gx) + 0.5) * b[:, 0:1] / gx  # [k, pw*gx]
        shape = (len(sel), ph * gy, pw * gx)
        batch = rois[sel, 0].long()[:, None, None].expand(shape)
        val = _bilinear(x, batch, ys[:, :, None].expand(shape), xs[:, None, :].expand(shape))
        val = val.reshape(c, len(sel), ph, gy, pw, gx).sum((3, 5)) / (gy * gx)  # [C, k, ph, pw]
        out = out.index_copy(0, sel, val.transpose(0, 1))
    return out


# The compiled kernels (`_roi_kernels.py`) as autograd Functions. Forward saves what backward needs: roi_pool the
# cell of each bin's maximum (torchvision's argmax), roi_align only the regions (backward recomputes the weights).


def _native(x: Tensor, rois: Tensor) -> bool:
    """True when the compiled kernels take these inputs (the library is built on the first such call). Under
    torch.jit.trace and ONNX export the torch versions run, whose ops a graph can record."""
    return (
        x.dtype in _roi_kernels.DTYPES
        and x.device.type == "cpu"
        and x.layout == torch.strided
        and x.dim() == 4
        and rois.device.type == "cpu"
        and rois.shape[0] > 0
        and x.numel() > 0
        and x.shape[2] * x.shape[3] < 2**31
        and not rois.requires_grad  # the torch version differentiates roi_align by the box coordinates
        and not torch.jit.is_tracing()
        and not torch.onnx.is_in_onnx_export()
        and _roi_kernels.available()
        and _roi_kernels.function("roi_batch_ok", x.dtype)(rois.data_ptr(), rois.shape[0], x.shape[0])
    )


class _NoKernel(Exception):
    """A kernel declined: it could not allocate its buffers, or a region has too many samples (see
    `_roi_kernels.py`); the torch version runs instead."""


def _check(status: int, name: str) -> None:
    if status == 2:
        raise _NoKernel(name)
    assert status == 0, f"{name}: batch indices are checked before the kernels run"


# torch.compile leaves these to eager mode (a graph break), where they run the kernels
@torch.compiler.disable
def _pool_native(x: Tensor, rois: Tensor, ph: int, pw: int, scale: float) -> Tensor | None:
    """roi_pool by the kernel, or None where it does not apply (see `_native`)."""
    rois = rois.contiguous()
    if not _native(x, rois):
        return None
    try:
        if torch.is_grad_enabled() and x.requires_grad:
            return _RoIPool.apply(x, rois, ph, pw, scale)
        return _pool_forward(x, rois, ph, pw, scale, with_argmax=False)[0]
    except _NoKernel:
        return None


@torch.compiler.disable
def _align_native(x: Tensor, rois: Tensor, ph: int, pw: int, scale: float, ratio: int, aligned: bool) -> Tensor | None:
    """roi_align by the kernel, or None where it does not apply (see `_native`)."""
    rois = rois.contiguous()
    if not _native(x, rois):
        return None
    try:
        if torch.is_grad_enabled() and x.requires_grad:
            return _RoIAlign.apply(x, rois, ph, pw, scale, ratio, aligned)
        return _align_forward(x, rois, ph, pw, scale, ratio, aligned)
    except _NoKernel:
        return None


def _pool_forward(
    x: Tensor, rois: Tensor, ph: int, pw: int, scale: float, with_argmax: bool = True, path: int = 0
) -> tuple[Tensor, Tensor | None, Tensor]:
    """The roi_pool kernel; path 1 takes one (region, channel) at a time, 2 all channels of a cell at once
    (vectorized), 0 lets the kernel pick (see `_roi_kernels.py`)."""
    n, c, h, w = x.shape
    k = rois.shape[0]
    out = torch.empty(k, c, ph, pw, dtype=x.dtype)
    argmax = torch.empty(k, c, ph, pw, dtype=torch.int32) if with_argmax else None
    batch = torch.empty(k, dtype=torch.int64)
    status = _roi_kernels.function("roi_pool_forward", x.dtype)(
        x.data_ptr(), n, c, h, w, *x.stride(), rois.data_ptr(), k, ph, pw, scale,
        out.data_ptr(), argmax.data_ptr() if argmax is not None else None, batch.data_ptr(), path,
        torch.get_num_threads(),
    )  # fmt: skip
    _check(status, "roi_pool")
    return out, argmax, batch


class _RoIPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, rois: Tensor, ph: int, pw: int, scale: float) -> Tensor:
        out, argmax, batch = _pool_forward(x, rois, ph, pw, scale)
        ctx.save_for_backward(argmax, batch)
        ctx.input_shape = x.shape
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        argmax, batch = ctx.saved_tensors
        n, c, h, w = ctx.input_shape
        k, _, ph, pw = argmax.shape
        grad_x = torch.empty(n, c, h, w, dtype=grad.dtype)
        status = _roi_kernels.function("roi_pool_backward", grad.dtype)(
            grad.data_ptr(), *grad.stride(), argmax.data_ptr(), batch.data_ptr(), k, n, c, h, w, ph, pw,
            grad_x.data_ptr(), torch.get_num_threads(),
        )  # fmt: skip
        if status:
            raise MemoryError("roi_pool backward: out of memory")
        return grad_x, None, None, None, None


def _align_forward(
    x: Tensor, rois: Tensor, ph: int, pw: int, scale: float, ratio: int, aligned: bool, path: int = 0
) -> Tensor:
    """The roi_align kernel; path 1 takes one (region, channel) at a time, 2 all channels of a sample at once
    (vectorized), 0 lets the kernel pick (see `_roi_kernels.py`)."""
    n, c, h, w = x.shape
    k = rois.shape[0]
    out = torch.empty(k, c, ph, pw, dtype=x.dtype)
    status = _roi_kernels.function("roi_align_forward", x.dtype)(
        x.data_ptr(), n, c, h, w, *x.stride(), rois.data_ptr(), k, ph, pw, scale, ratio, aligned,
        out.data_ptr(), path, torch.get_num_threads(),
    )  # fmt: skip
    _check(status, "roi_align")
    return out


class _RoIAlign(torch.autograd.Function):
    path = 0  # the backward kernel's: 1 one channel at a time, 2 a vector of channels, 0 the kernel picks

    @staticmethod
    def forward(ctx, x: Tensor, rois: Tensor, ph: int, pw: int, scale: float, ratio: int, aligned: bool) -> Tensor:
        out = _align_forward(x, rois, ph, pw, scale, ratio, aligned)
        ctx.rois = rois.detach().clone()  # the caller's boxes may change before backward
        ctx.input_shape, ctx.args, ctx.backward_path = x.shape, (ph, pw, scale, ratio, aligned), _RoIAlign.path
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        n, c, h, w = ctx.input_shape
        ph, pw, scale, ratio, aligned = ctx.args
        rois = ctx.rois
        grad_x = torch.empty(n, c, h, w, dtype=grad.dtype)
        status = _roi_kernels.function("roi_align_backward", grad.dtype)(
            grad.data_ptr(), *grad.stride(), rois.data_ptr(), rois.shape[0], n, c, h, w, ph, pw, scale, ratio,
            aligned, grad_x.data_ptr(), ctx.backward_path, torch.get_num_threads(),
        )  # fmt: skip
        if status:
            raise MemoryError("roi_align backward: out of memory")
        return grad_x, None, None, None, None, None, None


class SpatialPyramidPooling(nn.Module):
    """SPP-net pooling: a fixed-length vector from any map or region size.

    Args:
        levels: bins per side of each pyramid level, e.g. (1, 2, 4) -> 21 bins per channel.
        mode: "max" (SPP-net) or "avg".

    Forward: `spp(x)` pools whole maps Tensor[N, C, H, W] -> Tensor[N, C * sum(l*l)];
    `spp(x, rois, spatial_scale)` pools each region (Tensor[K, 5] or list of Tensor[L, 4]) with
    `roi_pool` bins (max mode only) -> Tensor[K, C * sum(l*l)]. The output holds the levels in order, each
    flattened as [C, l, l] (bins vary fastest within a channel).
    """

    def __init__(self, levels: Sequence[int] = (1, 2, 4), mode: str = "max"):
        super().__init__()
        if not levels or any(int(v) < 1 for v in levels):
            raise ValueError(f"levels must be positive bin counts, got {levels}")
        if mode not in ("max", "avg"):
            raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
        self.levels = tuple(int(v) for v in levels)
        self.mode = mode

    def output_size(self, channels: int) -> int:
        """Length of the pooled vector for `channels` input channels."""
        return channels * sum(v * v for v in self.levels)

    def forward(self, x: Tensor, rois: Tensor | Sequence[Tensor] | None = None, spatial_scale: float = 1.0) -> Tensor:
        """Pool each level to l x l bins (adaptive pooling of the whole map, or `roi_pool` of each region) and
        concatenate the flattened levels.

        Args:
            x: feature maps Tensor[N, C, H, W].
            rois: regions to pool, Tensor[K, 5] (batch index, x1, y1, x2, y2) or one Tensor[L, 4] per image;
                None pools the whole maps.
            spatial_scale: the map's size over the image's, mapping region coordinates onto `x`.

        Returns:
            Tensor[N or K, C * sum(l * l)].

        Raises:
            ValueError: regions with mode "avg".
        """
        if rois is not None:
            if self.mode != "max":
                raise ValueError("region pyramids use roi_pool and support mode='max' only")
            return torch.cat([roi_pool(x, rois, v, spatial_scale).flatten(1) for v in self.levels], 1)
        pool = F.adaptive_max_pool2d if self.mode == "max" else F.adaptive_avg_pool2d
        return torch.cat([pool(x, v).flatten(1) for v in self.levels], 1)

    def extra_repr(self) -> str:
        """The levels and mode, shown in the module's repr."""
        return f"levels={self.levels}, mode={self.mode!r}"
