"""Selective search: ours (`dlbasic.detection.components.proposals`) vs OpenCV's (`cv2.ximgproc.segmentation`).

Ours runs as R-CNN, SPP-net and Fast R-CNN call it by default: `SelectiveSearchProposals()`, i.e. the
"fast" mode (HSV and Lab, k = 50 and 100, C+T+S+F and T+S+F), the image enlarged 2x before the search,
boxes of at least 2 pixels, the first 300 kept. OpenCV runs `switchToSelectiveSearchFast()` (and, with
`--quality`, `switchToSelectiveSearchQuality()`) on the image itself, as its users call it.

Images:

* scenes: the first --scenes test scenes of benchmarks/detectors.py's data (96 x 96, 1-4 MNIST digits,
  grey; OpenCV gets the grey image in three channels, rounded to 8 bits), boxes: the digits'.
* kangaroo-S: the first --kangaroo photos of /work/shared/data/kangaroo (VOC layout), resized so that the
  longer side is S pixels (aspect kept, PIL bilinear, 8 bits for both), boxes: the VOC boxes, scaled.

Time: ms per image, one call at a time on the first --timed images of each set, round-robin over the
methods in one process, --repeats samples, medians per image, then summed over the images. Recall: the
share of ground-truth boxes with a proposal at IoU >= 0.5 / 0.7 among the first K proposals (K = 50, 100,
300, 1000), all methods cut to the same count per image: min(K, what each gives). For K > 300 ours is
the same search without the 300 cap (the ranking does not depend on the cap).

    python benchmarks/selective_search.py [--threads 1] [--repeats 7] [--timed 4] [--quality]

Without cv2.ximgproc (`pip install opencv-contrib-python-headless`) only ours is timed. The last line is
one JSON object: ms per image, ratios ours / OpenCV, recalls.
Measured on a shared 2-core machine (a test suite on the other core; torch 2.13.0, OpenCV 5.1.0, --quality,
two runs): ours / OpenCV fast 13.0-13.2x on scenes, 7.1-10.0x on the photos; against OpenCV fast on the same
2x image 3.1-3.4x and 1.7-1.9x; against OpenCV quality on the 2x image 0.46-0.98x. Recalls (the same in both
runs) at equal counts within a few boxes of OpenCV's; only 25 kangaroo boxes (16 photos) and 59 digits.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from dlbasic.data.scenes import load_scenes
from dlbasic.detection.models.rcnn import SelectiveSearchProposals
from dlbasic.detection.ops.boxes import box_iou

SCENES = "scenes:canvas=96,digits=1-4,scale=0.8-1.6,count=2000"  # benchmarks/detectors.py's data
KANGAROO = Path("/work/shared/data/kangaroo")
KS = (50, 100, 300, 1000)
IOUS = (0.5, 0.7)


def scene_images(n: int) -> list[tuple[torch.Tensor, np.ndarray, torch.Tensor]]:
    """(image for ours [C, H, W] in [0, 1], image for OpenCV [H, W, 3] uint8 BGR, boxes [G, 4] xyxy)."""
    data = load_scenes(SCENES, "test")
    out = []
    for i in range(min(n, len(data))):
        x = data.images[i]
        grey = (x[0] * 255).round().clamp(0, 255).to(torch.uint8).numpy()
        out.append((x, np.repeat(grey[..., None], 3, -1), data.targets[i]["boxes"].float()))
    return out


def voc_boxes(path: Path) -> list[list[float]]:
    boxes = []
    for obj in ET.parse(path).getroot().iter("object"):
        bb = obj.find("bndbox")
        x1, y1, x2, y2 = (float(bb.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append([x1 - 1, y1 - 1, x2, y2])  # VOC's 1-based inclusive pixels -> 0-based xyxy
    return boxes


def kangaroo_images(root: Path, n: int, side: int) -> list[tuple[torch.Tensor, np.ndarray, torch.Tensor]]:
    out = []
    for path in sorted((root / "images").glob("*.jpg"))[:n]:
        im = Image.open(path).convert("RGB")
        w, h = im.size
        r = side / max(w, h)
        small = np.array(im.resize((max(1, round(w * r)), max(1, round(h * r))), Image.BILINEAR))
        sx, sy = small.shape[1] / w, small.shape[0] / h
        boxes = torch.tensor(voc_boxes(root / "annots" / f"{path.stem}.xml")) * torch.tensor([sx, sy, sx, sy])
        x = torch.from_numpy(small).permute(2, 0, 1).float() / 255
        out.append((x, np.ascontiguousarray(small[..., ::-1]), boxes))
    return out


def opencv_search(cv2, strategy: str, upscale: float) -> Callable[[torch.Tensor, np.ndarray], torch.Tensor]:
    """OpenCV's search on the 8-bit image, or (upscale != 1) on the image enlarged as ours enlarges it."""

    def run(x: torch.Tensor, bgr: np.ndarray) -> torch.Tensor:
        if upscale != 1:
            big = F.interpolate(x[None], scale_factor=upscale, mode="bilinear", align_corners=False)[0]
            big = (big.clamp(0, 1) * 255).round().to(torch.uint8).expand(3, -1, -1).flip(0)  # RGB -> BGR
            bgr = np.ascontiguousarray(big.permute(1, 2, 0).numpy())
        ss = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
        ss.setBaseImage(bgr)
        ss.switchToSelectiveSearchFast() if strategy == "fast" else ss.switchToSelectiveSearchQuality()
        rects = torch.as_tensor(np.asarray(ss.process()), dtype=torch.float32).reshape(-1, 4)
        return torch.cat([rects[:, :2], rects[:, :2] + rects[:, 2:]], 1) / upscale  # xywh -> xyxy

    return run


