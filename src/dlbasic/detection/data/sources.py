"""Detection data by spec: `load_detection(spec, split=None)` reads `voc:DIR`, `coco:FILE|DIR[,images=DIR]`,
`yolo:DIR[/data.yaml]` or `scenes[:options]` (every image, or one official split), `official_splits(spec)`
names a source's splits, and `describe_layout(spec)` says in words what was found. The spec grammar is
`dlbasic.data.box_sources`; each format is its own module (`voc`, `coco`, `yolo`).
"""

from __future__ import annotations

import warnings

from dlbasic.data.box_sources import parse_detection_spec
from dlbasic.detection.data.coco import ROBOFLOW, coco_layout, load_coco
from dlbasic.detection.data.dataset import DetectionSet
from dlbasic.detection.data.voc import load_voc, voc_layout
from dlbasic.detection.data.yolo import load_yolo, yolo_layout
from dlbasic.errors import UserError, check


def describe_layout(spec: str) -> list[str]:
    """The conventions found for a `voc:`, `coco:` or `yolo:` spec, one line each (for `dlbasic data show`)."""
    kind, path, options = parse_detection_spec(spec)
    if kind == "voc":
        layout = voc_layout(path)
        lines = [
            "VOC, flat: the .xml files beside the images"
            if layout.annotations == layout.images
            else f"VOC: annotations in {layout.annotations}, images in {layout.images}"
        ]
        sources = {s: str(f) for s, f in layout.splits.items()}
    elif kind == "coco":
        layout = coco_layout(path, options.get("images"))
        roboflow = layout.file.name == ROBOFLOW
        lines = [f"COCO{' (Roboflow export)' if roboflow else ''}: {layout.file}"]
        if layout.images is not None:
            lines.append(f"images from {layout.images} (images=)")
        sources = {s: str(f) for s, f in layout.splits.items()}
    else:
        layout = yolo_layout(path)
        names = "no class names (classes are numbered)" if layout.names is None else f"{len(layout.names)} names"
        lines = [f"YOLO: {layout.root}, splits from {layout.source}; {names}"]
        sources = {s: f"{len(files)} image files" for s, files in layout.splits.items()}
    lines += [f"official {s}: {where}" for s, where in sources.items()] or ["no official splits"]
    return lines


def official_splits(spec: str) -> list[str]:
    """The official splits of a source, of "train", "val", "trainval", "test" (see
    `dlbasic.detection.data.voc`, `coco` and `yolo`); [] when it has none."""
    if spec.partition(":")[0] == "scenes":
        return ["train", "val", "test"]
    kind, path, options = parse_detection_spec(spec)
    if kind == "voc":
        return list(voc_layout(path).splits)
    if kind == "coco":
        return list(coco_layout(path, options.get("images")).splits)
    return list(yolo_layout(path).splits)


def load_detection(spec: str, limit: int | None = None, split: str | None = None) -> DetectionSet:
    """Load `voc:DIR`, `coco:FILE.json|DIR[,images=DIR]`, `yolo:DIR[/data.yaml]` or `scenes[:options]`: its
    official `split`, or with None every image of the source (of the named COCO file; scenes: its train split)."""
    if spec.partition(":")[0] == "scenes":
        from dlbasic.data.scenes import load_scenes

        split = split or "train"
        scenes = load_scenes(spec, split)
        n = len(scenes) if limit is None else min(limit, len(scenes))
        return DetectionSet(
            list(scenes.images[:n]),
            [dict(t) for t in scenes.targets[:n]],
            list(scenes.classes),
            [f"{split}[{i}]" for i in range(n)],
        )
    kind, path, options = parse_detection_spec(spec)
    if split is not None:
        available = official_splits(spec)
        check(
            split in available,
            f"{spec} has no official {split} split",
            f"its official splits: {', '.join(available)}" if available else "it has no official splits",
        )
    with warnings.catch_warnings(record=True) as caught:  # shown once the set is known to have images
        warnings.simplefilter("always")
        if kind == "coco":
            layout = coco_layout(path, options.get("images"))
            data = load_coco(layout.splits[split] if split else layout.file, limit, layout.images)
        else:
            data = (load_voc if kind == "voc" else load_yolo)(path, limit=limit, split=split)
    if not data.images and data.skipped:
        raise UserError(
            f"none of the {len(data.skipped)} images of {spec} can be read (e.g. {data.skipped[0]})",
            "check the image files: each is skipped with a warning when others can be read",
        )
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return data
