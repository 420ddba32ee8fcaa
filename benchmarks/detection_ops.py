"""Benchmark: our nms vs a slow greedy reference; our evaluate_detections vs pycocotools' COCOeval.

Run: `python benchmarks/detection_ops.py [--repeats 7]`. Both sides run in one process,
round-robin, and the table reports medians. The NMS reference is the loop of torchvision's test
suite (`_reference_nms`): pick the best remaining box, drop the rest with IoU > threshold, repeat.
Boxes: uniform in a 1000 x 1000 image, sides 16-256 px, uniform scores, IoU threshold 0.5.
Evaluation: 500 images x 100 detections, 5 classes, 0-12 ground truths per image; pycocotools'
time covers building its in-memory index and results (createIndex, loadRes), evaluate and accumulate.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import time

import torch

from dlbasic.detection.metrics import evaluate_detections
from dlbasic.detection.ops.boxes import box_iou
from dlbasic.detection.ops.nms import nms


def reference_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    picked = []
    order = torch.argsort(scores, descending=True, stable=True)
    while len(order) > 0:
        picked.append(int(order[0]))
        if len(order) == 1:
            break
        iou = box_iou(boxes[order[0]][None], boxes[order[1:]])[0]
        order = order[1:][iou <= iou_threshold]
    return torch.tensor(picked, dtype=torch.long)


def random_boxes(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    xy = torch.rand(n, 2, generator=g) * 1000
    wh = 16 + torch.rand(n, 2, generator=g) * 240
    return torch.cat([xy, xy + wh], 1), torch.rand(n, generator=g)


def detection_data(n_images: int = 500, per_image: int = 100, n_classes: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    preds, targets = [], []
    for _ in range(n_images):
        k = int(torch.randint(0, 13, (1,), generator=g))
        xy = torch.rand(k, 2, generator=g) * 500
        gt = torch.cat([xy, xy + 20 + torch.rand(k, 2, generator=g) * 100], 1)
        gt_labels = torch.randint(0, n_classes, (k,), generator=g)
        near = min(per_image // 2, 4 * k)
        pick = torch.randint(0, max(k, 1), (near,), generator=g)
        jitter = gt[pick] + torch.randn(near, 4, generator=g) * 8 if k else torch.zeros(0, 4)
        xy = torch.rand(per_image - near, 2, generator=g) * 500
        rand = torch.cat([xy, xy + 10 + torch.rand(per_image - near, 2, generator=g) * 100], 1)
        boxes = torch.cat([jitter, rand])
        boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        labels = torch.cat(
            [
                gt_labels[pick] if k else torch.zeros(0, dtype=torch.long),
                torch.randint(0, n_classes, (per_image - near,), generator=g),
            ]
        )
        preds.append({"boxes": boxes, "scores": torch.rand(per_image, generator=g), "labels": labels})
        targets.append({"boxes": gt, "labels": gt_labels})
    return preds, targets


def pycocotools_map(preds, targets, n_classes: int = 5) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, anns, dets = [], [], []
    for i, (p, t) in enumerate(zip(preds, targets), start=1):
        images.append({"id": i})
        for (x1, y1, x2, y2), c in zip(t["boxes"].double().tolist(), t["labels"].tolist()):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": c + 1,
                    "iscrowd": 0,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                }
            )
        for (x1, y1, x2, y2), s, c in zip(
            p["boxes"].double().tolist(), p["scores"].double().tolist(), p["labels"].tolist()
        ):
            dets.append({"image_id": i, "category_id": c + 1, "score": s, "bbox": [x1, y1, x2 - x1, y2 - y1]})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {
            "images": images,
            "annotations": anns,
            "categories": [{"id": c + 1, "name": str(c)} for c in range(n_classes)],
        }
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def round_robin(cases: dict, repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.manual_seed(0)
    result: dict[str, object] = {
        "bench": "detection_ops",
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
    }
    print(f"{'case':<34}{'ours ms':>10}{'reference ms':>14}{'speed-up':>10}")
    g = torch.Generator().manual_seed(0)
    for n in (1000, 5000):
        boxes, scores = random_boxes(n, g)
        ours, ref = nms(boxes, scores, 0.5), reference_nms(boxes, scores, 0.5)
        assert torch.equal(ours, ref), "nms differs from the reference"
        med = round_robin(
            {
                "ours": lambda b=boxes, s=scores: nms(b, s, 0.5),
                "ref": lambda b=boxes, s=scores: reference_nms(b, s, 0.5),
            },
            args.repeats,
        )
        speedup = med["ref"] / med["ours"]
        print(
            f"{f'nms {n} boxes ({len(ours)} kept)':<34}{med['ours'] * 1e3:>10.1f}{med['ref'] * 1e3:>14.1f}"
            f"{speedup:>9.1f}x"
        )
        result[f"nms_{n}_ms"] = round(med["ours"] * 1e3, 2)
        result[f"nms_{n}_reference_ms"] = round(med["ref"] * 1e3, 2)
        result[f"nms_{n}_speedup"] = round(speedup, 2)
    preds, targets = detection_data()
    ours_map, coco_map = evaluate_detections(preds, targets)["map"], pycocotools_map(preds, targets)
    assert abs(ours_map - coco_map) < 1e-6, (ours_map, coco_map)
    med = round_robin(
        {"ours": lambda: evaluate_detections(preds, targets), "ref": lambda: pycocotools_map(preds, targets)},
        args.repeats,
    )
    ratio = med["ours"] / med["ref"]
    print(
        f"{'mAP 500 images x 100 detections':<34}{med['ours'] * 1e3:>10.1f}{med['ref'] * 1e3:>14.1f}{1 / ratio:>9.1f}x"
    )
    result.update(
        {
            "map": round(ours_map, 6),
            "eval_ms": round(med["ours"] * 1e3, 1),
            "eval_pycocotools_ms": round(med["ref"] * 1e3, 1),
            "eval_time_ratio_vs_pycocotools": round(ratio, 3),
        }
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