def recall(proposals: list[torch.Tensor], gts: list[torch.Tensor], counts: list[int], thresh: float) -> float:
    hit = total = 0
    for boxes, gt, k in zip(proposals, gts, counts):
        total += len(gt)
        if k and len(gt):
            hit += int((box_iou(gt, boxes[:k]).max(1).values >= thresh).sum())
    return hit / max(total, 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="torch and OpenCV threads")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--timed", type=int, default=4, help="images of each set that are timed")
    p.add_argument("--scenes", type=int, default=24, help="scenes for the recall")
    p.add_argument("--kangaroo", type=int, default=16, help="kangaroo photos for the recall (per size)")
    p.add_argument("--sizes", default="96,128,256", help="kangaroo photos' longer side, comma-separated")
    p.add_argument("--quality", action="store_true", help="also OpenCV's quality strategy (slow)")
    p.add_argument("--cv-upscale", default="1,2", help="OpenCV on the image enlarged this many times, comma-separated")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    ours = SelectiveSearchProposals(cache=False)  # R-CNN's default: fast, 300 boxes, 2x upscale, min size 2
    uncapped = SelectiveSearchProposals(ours.mode, 10**6, ours.upscale, cache=False)
    methods: dict[str, Callable] = {"ours": lambda x, bgr: ours.one(x)}
    try:
        import cv2

        cv2.ximgproc.segmentation.createSelectiveSearchSegmentation  # noqa: B018 (absent without contrib)
    except (ImportError, AttributeError):
        cv2 = None
        print("cv2.ximgproc is unavailable (pip install opencv-contrib-python-headless): timing ours only")
    if cv2 is not None:
        cv2.setNumThreads(args.threads)
        for strategy in ("fast", "quality") if args.quality else ("fast",):
            for up in (float(u) for u in args.cv_upscale.split(",")):
                methods[f"cv_{strategy}" + (f"_x{up:g}" if up != 1 else "")] = opencv_search(cv2, strategy, up)
    sets = {"scenes": scene_images(args.scenes)}
    if (KANGAROO / "images").is_dir():
        for side in (int(s) for s in args.sizes.split(",")):
            sets[f"kangaroo-{side}"] = kangaroo_images(KANGAROO, args.kangaroo, side)
    else:
        print(f"{KANGAROO} is missing: scenes only")
    record: dict = {"bench": "selective_search", "threads": args.threads, "repeats": args.repeats}
    record.update(torch=torch.__version__, opencv=cv2.__version__ if cv2 is not None else None)
    others = [m for m in methods if m != "ours"]
    head = f"{'set':13}{'images':>7}{'size':>10}" + "".join(f"{m + ' ms':>18}" for m in methods)
    print(head + "".join(f"{'ours/' + m:>20}" for m in others), flush=True)
    recall_rows = []
    for name, images in sets.items():
        timed = images[: args.timed]
        samples = {m: [[] for _ in timed] for m in methods}
        for x, bgr, _ in timed:  # warm-up
            for fn in methods.values():
                fn(x, bgr)
        for _ in range(args.repeats):
            for i, (x, bgr, _) in enumerate(timed):
                for m, fn in methods.items():
                    start = time.perf_counter()
                    fn(x, bgr)
                    samples[m][i].append((time.perf_counter() - start) * 1e3)
        ms = {m: sum(statistics.median(s) for s in per) / len(timed) for m, per in samples.items()}
        h, w = images[0][0].shape[-2:]
        size = f"{w}x{h}" if name == "scenes" else f"{max(w, h)} max"
        line = f"{name:13}{len(timed):7d}{size:>10}" + "".join(f"{ms[m]:18.1f}" for m in methods)
        entry: dict = {f"ms_{m}": round(v, 2) for m, v in ms.items()}
        for m in others:
            entry[f"ours_over_{m}"] = round(ms["ours"] / ms[m], 3)
            line += f"{entry[f'ours_over_{m}']:20.2f}"
        print(line, flush=True)
        # recall: ours without the cap for K > 300; ours and each OpenCV run cut to equal counts per image
        props = {"ours": [uncapped.one(x) for x, _, _ in images]}
        props.update({m: [methods[m](x, bgr) for x, bgr, _ in images] for m in others})
        gts = [g for _, _, g in images]
        entry["gt_boxes"] = sum(len(g) for g in gts)
        entry["images_recall"] = len(images)
        entry.update({f"mean_boxes_{m}": round(statistics.mean(len(b) for b in v), 1) for m, v in props.items()})
        for k in (*KS, "all"):
            for t in IOUS:
                cells = []
                for m in others or ["ours"]:
                    if k == "all":  # each its own full list (mean K: the other's count); ours as R-CNN uses it (300)
                        counts = [min(ours.max_boxes, len(b)) for b in props["ours"]]
                        r_ours = recall(props["ours"], gts, counts, t)
                        if m != "ours":
                            counts = [len(b) for b in props[m]]
                        r_m = recall(props[m], gts, counts, t)
                    else:
                        counts = [min(k, len(a), len(b)) for a, b in zip(props["ours"], props[m])]
                        r_ours, r_m = recall(props["ours"], gts, counts, t), recall(props[m], gts, counts, t)
                    cells.append((m, r_ours, r_m, statistics.mean(counts)))
                    entry[f"recall_k{k}_iou{t}_{m}"] = [
                        round(r_ours, 3),
                        round(r_m, 3),
                        round(statistics.mean(counts), 1),
                    ]
                recall_rows.append((name, k, t, cells))
        record[name] = entry
    print()
    print("recall, ours / OpenCV's at the same count per image (K all: each its whole list, ours 300)")
    print(f"{'set':13}{'K':>6}{'IoU':>5}" + "".join(f"{'ours / ' + m + ' (mean K)':>32}" for m in others), end="")
    print("" if others else f"{'ours (mean K)':>20}")
    for name, k, t, cells in recall_rows:
        print(
            f"{name:13}{k!s:>6}{t:5.1f}"
            + "".join(
                f"{f'{a:.3f} / {b:.3f} ({n:.1f})':>32}" if m != "ours" else f"{f'{a:.3f} ({n:.1f})':>20}"
                for m, a, b, n in cells
            )
        )
    print(json.dumps(record))


if __name__ == "__main__":
    main()
