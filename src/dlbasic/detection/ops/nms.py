"""Non-maximum suppression, plain and class-aware, exactly equal to the greedy definition.

Greedy NMS (as in R-CNN, Girshick et al. 2014, https://arxiv.org/abs/1311.2524): visit boxes by
decreasing score (ties: lower index first) and keep a box unless a kept box of the same class
overlaps it with IoU > `iou_threshold`. The result is that list of kept indices, in visiting order.

On CPU, float32 and float64 boxes go to a compiled kernel (`_nms_kernel.py`: torchvision's one-pass walk, its
inner loop vectorized; `benchmarks/nms.py`: 0.05x torchvision.ops.nms's time at the RPN's 600 boxes, where the
torch version takes 1.3x), whose decisions are those of the torch version bit for bit; the torch version below
stays as the reference and the fallback (no C++ compiler, `DLBASIC_NO_NATIVE=1`, CUDA, other dtypes,
floating-point classes).

The torch version is vectorized in blocks: visit the score order `BLOCK` boxes at a time; resolve a block by greedy
selection over its boolean [block, block] IoU mask, then suppress every later live box hit by a
kept one (IoU computed only for the pairs whose extents overlap). Suppressed boxes are never
compared again (torchvision's CPU kernel skips them the same way, one box at a time). A full N x N
IoU matrix followed by the greedy pass is also exact, but was slower at 5,000 boxes in our
measurements (it compares boxes that are already suppressed); so was a global sparse variant
listing every x-overlapping pair at once.

Every path computes IoU with the arithmetic of `boxes.pairwise_inter_union`, so decisions at the
threshold are bit-identical to a literal loop. Class-aware NMS only compares boxes of equal class,
rather than torchvision's coordinate-offset trick, which changes the IoU's rounding.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from dlbasic.detection.ops import _nms_kernel

BLOCK = 256  # boxes resolved per step of the blocked strategy


def _over_matrix(b1: Tensor, b2: Tensor, thr: float) -> Tensor:
    """IoU(b1[i], b2[j]) > thr for Tensor[N, 4] x Tensor[M, 4] -> bool Tensor[N, M].

    Width and height are computed as separate [N, M] planes (the same arithmetic as an [N, M, 2] corner
    tensor, about twice as fast).
    """
    w = (torch.minimum(b1[:, None, 2], b2[None, :, 2]) - torch.maximum(b1[:, None, 0], b2[None, :, 0])).clamp_(min=0)
    h = (torch.minimum(b1[:, None, 3], b2[None, :, 3]) - torch.maximum(b1[:, None, 1], b2[None, :, 1])).clamp_(min=0)
    inter = w.mul_(h)  # [N, M]
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    return inter / (area1[:, None] + area2[None, :] - inter) > thr  # 0 / 0 = nan compares False


def _over_pairs(b1: Tensor, b2: Tensor, thr: float) -> Tensor:
    """IoU(b1[k], b2[k]) > thr for paired Tensor[P, 4] rows -> bool Tensor[P] (same arithmetic as above)."""
    w = (torch.minimum(b1[:, 2], b2[:, 2]) - torch.maximum(b1[:, 0], b2[:, 0])).clamp_(min=0)
    h = (torch.minimum(b1[:, 3], b2[:, 3]) - torch.maximum(b1[:, 1], b2[:, 1])).clamp_(min=0)
    inter = w.mul_(h)
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    return inter / (area1 + area2 - inter) > thr


def _hit_by(kept: Tensor, rest: Tensor, thr: float, same: Tensor | None) -> Tensor:
    """For each `rest` box, whether some `kept` box overlaps it with IoU > thr.

    Only pairs whose extents overlap on both axes can have IoU > 0, so IoU is computed for those pairs
    alone (a cheap [K, R] comparison first, then the arithmetic on the candidate pairs).
    """
    cand = (kept[:, None, 0] < rest[None, :, 2]) & (rest[None, :, 0] < kept[:, None, 2])  # [K, R]
    cand &= (kept[:, None, 1] < rest[None, :, 3]) & (rest[None, :, 1] < kept[:, None, 3])
    if same is not None:
        cand &= same
    i, j = cand.nonzero(as_tuple=True)
    hit = torch.zeros(len(rest), dtype=torch.bool)
    hit[j[_over_pairs(kept[i], rest[j], thr)]] = True
    return hit


def _greedy_blocked(b: Tensor, cls: Tensor | None, thr: float) -> Tensor:
    """Suppressed mask (score order), resolving BLOCK boxes per step; see the module docstring."""
    n = len(b)
    alive = torch.ones(n, dtype=torch.bool)
    for s in range(0, n, BLOCK):
        e = min(s + BLOCK, n)
        idx = s + torch.nonzero(alive[s:e])[:, 0]
        if len(idx) == 0:
            continue
        over = _over_matrix(b[idx], b[idx], thr)
        if cls is not None:
            over &= cls[idx][:, None] == cls[idx][None, :]
        over = torch.triu(over, diagonal=1).numpy()
        dead = np.zeros(len(idx), dtype=bool)
        for r in range(len(idx)):  # greedy selection inside the block
            if not dead[r]:
                dead |= over[r]
        alive[idx[torch.from_numpy(dead)]] = False
        kept = idx[torch.from_numpy(~dead)]
        rest = e + torch.nonzero(alive[e:])[:, 0]
        if len(rest) and len(kept):
            same = None if cls is None else cls[kept][:, None] == cls[rest][None, :]
            alive[rest[_hit_by(b[kept], b[rest], thr, same)]] = False
    return ~alive


def _nms(boxes: Tensor, scores: Tensor, classes: Tensor | None, iou_threshold: float) -> Tensor:
    if boxes.dim() != 2 or boxes.shape[-1] != 4 or scores.shape != boxes.shape[:1]:
        shapes = f"{tuple(boxes.shape)}, {tuple(scores.shape)}"
        raise ValueError(f"expected boxes [N, 4] and scores [N], got {shapes}")
    if not iou_threshold >= 0:
        raise ValueError(f"iou_threshold must be >= 0, got {iou_threshold}")
    if len(boxes) == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    device = boxes.device
    order = torch.argsort(scores.detach().cpu(), descending=True, stable=True)
    b = boxes.detach().cpu()[order].contiguous()
    cls = None if classes is None else classes.detach().cpu()[order]
    keep = _nms_kernel.keep_mask(b, cls, iou_threshold)
    if keep is None:
        keep = ~_greedy_blocked(b, cls, iou_threshold)
    return order[keep].to(device)


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression.

    Args:
        boxes: Tensor[N, 4] xyxy. Degenerate boxes (zero or negative width) overlap nothing.
        scores: Tensor[N]; ties are visited in index order.
        iou_threshold: a box is dropped when IoU > iou_threshold with a kept, higher-ranked box.

    Returns:
        Tensor[K] int64 indices of the kept boxes, by decreasing score.

    >>> boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [20.0, 20.0, 30.0, 30.0]])
    >>> nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)
    tensor([0, 2])
    """
    return _nms(boxes, scores, None, iou_threshold)


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """Class-aware greedy NMS: boxes of different `idxs` (classes, images) never suppress each other.

    Args:
        boxes: Tensor[N, 4] xyxy.
        scores: Tensor[N].
        idxs: Tensor[N] int64 category (or image) of each box.
        iou_threshold: as in `nms`.

    Returns:
        Tensor[K] int64 indices of the kept boxes, by decreasing score.

    >>> boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [0.0, 0.0, 10.0, 9.0]])
    >>> batched_nms(boxes, torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0, 1, 0]), 0.5)
    tensor([0, 1])
    """
    if idxs.shape != scores.shape:
        raise ValueError(f"idxs must have shape {tuple(scores.shape)}, got {tuple(idxs.shape)}")
    return _nms(boxes, scores, idxs, iou_threshold)
