"""evaluate_detections with crowd regions and COCO area ranges, against pycocotools' COCOeval."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch

from dlbasic.detection.metrics import evaluate_detections

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

N_CLASSES = 4  # class 4 has crowd ground truth only (-1 in COCOeval); class 5 has detections only
STATS = [
    "map",
    "map_50",
    "map_75",
    "map_small",
    "map_medium",
    "map_large",
    "mar_1",
    "mar_10",
    "mar_100",
    "mar_small",
    "mar_medium",
    "mar_large",
]  # COCOeval.stats order


def _boxes(n: int, g: torch.Generator, size: float = 400.0) -> torch.Tensor:
    """n boxes with log-uniform sides 6..240 px: areas in all three COCO ranges."""
    wh = torch.exp(torch.empty(n, 2).uniform_(1.8, 5.5, generator=g))
    xy = torch.rand(n, 2, generator=g) * (size - wh)
    return torch.cat([xy, xy + wh], 1)


def crowd_dataset(seed: int, n_images: int = 36):
    """Images with regular and crowd ground truths, given `area`s on some images, and detections:
    jittered copies of ground truths (several inside crowd regions), random boxes, ties in scores,
    images without ground truth or without detections, and one image with more than 100 detections."""
    g = torch.Generator().manual_seed(seed)
    preds, targets = [], []
    for i in range(n_images):
        n_gt = int(torch.randint(1, 8, (1,), generator=g)) if i % 6 else 0  # every 6th: no ground truth
        gt = _boxes(n_gt, g)
        labels = torch.randint(1, N_CLASSES + (i % 3 != 2), (n_gt,), generator=g)  # no crowd flags: no class 4
        crowd = (torch.rand(n_gt, generator=g) < 0.2) | (labels == N_CLASSES)
        target = {"boxes": gt, "labels": labels}
        if i % 3 == 0:
            target["iscrowd"] = crowd  # bool
        elif i % 3 == 1:
            target["iscrowd"] = crowd.long()  # int
        else:
            assert "iscrowd" not in target
            crowd = torch.zeros(n_gt, dtype=torch.bool)
        if i % 2:  # a segmentation-like area, smaller than the box's
            target["area"] = (gt[:, 2:] - gt[:, :2]).prod(1) * torch.empty(n_gt).uniform_(0.3, 1.0, generator=g)
        targets.append(target)

        n_near = 0 if i % 5 == 0 or not n_gt else 3 * n_gt  # every 5th: no detection near objects
        idx = torch.randint(0, max(n_gt, 1), (n_near,), generator=g)
        if n_near:
            wh = gt[idx, 2:] - gt[idx, :2]
            near = gt[idx] + torch.randn(n_near, 4, generator=g) * wh.repeat(1, 2) * 0.08
            in_crowd = crowd[idx]  # a box inside each crowd region too
            inner = gt[idx, :2] + torch.rand(n_near, 2, generator=g) * 0.5 * wh
            inner = torch.cat([inner, inner + (0.2 + 0.3 * torch.rand(n_near, 2, generator=g)) * wh], 1)
            near = torch.where(in_crowd[:, None] & (torch.rand(n_near, 1, generator=g) < 0.5), inner, near)
            near_labels = labels[idx]
        else:
            near, near_labels = torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)
        n_rand = 120 if i == 4 else (int(torch.randint(0, 6, (1,), generator=g)) if i % 5 else 0)
        rand = _boxes(n_rand, g)
        boxes = torch.cat([near, rand])
        boxes = torch.cat([boxes[:, :2], torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)], 1)
        rand_labels = torch.randint(1, N_CLASSES + 2, (n_rand,), generator=g)
        scores = (torch.rand(len(boxes), generator=g) * 20).floor() / 20  # ties
        preds.append({"boxes": boxes, "scores": scores, "labels": torch.cat([near_labels, rand_labels])})
    return preds, targets


def coco_eval(preds, targets, n_classes: int = N_CLASSES) -> COCOeval:
    """COCOeval for bounding boxes on the same data, built in memory, its prints silenced."""
    images, anns, dets = [], [], []
    for i, (p, t) in enumerate(zip(preds, targets), start=1):
        images.append({"id": i, "width": 400, "height": 400})
        boxes = t["boxes"].double().tolist()
        crowd = t.get("iscrowd", torch.zeros(len(boxes))).long().tolist()
        areas = t["area"].double().tolist() if "area" in t else [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
        for box, label, z, area in zip(boxes, t["labels"].tolist(), crowd, areas):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": label,
                    "iscrowd": z,
                    "area": area,
                    "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
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


def max_difference(ours: dict, ev: COCOeval) -> float:
    diffs = [abs(ours[key] - ev.stats[k]) for k, key in enumerate(STATS)]
    precision = ev.eval["precision"][:, :, :, 0, 2]  # [T, R, K] area all, 100 detections
    recall = ev.eval["recall"][:, :, 0, 2]  # [T, K]
    for k, c in enumerate(ev.params.catIds):
        if precision[0, 0, k] > -1:
            diffs.append(abs(ours["map_per_class"][c] - precision[:, :, k].mean()))
            diffs.append(abs(ours["mar_100_per_class"][c] - recall[:, k].mean()))
        else:
            assert c not in ours["map_per_class"] and c not in ours["mar_100_per_class"]
    return max(diffs)


@pytest.mark.parametrize("seed", range(5))
def test_crowd_and_area_ranges_equal_pycocotools(seed):
    preds, targets = crowd_dataset(seed)
    ours, ev = evaluate_detections(preds, targets), coco_eval(preds, targets)
    assert max_difference(ours, ev) < 1e-6, {k: (ours[k], ev.stats[i]) for i, k in enumerate(STATS)}
    assert N_CLASSES not in ours["map_per_class"]  # crowd ground truth only: -1 in COCOeval, left out
    assert N_CLASSES + 1 not in ours["map_per_class"]  # no ground truth
    for key in STATS:  # non-trivial cases: every area range has ground truth and errors
        assert 0.02 < ours[key] < 0.98, key


def test_crowd_detections_are_ignored_by_hand():
    # One regular ground truth (area 100^2: large) and one crowd region containing it.
    gt = torch.tensor([[0.0, 0.0, 100.0, 100.0], [0.0, 0.0, 200.0, 200.0]])
    target = {"boxes": gt, "labels": torch.tensor([1, 1]), "iscrowd": torch.tensor([False, True])}
    # d1 (highest score) lies inside the crowd region: IoU there is 400 / 400 (detection area) = 1.
    # d2 overlaps the regular box with IoU 10000 / 12000 = 0.833 and the crowd region with 1:
    # a regular match comes first (TP at t <= 0.80), else the crowd region (ignored at t >= 0.85).
    # d3, also inside the crowd region: a crowd region matches any number of detections.
    det = torch.tensor([[20.0, 20.0, 40.0, 40.0], [0.0, 0.0, 100.0, 120.0], [120.0, 130.0, 190.0, 150.0]])
    pred = {"boxes": det, "scores": torch.tensor([0.9, 0.8, 0.7]), "labels": torch.tensor([1, 1, 1])}
    r = evaluate_detections([pred], [target])
    # 7 thresholds with precision 1 at recall 1 (nothing else counts), 3 with recall 0
    for key in ("map", "map_large", "mar_100", "mar_large"):
        assert r[key] == pytest.approx(0.7, abs=1e-12), key
    assert r["map_50"] == pytest.approx(1.0, abs=1e-12)
    assert r["map_small"] == r["map_medium"] == r["mar_small"] == -1.0  # no ground truth in range
    assert r["map_per_class"] == {1: pytest.approx(0.7, abs=1e-12)}
    assert max_difference(r, coco_eval([pred], [target], n_classes=1)) < 1e-12

    # The same boxes with no crowd flag: d1 and d3 are false positives ranked first and second.
    plain = evaluate_detections([pred], [{"boxes": gt, "labels": torch.tensor([1, 1])}])
    assert plain["map_50"] < 0.5
    # A class with crowd ground truth only has no AP (pycocotools: -1, left out of the means).
    crowd_only = evaluate_detections([pred], [{**target, "iscrowd": torch.tensor([1, 1])}])
    assert crowd_only["map"] == -1.0 and crowd_only["map_per_class"] == {}


def test_area_key_and_inclusive_range_bounds():
    # A 10x10 box with a given area of 5000 is medium, not small; 32^2 is both small and medium.
    box = torch.tensor([[0.0, 0.0, 10.0, 10.0], [100.0, 100.0, 132.0, 132.0]])
    labels = torch.tensor([1, 2])
    pred = {"boxes": box, "scores": torch.tensor([0.9, 0.8]), "labels": labels}
    r = evaluate_detections([pred], [{"boxes": box, "labels": labels, "area": torch.tensor([5000.0, 1024.0])}])
    assert r["map_small"] == pytest.approx(1.0, abs=1e-12)  # class 2 only
    assert r["map_medium"] == pytest.approx(1.0, abs=1e-12)  # both classes
    assert r["map_large"] == -1.0
    # An unmatched detection outside the area range is ignored there: a 5x5 false positive ranked
    # first halves the precision in "all" and "small" (the 32^2 box is small too), not in "medium".
    far = torch.tensor([[300.0, 300.0, 305.0, 305.0]])
    pred2 = {"boxes": torch.cat([far, box[1:]]), "scores": torch.tensor([0.9, 0.8]), "labels": torch.tensor([1, 1])}
    r = evaluate_detections([pred2], [{"boxes": box[1:], "labels": torch.tensor([1])}])
    assert r["map_50"] == pytest.approx(0.5) and r["map_small"] == pytest.approx(0.5)
    assert r["map_medium"] == pytest.approx(1.0, abs=1e-12)
    assert max_difference(r, coco_eval([pred2], [{"boxes": box[1:], "labels": torch.tensor([1])}], 1)) < 1e-12
    with pytest.raises(ValueError, match="iscrowd"):
        evaluate_detections([pred], [{"boxes": box, "labels": labels, "iscrowd": torch.tensor([0])}])
