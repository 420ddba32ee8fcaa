"""evaluate_detections against pycocotools' COCOeval (the oracle) and hand-computed VOC cases."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch

from dlbasic.detection.metrics import evaluate_detections

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402


def random_dataset(seed: int, n_images: int = 40, n_classes: int = 3):
    """Ground truths and detections with empty images, ties in scores, >100 detections in one image."""
    g = torch.Generator().manual_seed(seed)
    preds, targets = [], []
    for i in range(n_images):
        n_gt = int(torch.randint(0, 6, (1,), generator=g)) if i % 7 else 0  # every 7th: no ground truth
        xy = torch.rand(n_gt, 2, generator=g) * 200
        gt = torch.cat([xy, xy + 10 + torch.rand(n_gt, 2, generator=g) * 60], 1)
        gt_labels = torch.randint(1, n_classes + 1, (n_gt,), generator=g)
        n_near = n_gt * 2 if i % 5 else 0  # every 5th: no detection near objects
        n_rand = 130 if i == 3 else (int(torch.randint(0, 8, (1,), generator=g)) if i % 5 else 0)
        near_idx = torch.randint(0, max(n_gt, 1), (n_near,), generator=g)
        near = gt[near_idx] + torch.randn(n_near, 4, generator=g) * 6 if n_gt else torch.zeros(0, 4)
        near_labels = gt_labels[near_idx] if n_gt else torch.zeros(0, dtype=torch.long)
        xy = torch.rand(n_rand, 2, generator=g) * 200
        rand = torch.cat([xy, xy + 5 + torch.rand(n_rand, 2, generator=g) * 60], 1)
        # class n_classes + 1 has no ground truth
        rand_labels = torch.randint(1, n_classes + 2, (n_rand,), generator=g)
        boxes = torch.cat([near, rand])
        boxes = torch.cat([boxes[:, :2], torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)], 1)
        scores = (torch.rand(len(boxes), generator=g) * 10).floor() / 10  # many ties
        preds.append({"boxes": boxes, "scores": scores, "labels": torch.cat([near_labels, rand_labels])})
        targets.append({"boxes": gt, "labels": gt_labels})
    return preds, targets


def coco_eval(preds, targets, n_classes: int = 3) -> COCOeval:
    images, anns, dets = [], [], []
    for i, (p, t) in enumerate(zip(preds, targets), start=1):
        images.append({"id": i, "width": 300, "height": 300})
        for box, label in zip(t["boxes"].double().tolist(), t["labels"].tolist()):
            w, h = box[2] - box[0], box[3] - box[1]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": label,
                    "iscrowd": 0,
                    "bbox": [box[0], box[1], w, h],
                    "area": w * h,
                }
            )
        for box, score, label in zip(p["boxes"].double().tolist(), p["scores"].double().tolist(), p["labels"].tolist()):
            dets.append(
                {
                    "image_id": i,
                    "category_id": label,
                    "score": score,
                    "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                }
            )
    gt = COCO()
    gt.dataset = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": c, "name": str(c)} for c in range(1, n_classes + 1)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


@pytest.mark.parametrize("seed", range(6))
def test_equals_pycocotools(seed):
    preds, targets = random_dataset(seed)
    ours = evaluate_detections(preds, targets)
    ev = coco_eval(preds, targets)
    for key, index in [("map", 0), ("map_50", 1), ("map_75", 2), ("mar_1", 6), ("mar_10", 7), ("mar_100", 8)]:
        assert ours[key] == pytest.approx(ev.stats[index], abs=1e-6), key
    precision = ev.eval["precision"][:, :, :, 0, 2]  # [T, R, K] area all, 100 detections
    for k, c in enumerate(ev.params.catIds):
        assert ours["map_per_class"][c] == pytest.approx(precision[:, :, k].mean(), abs=1e-6)
    assert 4 not in ours["map_per_class"]  # detections of a class without ground truth are ignored
    assert 0.05 < ours["map"] < 0.95  # a non-trivial case


def test_perfect_and_empty():
    box = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 40.0, 30.0]])
    labels = torch.tensor([1, 2])
    perfect = evaluate_detections(
        [{"boxes": box, "scores": torch.tensor([0.5, 0.5]), "labels": labels}], [{"boxes": box, "labels": labels}]
    )
    # COCO precision is tp / (tp + fp + eps) as in pycocotools, hence 1 - 2e-16 rather than 1
    for key in ("map", "voc_map_50", "voc_map_50_11pt", "mar_100"):
        assert perfect[key] == pytest.approx(1.0, abs=1e-12), key
    empty = {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)}
    none = evaluate_detections([empty], [{"boxes": box, "labels": labels}])
    assert none["map"] == 0.0 and none["voc_map_50"] == 0.0 and none["mar_100"] == 0.0
    no_gt = evaluate_detections(
        [{"boxes": box, "scores": torch.ones(2), "labels": labels}],
        [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}],
    )
    assert no_gt["map"] == -1.0 and no_gt["map_per_class"] == {}


def test_voc_all_point_and_11_point_by_hand():
    # 2 ground truths; detections by score: TP, FP, duplicate of the first (FP in VOC), TP.
    gt = torch.tensor([[0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]])
    det = torch.tensor(
        [[0.0, 0.0, 10.0, 10.0], [100.0, 100.0, 110.0, 110.0], [0.0, 0.0, 10.0, 9.0], [50.0, 50.0, 60.0, 61.0]]
    )
    r = evaluate_detections(
        [{"boxes": det, "scores": torch.tensor([0.9, 0.8, 0.7, 0.6]), "labels": torch.zeros(4, dtype=torch.long)}],
        [{"boxes": gt, "labels": torch.zeros(2, dtype=torch.long)}],
    )
    # precision 1, 1/2, 1/3, 1/2 at recall 1/2, 1/2, 1/2, 1 -> envelope 1 up to 1/2, then 1/2
    assert r["voc_map_50"] == pytest.approx(0.5 * 1 + 0.5 * 0.5)
    assert r["voc_map_50_11pt"] == pytest.approx((6 * 1 + 5 * 0.5) / 11)
    # COCO at IoU 0.5 gives the same curve here; 101-point: 51 points at 1, 50 at 1/2
    assert r["map_50"] == pytest.approx((51 + 50 * 0.5) / 101)
