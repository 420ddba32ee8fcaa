"""Mixup and CutMix: train on mixtures of pairs of images with correspondingly mixed soft targets.

- Mixup: Zhang, Cisse, Dauphin & Lopez-Paz, "mixup: Beyond Empirical Risk Minimization", 2017,
  https://arxiv.org/abs/1710.09412. x = lam * x_i + (1 - lam) * x_j, y = lam * y_i + (1 - lam) * y_j,
  lam ~ Beta(alpha, alpha).
- CutMix: Yun, Han, Oh, Chun, Choe & Yoo, "CutMix: Regularization Strategy to Train Strong Classifiers
  with Localizable Features", 2019, https://arxiv.org/abs/1905.04899. A box of x_j is pasted into x_i;
  lam ~ Beta(alpha, alpha), box sides sqrt(1 - lam) * (H, W), centre uniform over the image, clipped at the
  border; lam is then corrected to the fraction of x_i's own pixels that remain, 1 - box area / (H W).

Structure after timm's `data/mixup.py` (pure functions, then a class): `sample_beta`, `partner_index`,
`rand_box`, `box_mask`, `box_lambda`, `mixup_images`, `cutmix_images`, `mixup_target`, and `Mix`, a
batch transform `(x, y, generator) -> (x, soft_targets)` with Mixup/CutMix switching, an application
probability and one lam per batch or per sample. Differences from timm: every random draw comes from the
`torch.Generator` passed in (Beta through Marsaglia-Tsang gamma sampling), partners are a random cyclic
order (every sample is mixed with a different one, odd batch sizes included) rather than the reversed
batch, and per-sample CutMix is batched through a box mask instead of a loop over samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from dlbasic.errors import check
from dlbasic.regularization.smoothing import to_soft_targets


def _gamma_log(shape: float, count: int, generator: torch.Generator) -> Tensor:
    """log of Gamma(shape, 1) samples, Tensor[count] float64.

    Marsaglia & Tsang (2000), "A Simple Method for Generating Gamma Variables": for a >= 1, d = a - 1/3,
    c = 1 / sqrt(9 d), accept v = (1 + c z)^3 when log u < z^2 / 2 + d - d v + d log v; then d v ~ Gamma(a).
    For a < 1, Gamma(a) = Gamma(a + 1) * u^(1/a), kept in log space so tiny values do not underflow.
    """
    a = shape + 1.0 if shape < 1.0 else shape
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    out = torch.empty(count, dtype=torch.float64)
    pending = torch.arange(count)
    while pending.numel() > 0:  # acceptance rate > 95 %: one or two rounds
        z = torch.randn(pending.numel(), generator=generator, dtype=torch.float64)
        u = torch.rand(pending.numel(), generator=generator, dtype=torch.float64)
        v = (1.0 + c * z) ** 3
        log_v = torch.log(v.clamp_min(1e-300))
        ok = (v > 0) & (torch.log(u) < 0.5 * z * z + d - d * v + d * log_v)
        out[pending[ok]] = math.log(d) + log_v[ok]
        pending = pending[~ok]
    if shape < 1.0:
        u = torch.rand(count, generator=generator, dtype=torch.float64)
        out = out + torch.log(u) / shape
    return out


def sample_beta(alpha: float, count: int, generator: torch.Generator) -> Tensor:
    """Tensor[count] float64 of Beta(alpha, alpha) draws: X / (X + Y) with X, Y ~ Gamma(alpha)."""
    check(alpha > 0, f"Beta(alpha, alpha) needs alpha > 0, got {alpha}")
    log_x = _gamma_log(alpha, count, generator)
    log_y = _gamma_log(alpha, count, generator)
    return torch.sigmoid(log_x - log_y)  # X / (X + Y) = 1 / (1 + exp(log Y - log X))


def partner_index(batch: int, generator: torch.Generator) -> Tensor:
    """Tensor[B] int64: sample i is mixed with sample index[i], the next one in a random cyclic order,
    so no sample is paired with itself when B >= 2 (any B, odd included)."""
    order = torch.randperm(batch, generator=generator)
    index = torch.empty(batch, dtype=torch.long)
    index[order] = order.roll(-1)  # order[k] -> order[k + 1]
    return index


def rand_box(height: int, width: int, lam: Tensor, generator: torch.Generator) -> Tensor:
    """CutMix boxes, Tensor[N, 4] int64 xyxy in pixels (half-open: rows y1..y2-1, columns x1..x2-1).

    Box sides floor(sqrt(1 - lam) * (H, W)), centre uniform over the pixel grid, then clipped to the image,
    so the area can be smaller than (1 - lam) H W; `box_lambda` gives the corrected lam. Below, a 5 x 5
    box centred at (x, y) = (9, 4) is clipped at the right border to 3 x 5.

    Args:
        lam: Tensor[N] float lambdas in [0, 1].

    >>> rand_box(10, 10, torch.tensor([0.75]), torch.Generator().manual_seed(0)).tolist()
    [[7, 2, 10, 7]]
    """
    n = lam.numel()
    ratio = torch.sqrt(1.0 - lam.double())  # side fraction: (side / H)^2 = 1 - lam before clipping
    cut_h = torch.floor(height * ratio).long()
    cut_w = torch.floor(width * ratio).long()
    cy = torch.randint(0, height, (n,), generator=generator)
    cx = torch.randint(0, width, (n,), generator=generator)
    y1, x1 = cy - cut_h // 2, cx - cut_w // 2
    y2, x2 = y1 + cut_h, x1 + cut_w
    boxes = torch.stack([x1.clamp(0, width), y1.clamp(0, height), x2.clamp(0, width), y2.clamp(0, height)], 1)
    return boxes  # (N, 4)


def box_mask(boxes: Tensor, height: int, width: int) -> Tensor:
    """Tensor[N, 1, H, W] bool, True inside each half-open xyxy box of Tensor[N, 4]."""
    ys = torch.arange(height, device=boxes.device).view(1, height, 1)
    xs = torch.arange(width, device=boxes.device).view(1, 1, width)
    x1, y1, x2, y2 = (boxes[:, k].view(-1, 1, 1) for k in range(4))
    return ((ys >= y1) & (ys < y2) & (xs >= x1) & (xs < x2)).unsqueeze(1)


def box_lambda(boxes: Tensor, height: int, width: int) -> Tensor:
    """Corrected CutMix lam, Tensor[N] float64: the fraction of own pixels, (H W - box area) / (H W).

    >>> box_lambda(torch.tensor([[7, 2, 10, 7]]), 10, 10)  # the clipped 3 x 5 box: 1 - 15 / 100
    tensor([0.8500], dtype=torch.float64)
    """
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return (height * width - area).double() / (height * width)


def mixup_images(x: Tensor, lam: Tensor, index: Tensor) -> Tensor:
    """lam_i * x_i + (1 - lam_i) * x_index[i]; x Tensor[B, C, H, W], lam Tensor[B]."""
    w = lam.to(x.device, x.dtype).view(-1, 1, 1, 1)
    return w * x + (1.0 - w) * x[index.to(x.device)]


def cutmix_images(x: Tensor, boxes: Tensor, index: Tensor) -> Tensor:
    """x_i with the pixels of box i taken from x_index[i]; boxes Tensor[B, 4] (empty boxes paste nothing)."""
    mask = box_mask(boxes.to(x.device), x.shape[-2], x.shape[-1])
    return torch.where(mask, x[index.to(x.device)], x)


def mixup_target(
    target: Tensor,
    num_classes: int,
    lam: Tensor,
    index: Tensor,
    smoothing: float = 0.0,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Soft targets Tensor[B, K]: lam_i * t_i + (1 - lam_i) * t_index[i], where t is the (smoothed)
    one-hot of hard labels Tensor[B] or the given soft targets Tensor[B, K]. Rows sum to 1."""
    t = to_soft_targets(target, num_classes, smoothing, torch.float64)
    w = lam.to(t.device, torch.float64).view(-1, 1)
    return (w * t + (1.0 - w) * t[index.to(t.device)]).to(dtype)


