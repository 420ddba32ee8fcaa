"""Detection metrics: COCO mAP@[.5:.95] (equal to pycocotools' COCOeval) and Pascal VOC AP@0.5.

Which number is which (users compare with pycocotools, torchmetrics and Ultralytics, which differ):

* `map`, `map_50`, `map_75`, `map_small`, `map_medium`, `map_large`, `mar_1`, `mar_10`, `mar_100`,
  `mar_small`, `mar_medium`, `mar_large`, `map_per_class`, `mar_100_per_class`: COCO definitions,
  as in pycocotools' `COCOeval` for bounding boxes (`stats[0..11]`; Lin et al., "Microsoft COCO",
  ECCV 2014, https://arxiv.org/abs/1405.0312). At most 100 detections per image and class
  (highest scores). Detections are matched greedily by score to the still-unmatched ground truth
  with the highest IoU >= t, for t in 0.50:0.05:0.95. Precision is made monotone (running max from
  the right) and read at the 101 recall points 0:0.01:1 (zero beyond the last recall reached); AP
  is their mean, `map` averages AP over the ten thresholds and the classes that have ground truth.
  `mar_k` is the recall with at most k detections per image and class, averaged the same way.
  A class with no (non-ignored) ground truth anywhere gets -1 in pycocotools and is left out of the
  means, here too; it is also left out of the per-class dicts, and a mean over no class is -1.
  Crowd regions and area ranges as in COCOeval:
  - a target may carry `iscrowd` (bool or int Tensor[M]) and `area` (float Tensor[M], COCO's
    annotation `area`, e.g. the segmentation area; the box area (x2-x1)*(y2-y1) when absent).
    A detection's area is always its box area.
  - area ranges (inclusive at both ends, as COCOeval): all = [0, 1e10], small = [0, 32^2],
    medium = [32^2, 96^2], large = [96^2, 1e10]. `map`, `map_50`, `map_75`, `mar_k` and the
    per-class numbers use "all"; `map_small` etc. the others.
  - a ground truth that is a crowd, or whose area is outside the range, is ignored: not counted as
    a positive, and a detection matched to it is neither TP nor FP. A detection is first matched to
    a regular ground truth; only if none is left with IoU >= t is it matched to an ignored one.
  - IoU with a crowd region is intersection / detection area, and a crowd region can match any
    number of detections (an ignored non-crowd ground truth only one).
  - an unmatched detection whose area is outside the range is ignored.
* `voc_map_50`, `voc_ap_per_class`: Pascal VOC 2010+ AP at IoU > 0.5 (Everingham et al., IJCV
  2010): all detections, each matched to its highest-IoU ground truth (a duplicate of an already
  matched box is a false positive), area under the monotone precision envelope at every recall
  change ("all-point"). `voc_map_50_11pt`, `voc_ap11_per_class`: the VOC 2007 variant, mean of the
  maximum precision at recall >= 0, 0.1, ..., 1. Boxes use continuous coordinates (no +1 pixel
  in widths, unlike the VOC devkit), and no "difficult" flags: every ground-truth box counts,
  `iscrowd` and `area` are not used.
* Ultralytics' mAP50-95 uses yet another interpolation (trapezoid over a 101-point envelope),
  so its numbers differ slightly from `map`.

Ties in scores are ordered by image, then by position within an image, as pycocotools does.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from torch import Tensor

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # exactly pycocotools' thresholds
RECALL_POINTS = np.linspace(0.0, 1.00, 101)
MAX_DETS = (1, 10, 100)
AREA_RANGES = {
    "all": (0.0, 1e5**2),
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e5**2),
}  # pycocotools' areaRng, inclusive at both ends
_AREA_LO = np.array([lo for lo, _ in AREA_RANGES.values()])
_AREA_HI = np.array([hi for _, hi in AREA_RANGES.values()])


def _outside(area: np.ndarray) -> np.ndarray:
    """[A, N] bool: area [N] outside each of the A area ranges."""
    return (area[None, :] < _AREA_LO[:, None]) | (area[None, :] > _AREA_HI[:, None])


def _iou(d: np.ndarray, g: np.ndarray, crowd: np.ndarray | None = None) -> np.ndarray:
    """IoU of float64 xyxy boxes d [D, 4] x g [G, 4] -> [D, G], as pycocotools' bbIou.

    For ground truths with `crowd` [G] set, intersection over the detection's area instead.
    """
    w = np.minimum(d[:, None, 2], g[None, :, 2]) - np.maximum(d[:, None, 0], g[None, :, 0])
    h = np.minimum(d[:, None, 3], g[None, :, 3]) - np.maximum(d[:, None, 1], g[None, :, 1])
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    da = (d[:, 2] - d[:, 0]) * (d[:, 3] - d[:, 1])
    ga = (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1])
    union = da[:, None] + ga[None, :] - inter
    if crowd is not None:
        union = np.where(crowd[None, :], da[:, None], union)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / union
    return np.where(inter > 0, iou, 0.0)


def _last_argmax(cand: np.ndarray) -> np.ndarray:
    """Per row of cand [R, G], the index of the last of equal maxima (pycocotools keeps the last)."""
    return cand.shape[1] - 1 - cand[:, ::-1].argmax(1)


def _coco_match(ious: np.ndarray, gt_ignore: np.ndarray, crowd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO greedy matching for one image and class, for all area ranges and IoU thresholds at once.

    Args:
        ious: [D, G], detections ordered by score.
        gt_ignore: [A, G] ground truth ignored in area range a (crowd, or area outside the range).
        crowd: [G] crowd regions (can match several detections).

    Returns:
        (matched, on_ignored), each [A, T, D] bool: detection d matched at threshold t in range a,
        and matched to an ignored ground truth.
    """
    n_det, n_gt = ious.shape
    n_area, n_thr = gt_ignore.shape[0], len(IOU_THRESHOLDS)
    matched = np.zeros((n_area * n_thr, n_det), dtype=bool)
    on_ignored = np.zeros((n_area * n_thr, n_det), dtype=bool)
    if n_gt and n_det:
        ignored = np.repeat(gt_ignore, n_thr, axis=0)  # [A*T, G], row a*T + t
        thr = np.tile(IOU_THRESHOLDS, n_area)[:, None]  # [A*T, 1]
        taken = np.zeros((n_area * n_thr, n_gt), dtype=bool)
        rows = np.arange(n_area * n_thr)
        # pycocotools' loop over the ground truths sorted regular-first: the best (last of equal
        # best) free regular one with IoU >= t; failing that, the best ignored one that is free or
        # a crowd. A detection with IoU < 0.5 everywhere matches nothing, so is skipped.
        for d in np.nonzero(ious.max(1) >= IOU_THRESHOLDS[0])[0]:
            high = ious[d][None, :] >= thr  # [A*T, G]
            regular = np.where(high & ~taken & ~ignored, ious[d][None, :], -1.0)
            j_reg = _last_argmax(regular)
            ok_reg = regular[rows, j_reg] >= 0
            other = np.where(high & ignored & (~taken | crowd[None, :]), ious[d][None, :], -1.0)
            j_ign = _last_argmax(other)
            ok_ign = ~ok_reg & (other[rows, j_ign] >= 0)
            j = np.where(ok_reg, j_reg, j_ign)
            ok = ok_reg | ok_ign
            taken[rows[ok], j[ok]] = True
            matched[:, d] = ok
            on_ignored[:, d] = ok_ign
    shape = (n_area, n_thr, n_det)
    return matched.reshape(shape), on_ignored.reshape(shape)


