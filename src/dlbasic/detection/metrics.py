"""Detection metrics: COCO mAP@[.5:.95] (equal to pycocotools' COCOeval) and Pascal VOC AP@0.5.

Which number is which (users compare with pycocotools, torchmetrics and Ultralytics, which differ):

* `map`, `map_50`, `map_75`, `mar_1`, `mar_10`, `mar_100`, `map_per_class`, `mar_100_per_class`:
  COCO definitions, as in pycocotools' `COCOeval` for bounding boxes with area range "all"
  (Lin et al., "Microsoft COCO", ECCV 2014, https://arxiv.org/abs/1405.0312). At most 100
  detections per image and class (highest scores). Detections are matched greedily by score to
  the still-unmatched ground truth with the highest IoU >= t, for t in 0.50:0.05:0.95.
  Precision is made monotone (running max from the right) and read at the 101 recall points
  0:0.01:1 (zero beyond the last recall reached); AP is their mean, `map` averages AP over the
  ten thresholds and the classes that have ground truth. `mar_k` is the recall with at most k
  detections per image and class, averaged the same way. A class with no ground truth anywhere
  gets -1 and is left out of the means (pycocotools does the same); `map` is -1 if none has any.
  No crowd or area-range handling: every ground-truth box counts.
* `voc_map_50`, `voc_ap_per_class`: Pascal VOC 2010+ AP at IoU > 0.5 (Everingham et al., IJCV
  2010): all detections, each matched to its highest-IoU ground truth (a duplicate of an already
  matched box is a false positive), area under the monotone precision envelope at every recall
  change ("all-point"). `voc_map_50_11pt`, `voc_ap11_per_class`: the VOC 2007 variant, mean of the
  maximum precision at recall >= 0, 0.1, ..., 1. Boxes use continuous coordinates (no +1 pixel
  in widths, unlike the VOC devkit), and no "difficult" flags.
* Ultralytics' mAP50-95 uses yet another interpolation (trapezoid over a 101-point envelope),
  so its numbers differ slightly from `map`.

Ties in scores are ordered by image, then by position within an image, as pycocotools does.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from torch import Tensor

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # exactly pycocotools' thresholds
RECALL_POINTS = np.linspace(0.0, 1.00, 101)
MAX_DETS = (1, 10, 100)


def _iou(d: np.ndarray, g: np.ndarray) -> np.ndarray:
    """IoU of float64 xyxy boxes d [D, 4] x g [G, 4] -> [D, G], as pycocotools' bbIou."""
    w = np.minimum(d[:, None, 2], g[None, :, 2]) - np.maximum(d[:, None, 0], g[None, :, 0])
    h = np.minimum(d[:, None, 3], g[None, :, 3]) - np.maximum(d[:, None, 1], g[None, :, 1])
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    da = (d[:, 2] - d[:, 0]) * (d[:, 3] - d[:, 1])
    ga = (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / (da[:, None] + ga[None, :] - inter)
    return np.where(inter > 0, iou, 0.0)


def _coco_match(ious: np.ndarray) -> np.ndarray:
    """COCO greedy matching for one image and class: ious [D, G] (dets by score) -> matched [T, D] bool."""
    n_det, n_gt = ious.shape
    det_matched = np.zeros((len(IOU_THRESHOLDS), n_det), dtype=bool)
    if n_gt == 0:
        return det_matched
    gt_taken = np.zeros((len(IOU_THRESHOLDS), n_gt), dtype=bool)
    rows = np.arange(len(IOU_THRESHOLDS))
    best = ious.max(1)
    for d in np.nonzero(best >= IOU_THRESHOLDS[0])[0]:  # others match at no threshold
        too_low = ious[d][None, :] < IOU_THRESHOLDS[:, None]  # [T, G]
        cand = np.where(gt_taken | too_low, -1.0, ious[d][None, :])  # [T, G]
        j = n_gt - 1 - cand[:, ::-1].argmax(1)  # the last of equal best IoUs, as pycocotools
        ok = cand[rows, j] >= 0
        gt_taken[rows[ok], j[ok]] = True
        det_matched[ok, d] = True
    return det_matched


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


def _coco_class(scores: list[np.ndarray], matched: list[np.ndarray], n_gt: int) -> dict[int, tuple]:
    """Per max-detections m: (precision [T, 101], recall [T]) for one class, as COCOeval.accumulate."""
    out = {}
    for m in MAX_DETS:
        s = np.concatenate([x[:m] for x in scores])
        order = np.argsort(-s, kind="mergesort")
        tps = np.concatenate([x[:, :m] for x in matched], axis=1)[:, order]  # [T, D]
        tp = np.cumsum(tps, axis=1).astype(float)
        fp = np.cumsum(~tps, axis=1).astype(float)
        n = tps.shape[1]
        q = np.zeros((len(IOU_THRESHOLDS), len(RECALL_POINTS)))
        recall = np.zeros(len(IOU_THRESHOLDS))
        if n:
            rc = tp / n_gt
            pr = _envelope(tp / (fp + tp + np.spacing(1)))
            recall = rc[:, -1]
            for t in range(len(IOU_THRESHOLDS)):
                idx = np.searchsorted(rc[t], RECALL_POINTS, side="left")
                valid = idx < n
                q[t, valid] = pr[t, idx[valid]]
        out[m] = (q, recall)
    return out


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


def evaluate_detections(preds: list[dict[str, Tensor]], targets: list[dict[str, Tensor]]) -> dict:
    """COCO and Pascal VOC detection metrics (definitions in the module docstring).

    Args:
        preds: one dict per image with `boxes` Tensor[N, 4] (xyxy pixels), `scores` Tensor[N],
            `labels` Tensor[N] int64.
        targets: one dict per image with `boxes` Tensor[M, 4] (xyxy pixels), `labels` Tensor[M].

    Returns:
        dict with floats `map`, `map_50`, `map_75`, `mar_1`, `mar_10`, `mar_100`, `voc_map_50`,
        `voc_map_50_11pt`, and dicts label -> float `map_per_class`, `mar_100_per_class`,
        `voc_ap_per_class`, `voc_ap11_per_class` (classes with ground truth only).

    >>> import torch
    >>> box = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    >>> r = evaluate_detections([{"boxes": box, "scores": torch.tensor([0.9]), "labels": torch.tensor([1])}],
    ...                         [{"boxes": box, "labels": torch.tensor([1])}])
    >>> round(r["map"], 6), r["voc_map_50"]
    (1.0, 1.0)
    """
    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} predictions for {len(targets)} images")
    coco_scores, coco_matched = defaultdict(list), defaultdict(list)
    voc_scores, voc_tp = defaultdict(list), defaultdict(list)
    n_gt: dict[int, int] = defaultdict(int)
    for pred, target in zip(preds, targets):
        d_boxes, d_scores = _numpy(pred["boxes"]).reshape(-1, 4), _numpy(pred["scores"]).reshape(-1)
        d_labels = pred["labels"].detach().cpu().numpy().reshape(-1)
        g_boxes, g_labels = _numpy(target["boxes"]).reshape(-1, 4), target["labels"].cpu().numpy().reshape(-1)
        for c in np.union1d(d_labels, g_labels).tolist():
            g = g_boxes[g_labels == c]
            sel = np.nonzero(d_labels == c)[0]
            sel = sel[np.argsort(-d_scores[sel], kind="mergesort")]
            n_gt[c] += len(g)
            voc_ious = _iou(d_boxes[sel], g)
            voc_scores[c].append(d_scores[sel])
            voc_tp[c].append(_voc_match(voc_ious))
            top = sel[: MAX_DETS[-1]]
            coco_scores[c].append(d_scores[top])
            coco_matched[c].append(_coco_match(voc_ious[: len(top)]))
    classes = sorted(c for c in n_gt if n_gt[c] > 0)
    per_class = {c: _coco_class(coco_scores[c], coco_matched[c], n_gt[c]) for c in classes}
    voc = {c: _voc_class(voc_scores[c], voc_tp[c], n_gt[c]) for c in classes}

    def mean(values: list) -> float:
        return float(np.mean(values)) if len(values) else -1.0

    prec = np.stack([per_class[c][MAX_DETS[-1]][0] for c in classes]) if classes else np.zeros((0, 10, 101))
    result = {
        "map": mean(prec),
        "map_50": mean(prec[:, 0]),
        "map_75": mean(prec[:, 5]),
        **{f"mar_{m}": mean([per_class[c][m][1] for c in classes]) for m in MAX_DETS},
        "map_per_class": {c: float(per_class[c][MAX_DETS[-1]][0].mean()) for c in classes},
        "mar_100_per_class": {c: float(per_class[c][MAX_DETS[-1]][1].mean()) for c in classes},
        "voc_map_50": mean([voc[c][0] for c in classes]),
        "voc_map_50_11pt": mean([voc[c][1] for c in classes]),
        "voc_ap_per_class": {c: voc[c][0] for c in classes},
        "voc_ap11_per_class": {c: voc[c][1] for c in classes},
    }
    return result