@dataclass
class MixParams:
    """What one call of `Mix` drew for a batch of B samples.

    Attributes:
        lam: Tensor[B] float64, weight of each sample's own image and target (1 where nothing was mixed;
            for CutMix the corrected lam).
        boxes: Tensor[B, 4] int64 xyxy CutMix boxes (all zeros for samples not cut-mixed).
        cutmix: Tensor[B] bool, which samples used CutMix.
        index: Tensor[B] int64 partner of each sample.
    """

    lam: Tensor
    boxes: Tensor
    cutmix: Tensor
    index: Tensor


class Mix:
    """Mixup / CutMix batch transform: `(x, y, generator) -> (x_mixed, soft_targets)`.

    Args:
        mixup_alpha: Beta parameter of Mixup; 0 disables Mixup.
        cutmix_alpha: Beta parameter of CutMix; 0 disables CutMix.
        prob: probability that a batch (or a sample, if `per_sample`) is mixed at all.
        switch_prob: probability of CutMix rather than Mixup when both are enabled.
        per_sample: one lam (and Mixup/CutMix choice and box) per sample instead of one per batch.
        label_smoothing: epsilon applied to the targets before mixing.
        num_classes: K, the width of the soft targets.
    """

    def __init__(
        self,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        prob: float = 1.0,
        switch_prob: float = 0.5,
        per_sample: bool = False,
        label_smoothing: float = 0.0,
        num_classes: int = 10,
    ):
        check(
            mixup_alpha >= 0 and cutmix_alpha >= 0,
            f"mixup/cutmix alpha must be >= 0, got {mixup_alpha} and {cutmix_alpha}",
        )
        check(
            mixup_alpha > 0 or cutmix_alpha > 0,
            "Mix needs mixup_alpha > 0 or cutmix_alpha > 0",
            "for example --mixup 0.2 or --cutmix 1.0",
        )
        check(0.0 <= prob <= 1.0, f"mix probability must be in [0, 1], got {prob}")
        check(0.0 <= switch_prob <= 1.0, f"switch probability must be in [0, 1], got {switch_prob}")
        check(0.0 <= label_smoothing < 1.0, f"label smoothing must be in [0, 1), got {label_smoothing}")
        check(num_classes >= 1, f"num_classes must be >= 1, got {num_classes}")
        self.mixup_alpha, self.cutmix_alpha = mixup_alpha, cutmix_alpha
        self.prob, self.switch_prob, self.per_sample = prob, switch_prob, per_sample
        self.label_smoothing, self.num_classes = label_smoothing, num_classes

    def sample(self, batch: int, height: int, width: int, generator: torch.Generator) -> MixParams:
        """Draw lam, CutMix boxes and partners for a batch (one draw shared by the batch unless
        `per_sample`)."""
        n = batch if self.per_sample else 1
        applied = torch.rand(n, generator=generator, dtype=torch.float64) < self.prob
        if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
            cutmix = torch.rand(n, generator=generator, dtype=torch.float64) < self.switch_prob
        else:
            cutmix = torch.full((n,), self.cutmix_alpha > 0)
        ones = torch.ones(n, dtype=torch.float64)
        lam_mix = sample_beta(self.mixup_alpha, n, generator) if self.mixup_alpha > 0 else ones
        lam_cut = sample_beta(self.cutmix_alpha, n, generator) if self.cutmix_alpha > 0 else ones
        boxes = rand_box(height, width, lam_cut, generator)
        cutmix = cutmix & applied
        boxes = torch.where(cutmix.view(-1, 1), boxes, torch.zeros_like(boxes))  # no box, no paste
        lam_cut = box_lambda(boxes, height, width)  # the area actually pasted
        lam = torch.where(applied, torch.where(cutmix, lam_cut, lam_mix), ones)
        if n != batch:  # one draw for the whole batch
            lam, boxes, cutmix = lam.expand(batch), boxes.expand(batch, 4), cutmix.expand(batch)
        return MixParams(lam, boxes, cutmix, partner_index(batch, generator))

    def apply(self, x: Tensor, y: Tensor, params: MixParams) -> tuple[Tensor, Tensor]:
        """Mix images Tensor[B, C, H, W] and targets (Tensor[B] labels or Tensor[B, K]) with drawn params."""
        p = params  # drawn on the CPU; moved to the data's device here
        lam_mixup = torch.where(p.cutmix, torch.ones_like(p.lam), p.lam)
        source = x[p.index.to(x.device)]  # (B, C, H, W) partners
        out = x
        if bool((lam_mixup < 1).any()):
            w = lam_mixup.to(x.device, x.dtype).view(-1, 1, 1, 1)
            out = w * x + (1.0 - w) * source  # as mixup_images; CutMix samples have w = 1, keep x
        if bool(p.cutmix.any()):
            out = torch.where(box_mask(p.boxes.to(x.device), x.shape[-2], x.shape[-1]), source, out)
        dtype = x.dtype if x.is_floating_point() else torch.float32
        target = mixup_target(y, self.num_classes, p.lam, p.index, self.label_smoothing, dtype)
        return out, target

    def __call__(self, x: Tensor, y: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return self.apply(x, y, self.sample(x.shape[0], x.shape[-2], x.shape[-1], generator))

    def __repr__(self) -> str:
        return (
            f"Mix(mixup_alpha={self.mixup_alpha}, cutmix_alpha={self.cutmix_alpha}, prob={self.prob}, "
            f"switch_prob={self.switch_prob}, per_sample={self.per_sample}, "
            f"label_smoothing={self.label_smoothing}, num_classes={self.num_classes})"
        )


__all__ = [
    "Mix",
    "MixParams",
    "box_lambda",
    "box_mask",
    "cutmix_images",
    "mixup_images",
    "mixup_target",
    "partner_index",
    "rand_box",
    "sample_beta",
]