def _voc_match(ious: np.ndarray) -> np.ndarray:
    """VOC matching for one image and class (dets by score): true positive mask [D]."""
    tp = np.zeros(ious.shape[0], dtype=bool)
    if ious.shape[1] == 0:
        return tp
    j = ious.argmax(1)
    hit = np.nonzero(ious.max(1) > 0.5)[0]
    _, first = np.unique(j[hit], return_index=True)  # the best-scored claimant of each box wins
    tp[hit[first]] = True
    return tp


def _envelope(precision: np.ndarray) -> np.ndarray:
    """Running max from the right along the last axis (monotone precision)."""
    return np.flip(np.maximum.accumulate(np.flip(precision, -1), axis=-1), -1)


def _coco_class(
    scores: list[np.ndarray], matched: list[np.ndarray], ignored: list[np.ndarray], n_pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One class, as COCOeval.accumulate: precision [A, T, 101] at 100 detections, recall [A, M, T].

    Per image: scores [D] (sorted, at most 100), matched and ignored [A, T, D]; n_pos [A] the
    number of non-ignored ground truths per area range (> 0 for the ranges that are used).
    """
    n_area, n_thr = len(n_pos), len(IOU_THRESHOLDS)
    precision = np.zeros((n_area, n_thr, len(RECALL_POINTS)))
    recall = np.zeros((n_area, len(MAX_DETS), n_thr))
    denom = np.maximum(n_pos, 1).astype(float)[:, None, None]
    for k, m in enumerate(MAX_DETS):
        s = np.concatenate([x[:m] for x in scores])
        n = len(s)
        if not n:
            continue
        order = np.argsort(-s, kind="mergesort")
        hit = np.concatenate([x[..., :m] for x in matched], axis=-1)[..., order]  # [A, T, N]
        skip = np.concatenate([x[..., :m] for x in ignored], axis=-1)[..., order]
        tp = np.cumsum(hit & ~skip, axis=-1).astype(float)
        fp = np.cumsum(~hit & ~skip, axis=-1).astype(float)
        rc = tp / denom
        recall[:, k] = rc[..., -1]
        if m != MAX_DETS[-1]:
            continue
        pr = _envelope(tp / (fp + tp + np.spacing(1)))
        for a in range(n_area):
            for t in range(n_thr):
                idx = np.searchsorted(rc[a, t], RECALL_POINTS, side="left")
                valid = idx < n
                precision[a, t, valid] = pr[a, t, idx[valid]]
    return precision, recall


def _voc_class(scores: list[np.ndarray], tps: list[np.ndarray], n_gt: int) -> tuple[float, float]:
    """(all-point AP, 11-point AP) for one class from per-image scores and true-positive masks."""
    s = np.concatenate(scores)
    tp_mask = np.concatenate(tps)[np.argsort(-s, kind="mergesort")]
    tp = np.cumsum(tp_mask).astype(float)
    fp = np.cumsum(~tp_mask).astype(float)
    rec = tp / n_gt
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = _envelope(np.concatenate([[0.0], prec, [0.0]]))
    change = np.nonzero(mrec[1:] != mrec[:-1])[0]
    all_point = float(np.sum((mrec[change + 1] - mrec[change]) * mpre[change + 1]))
    eleven = [prec[rec >= t].max() if np.any(rec >= t) else 0.0 for t in np.linspace(0, 1, 11)]
    return all_point, float(np.mean(eleven))


def _numpy(t: Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _target_extras(target: dict[str, Tensor], g_boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(crowd [M] bool, area [M] float64) of a target: `iscrowd` (default False), `area` (default box area)."""
    n = len(g_boxes)
    crowd = target.get("iscrowd")
    crowd = np.zeros(n, dtype=bool) if crowd is None else crowd.detach().cpu().numpy().reshape(-1) != 0
    area = target.get("area")
    if area is None:
        area = (g_boxes[:, 2] - g_boxes[:, 0]) * (g_boxes[:, 3] - g_boxes[:, 1])
    else:
        area = _numpy(area).reshape(-1)
    if len(crowd) != n or len(area) != n:
        raise ValueError(f"target with {n} boxes has {len(crowd)} iscrowd flags and {len(area)} areas")
    return crowd, area


def evaluate_detections(preds: list[dict[str, Tensor]], targets: list[dict[str, Tensor]]) -> dict:
    """COCO and Pascal VOC detection metrics (definitions in the module docstring).

    Args:
        preds: one dict per image with `boxes` Tensor[N, 4] (xyxy pixels), `scores` Tensor[N],
            `labels` Tensor[N] int64.
        targets: one dict per image with `boxes` Tensor[M, 4] (xyxy pixels), `labels` Tensor[M],
            optional `iscrowd` bool or int Tensor[M] and `area` float Tensor[M] (COCO metrics only).

    Returns:
        dict with floats `map`, `map_50`, `map_75`, `map_small`, `map_medium`, `map_large`, `mar_1`,
        `mar_10`, `mar_100`, `mar_small`, `mar_medium`, `mar_large`, `voc_map_50`,
        `voc_map_50_11pt`, and dicts label -> float `map_per_class`, `mar_100_per_class` (classes
        with non-crowd ground truth), `voc_ap_per_class`, `voc_ap11_per_class` (classes with
        ground truth). A mean over no class is -1, as in pycocotools.

    >>> import torch
    >>> box = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    >>> r = evaluate_detections([{"boxes": box, "scores": torch.tensor([0.9]), "labels": torch.tensor([1])}],
    ...                         [{"boxes": box, "labels": torch.tensor([1])}])
    >>> round(r["map"], 6), round(r["map_small"], 6), r["map_medium"], r["voc_map_50"]
    (1.0, 1.0, -1.0, 1.0)
    """
    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} predictions for {len(targets)} images")
    m = _match_images(preds, targets)
    coco = {c: _coco_class(m.coco_scores[c], m.coco_matched[c], m.coco_ignored[c], m.n_pos[c]) for c in m.n_pos}
    voc_classes = sorted(c for c in m.n_gt if m.n_gt[c] > 0)
    voc = {c: _voc_class(m.voc_scores[c], m.voc_tp[c], m.n_gt[c]) for c in voc_classes}
    return _summary(coco, voc, m.n_pos, voc_classes)


