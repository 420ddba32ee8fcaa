"""The five detectors on one split: map, map_50, training seconds and inference seconds per image.

Every detector trains on the same `scenes` images, then inference is timed one image at a time on
the same test images, round-robin over the detectors for `--repeats` rounds (machines drift), and
the median is reported; selective search runs uncached inside the timed region for R-CNN, SPP-net
and Fast R-CNN. Training seconds exclude the selective search of the training images, done once
up front and reported apart (`train_search_seconds`). No external reference implementation runs
here (torchvision does not work on these machines), so ratios are against YOLO v1, the lecture's
fastest.

The default data are 96x96 scenes with 1-4 digits each (2,000 training and 500 test images).
Every detector trains with Adam, a linear warm-up and cosine decay; epochs differ per detector
(`EPOCHS`) so that each trains in about ten minutes or less on a 2-core CPU: R-CNN runs its CNN on
every warped region, so it gets the fewest passes.

    python benchmarks/detectors.py [--threads 2] [--epochs rcnn=2,yolo_v1=15] [--train-limit N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from dlbasic.detection.config import DetectionConfig
from dlbasic.detection.data.splits import load_split
from dlbasic.detection.metrics import evaluate_detections
from dlbasic.detection.models.rcnn import SelectiveSearchProposals
from dlbasic.detection.models.registry import DETECTORS, build_detector
from dlbasic.detection.train import fit, predict

DATA = "scenes:canvas=96,digits=1-4,scale=0.8-1.6,count=2000"
EPOCHS = {"rcnn": 6, "sppnet": 8, "fast_rcnn": 10, "faster_rcnn": 10, "yolo_v1": 15}


def parse_epochs(text: str) -> dict[str, int]:
    """'rcnn=2,yolo_v1=15' -> EPOCHS with those entries replaced; a bare number sets every detector."""
    if text.isdigit():
        return dict.fromkeys(EPOCHS, int(text))
    out = dict(EPOCHS)
    for item in filter(None, text.split(",")):
        name, _, n = item.partition("=")
        if name not in EPOCHS or not n.isdigit():
            raise SystemExit(f"--epochs: expected NAME=N with NAME in {', '.join(EPOCHS)}, got {item!r}")
        out[name] = int(n)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=DATA)
    p.add_argument("--epochs", default="", help="N for every detector, or NAME=N,... (default: EPOCHS)")
    p.add_argument("--train-limit", type=int, default=0, help="first N training images (0: all)")
    p.add_argument("--test-limit", type=int, default=0, help="first N test images (0: all)")
    p.add_argument("--timed-images", type=int, default=16)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--proposals", default="single", choices=["single", "fast", "quality"])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    epochs = parse_epochs(args.epochs)
    torch.set_num_threads(args.threads)
    split = load_split(args.data, train_limit=args.train_limit, test_limit=args.test_limit)
    proposals = SelectiveSearchProposals(args.proposals, 100)
    start = time.perf_counter()
    proposals(split.train_images)  # searched once, cached and shared by rcnn, sppnet, fast_rcnn
    search_seconds = time.perf_counter() - start
    print(f"selective search on {len(split.train_images)} training images: {search_seconds:.1f} s", flush=True)
    models, rows = {}, {}
    for name in DETECTORS:
        cfg = DetectionConfig(model=name, epochs=epochs[name])
        model = build_detector(name, len(split.classes), split.train_images.shape[1], proposals, cfg.seed)
        start = time.perf_counter()
        fit(model, split.train_images, split.train_targets, cfg)
        train_seconds = time.perf_counter() - start
        m = evaluate_detections(predict(model, split.test_images), split.test_targets)
        rows[name] = {
            "map": m["map"],
            "map_50": m["map_50"],
            "epochs": epochs[name],
            "train_seconds": train_seconds,
            "times": [],
        }
        models[name] = model
        print(f"trained {name}: map_50 {m['map_50']:.3f} in {train_seconds:.1f} s", flush=True)
    proposals.cache = False  # timed inference searches every image again
    timed = split.test_images[: args.timed_images]
    with torch.no_grad():
        for _ in range(args.repeats):
            for name in DETECTORS:
                start = time.perf_counter()
                for i in range(len(timed)):
                    models[name](timed[i : i + 1])
                rows[name]["times"].append((time.perf_counter() - start) / len(timed))
    yolo = statistics.median(rows["yolo_v1"]["times"])
    print(f"\n{'detector':<12} {'map':>7} {'map_50':>7} {'epochs':>6} {'train s':>9} {'ms/image':>9} {'x yolo':>7}")
    for name, r in rows.items():
        r["seconds_per_image"] = statistics.median(r.pop("times"))
        print(
            f"{name:<12} {r['map']:7.3f} {r['map_50']:7.3f} {r['epochs']:6d} {r['train_seconds']:9.1f} "
            f"{1000 * r['seconds_per_image']:9.2f} {r['seconds_per_image'] / yolo:7.1f}"
        )
    print(
        json.dumps(
            {
                "bench": "detectors",
                "data": args.data,
                "train_images": len(split.train_images),
                "test_images": len(split.test_images),
                "threads": args.threads,
                "repeats": args.repeats,
                "train_search_seconds": round(search_seconds, 2),
                **{f"{n}_{k}": round(v, 5) for n, r in rows.items() for k, v in r.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