@dataclass
class _Matches:
    """Per class, image by image: COCO's scores, matches and ignored flags of the top detections, VOC's scores and
    true positives, and the counts of ground truth (every box for VOC; non-ignored by area range for COCO)."""

    coco_scores: dict = field(default_factory=lambda: defaultdict(list))
    coco_matched: dict = field(default_factory=lambda: defaultdict(list))
    coco_ignored: dict = field(default_factory=lambda: defaultdict(list))
    voc_scores: dict = field(default_factory=lambda: defaultdict(list))
    voc_tp: dict = field(default_factory=lambda: defaultdict(list))
    n_gt: dict = field(default_factory=lambda: defaultdict(int))
    n_pos: dict = field(default_factory=lambda: defaultdict(lambda: np.zeros(len(AREA_RANGES), dtype=np.int64)))


def _match_images(preds: list[dict[str, Tensor]], targets: list[dict[str, Tensor]]) -> _Matches:
    """Match each image's detections to its ground truth, class by class, by VOC's and COCO's rules."""
    m = _Matches()
    for pred, target in zip(preds, targets):
        d_boxes, d_scores = _numpy(pred["boxes"]).reshape(-1, 4), _numpy(pred["scores"]).reshape(-1)
        d_labels = pred["labels"].detach().cpu().numpy().reshape(-1)
        g_boxes, g_labels = _numpy(target["boxes"]).reshape(-1, 4), target["labels"].cpu().numpy().reshape(-1)
        g_crowd, g_area = _target_extras(target, g_boxes)
        d_area = (d_boxes[:, 2] - d_boxes[:, 0]) * (d_boxes[:, 3] - d_boxes[:, 1])
        for c in np.union1d(d_labels, g_labels).tolist():
            in_class = g_labels == c
            g, crowd = g_boxes[in_class], g_crowd[in_class]
            g_ignore = crowd[None, :] | _outside(g_area[in_class])  # [A, G]
            sel = np.nonzero(d_labels == c)[0]
            sel = sel[np.argsort(-d_scores[sel], kind="mergesort")]
            m.n_gt[c] += len(g)
            m.n_pos[c] += (~g_ignore).sum(1)
            voc_ious = _iou(d_boxes[sel], g)
            m.voc_scores[c].append(d_scores[sel])
            m.voc_tp[c].append(_voc_match(voc_ious))
            top = sel[: MAX_DETS[-1]]
            coco_ious = _iou(d_boxes[top], g, crowd) if crowd.any() else voc_ious[: len(top)]
            matched, on_ignored = _coco_match(coco_ious, g_ignore, crowd)
            m.coco_scores[c].append(d_scores[top])
            m.coco_matched[c].append(matched)
            m.coco_ignored[c].append(on_ignored | (~matched & _outside(d_area[top])[:, None, :]))
    return m


def _summary(coco: dict, voc: dict, n_pos: dict, voc_classes: list[int]) -> dict:
    """The metrics of `evaluate_detections` from each class's COCO (precision, recall) and VOC (AP, AP11)."""

    def mean(values: list) -> float:
        return float(np.mean(values)) if len(values) else -1.0

    def with_gt(a: int) -> list[int]:  # pycocotools' precision and recall are -1 for the others
        return sorted(c for c in coco if n_pos[c][a] > 0)

    def ap(a: int, t: slice | int = slice(None)) -> float:  # one mean over all entries, as pycocotools
        return mean(np.stack([coco[c][0][a, t] for c in with_gt(a)]) if with_gt(a) else [])

    def ar(a: int, k: int = len(MAX_DETS) - 1) -> float:
        return mean(np.stack([coco[c][1][a, k] for c in with_gt(a)]) if with_gt(a) else [])

    return {
        "map": ap(0),
        "map_50": ap(0, 0),
        "map_75": ap(0, 5),
        **{f"map_{name}": ap(a) for a, name in enumerate(AREA_RANGES) if a},
        **{f"mar_{m}": ar(0, k) for k, m in enumerate(MAX_DETS)},
        **{f"mar_{name}": ar(a) for a, name in enumerate(AREA_RANGES) if a},
        "map_per_class": {c: float(coco[c][0][0].mean()) for c in with_gt(0)},
        "mar_100_per_class": {c: float(coco[c][1][0, -1].mean()) for c in with_gt(0)},
        "voc_map_50": mean([voc[c][0] for c in voc_classes]),
        "voc_map_50_11pt": mean([voc[c][1] for c in voc_classes]),
        "voc_ap_per_class": {c: voc[c][0] for c in voc_classes},
        "voc_ap11_per_class": {c: voc[c][1] for c in voc_classes},
    }
