"""Detection datasets in one representation, from Pascal VOC XML, COCO JSON, YOLO txt, or `scenes`.

Every loader returns a `DetectionSet`: images as float Tensor[C, H, W] in [0, 1] (sizes may differ),
and per image a target dict with `boxes` float32 Tensor[K, 4] xyxy in continuous pixel coordinates
(0 = left edge of the first pixel) and `labels` int64 Tensor[K] indexing `classes`.

Format notes (each converts to the representation above):
* VOC (Everingham et al. 2010): `DIR/Annotations/*.xml` + `DIR/JPEGImages/`, or `DIR/annots/` +
  `DIR/images/`. Corners are 1-based inclusive pixels, so x1 = xmin - 1, x2 = xmax. Classes are the
  sorted object names unless given. `difficult` flags are kept as a bool Tensor[K].
* COCO (Lin et al. 2014): one JSON file; `bbox` is (x, y, width, height). Category ids are mapped
  to 0..K-1 in id order; `iscrowd` is kept as a bool Tensor[K]. Images are looked up next to the
  file, in its `images/` folder, or in a sibling `images/` folder.
* YOLO (Ultralytics layout): `DIR/images/**/X.jpg` with `DIR/labels/**/X.txt`, one
  `class cx cy w h` line per box, normalized to [0, 1]. Names come from `DIR/classes.txt` or the
  `names` of `DIR/data.yaml`, else the class numbers.

An image that cannot be decoded completely (a truncated JPEG, for instance) is loaded as far as it
goes, with a warning naming the file; one that cannot be opened at all is skipped, warned about,
and listed in `DetectionSet.skipped`.
"""

from __future__ import annotations

import json
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFile, UnidentifiedImageError
from torch import Tensor

from dlbasic.errors import UserError, check

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass
class DetectionSet:
    """Images with boxes and labels.

    Attributes:
        images: one float Tensor[C, H, W] in [0, 1] per image.
        targets: one dict per image: `boxes` Tensor[K, 4] xyxy pixels, `labels` int64 Tensor[K], and
            format-specific extras (`difficult`, `iscrowd`, `masks`).
        classes: class names; labels index this list.
        names: file name (or index) of each image.
        skipped: "path: reason" for each image that could not be read.
    """

    images: list[Tensor]
    targets: list[dict[str, Tensor]]
    classes: list[str]
    names: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)


def _decode(path: Path, allow_truncated: bool) -> np.ndarray:
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = allow_truncated
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def read_image(path: Path) -> Tensor | None:
    """Image file -> float Tensor[3, H, W] in [0, 1] (RGB); truncated files warn; None if unreadable."""
    try:
        try:
            array = _decode(path, allow_truncated=False)
        except UnidentifiedImageError:
            raise
        except OSError as e:
            if "image file is truncated" not in str(e):  # PIL's words for a JPEG cut short
                raise
            warnings.warn(f"{path}: {e}; loaded the decodable part, the rest is grey", stacklevel=2)
            array = _decode(path, allow_truncated=True)
    except (OSError, UnidentifiedImageError) as e:
        warnings.warn(f"{path}: cannot read image ({e}); skipped", stacklevel=2)
        return None
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255.0)


def _find_dir(root: Path, *names: str) -> Path | None:
    return next((root / n for n in names if (root / n).is_dir()), None)


def _voc_objects(xml_path: Path) -> tuple[str, list[tuple[str, list[float], bool]]]:
    try:
        tree = ET.parse(xml_path).getroot()
    except ET.ParseError as e:
        raise UserError(f"{xml_path}: not a valid VOC annotation ({e})") from None
    objects = []
    for obj in tree.iter("object"):
        box = obj.find("bndbox")
        name = obj.findtext("name", "").strip()
        check(box is not None and bool(name), f"{xml_path}: an <object> lacks <name> or <bndbox>")
        x1, y1, x2, y2 = (float(box.findtext(k, "nan")) for k in ("xmin", "ymin", "xmax", "ymax"))
        objects.append((name, [x1 - 1, y1 - 1, x2, y2], obj.findtext("difficult", "0").strip() == "1"))
    return tree.findtext("filename", xml_path.stem + ".jpg").strip(), objects


def _image_path(folder: Path, filename: str) -> Path:
    path = folder / filename
    if path.exists():
        return path
    return next((folder / (Path(filename).stem + s) for s in IMAGE_SUFFIXES
                 if (folder / (Path(filename).stem + s)).exists()), path)


def load_voc(root: str | Path, classes: list[str] | None = None, limit: int | None = None) -> DetectionSet:
    """Pascal VOC: XML annotations and images (see the module docstring for the layouts)."""
    root = Path(root)
    ann_dir = _find_dir(root, "Annotations", "annots", "annotations")
    img_dir = _find_dir(root, "JPEGImages", "images")
    check(ann_dir is not None and img_dir is not None, f"{root} is not a VOC folder",
          "expected Annotations/ + JPEGImages/ or annots/ + images/")
    xmls = sorted(ann_dir.glob("*.xml"))[:limit]
    check(bool(xmls), f"no .xml annotations in {ann_dir}")
    parsed = [(x, *_voc_objects(x)) for x in xmls]
    classes = classes or sorted({name for _, _, objs in parsed for name, _, _ in objs})
    index = {c: i for i, c in enumerate(classes)}
    out = DetectionSet([], [], list(classes))
    for xml_path, filename, objs in parsed:
        unknown = [n for n, _, _ in objs if n not in index]
        check(not unknown, f"{xml_path}: unknown classes {unknown}", "pass classes= including them")
        path = _image_path(img_dir, filename)
        image = read_image(path)
        if image is None:
            out.skipped.append(f"{path}: unreadable")
            continue
        out.images.append(image)
        out.names.append(path.name)
        boxes = torch.tensor([b for _, b, _ in objs], dtype=torch.float32).reshape(-1, 4)
        out.targets.append({"boxes": boxes,
                            "labels": torch.tensor([index[n] for n, _, _ in objs], dtype=torch.long),
                            "difficult": torch.tensor([d for _, _, d in objs], dtype=torch.bool)})
    return out


def load_coco(annotation_file: str | Path, limit: int | None = None) -> DetectionSet:
    """COCO JSON (instances): boxes from `bbox`, labels mapped from category ids in id order."""
    path = Path(annotation_file)
    check(path.is_file(), f"no COCO annotation file {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None
    check(isinstance(data, dict) and "images" in data and "annotations" in data,
          f"{path} is not a COCO annotation file", "expected keys 'images', 'annotations', 'categories'")
    cats = sorted(data.get("categories", []), key=lambda c: c["id"])
    cat_index = {c["id"]: i for i, c in enumerate(cats)}
    per_image: dict[int, list[dict]] = {}
    for ann in data["annotations"]:
        per_image.setdefault(ann["image_id"], []).append(ann)
    folders = [path.parent, path.parent / "images", path.parent.parent / "images"]
    out = DetectionSet([], [], [str(c.get("name", c["id"])) for c in cats])
    for info in data["images"][:limit]:
        image_path = next((f / info["file_name"] for f in folders if (f / info["file_name"]).exists()),
                          folders[0] / info["file_name"])
        image = read_image(image_path)
        if image is None:
            out.skipped.append(f"{image_path}: unreadable")
            continue
        anns = per_image.get(info["id"], [])
        xywh = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
        out.images.append(image)
        out.names.append(info["file_name"])
        labels = [cat_index[a["category_id"]] for a in anns]
        crowd = [bool(a.get("iscrowd", 0)) for a in anns]
        out.targets.append({"boxes": torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1),
                            "labels": torch.tensor(labels, dtype=torch.long),
                            "iscrowd": torch.tensor(crowd, dtype=torch.bool)})
    return out


def _yolo_names(root: Path) -> list[str] | None:
    if (root / "classes.txt").is_file():
        return [line.strip() for line in (root / "classes.txt").read_text().splitlines() if line.strip()]
    if (root / "data.yaml").is_file():
        import yaml

        names = (yaml.safe_load((root / "data.yaml").read_text()) or {}).get("names")
        if isinstance(names, dict):
            return [str(names[k]) for k in sorted(names)]
        if isinstance(names, list):
            return [str(n) for n in names]
    return None


def load_yolo(root: str | Path, classes: list[str] | None = None, limit: int | None = None) -> DetectionSet:
    """YOLO txt labels (normalized cx, cy, w, h) next to an images/ folder (see the module docstring)."""
    root = Path(root)
    img_dir, label_dir = root / "images", root / "labels"
    check(img_dir.is_dir() and label_dir.is_dir(), f"{root} is not a YOLO folder",
          "expected images/ and labels/ with matching file names")
    files = sorted(p for p in img_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    check(bool(files), f"no images in {img_dir}")
    out = DetectionSet([], [], [])
    largest = -1
    for path in files:
        image = read_image(path)
        if image is None:
            out.skipped.append(f"{path}: unreadable")
            continue
        label_file = (label_dir / path.relative_to(img_dir)).with_suffix(".txt")
        rows = []
        if label_file.is_file():
            for n, line in enumerate(label_file.read_text().splitlines(), start=1):
                if line.strip():
                    parts = line.split()
                    check(len(parts) >= 5, f"{label_file}:{n}: expected 'class cx cy w h', got {line!r}")
                    rows.append([float(v) for v in parts[:5]])
        t = torch.tensor(rows, dtype=torch.float32).reshape(-1, 5)
        h, w = image.shape[-2:]
        cx, cy, bw, bh = t[:, 1] * w, t[:, 2] * h, t[:, 3] * w, t[:, 4] * h
        labels = t[:, 0].long()
        largest = max(largest, int(labels.max()) if len(labels) else -1)
        out.images.append(image)
        out.names.append(str(path.relative_to(img_dir)))
        out.targets.append({"boxes": torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1),
                            "labels": labels})
    out.classes = list(classes or _yolo_names(root) or [str(i) for i in range(largest + 1)])
    check(largest < len(out.classes), f"{root}: class {largest} but only {len(out.classes)} names")
    return out


def load_detection(spec: str, limit: int | None = None, split: str = "train") -> DetectionSet:
    """Load `voc:DIR`, `coco:FILE.json`, `yolo:DIR` or `scenes[:options]` (its `split`)."""
    name, sep, arg = spec.partition(":")
    loaders = {"voc": load_voc, "coco": load_coco, "yolo": load_yolo}
    if name == "scenes":
        from dlbasic.data.scenes import load_scenes

        scenes = load_scenes(spec, split)
        n = len(scenes) if limit is None else min(limit, len(scenes))
        return DetectionSet(list(scenes.images[:n]), [dict(t) for t in scenes.targets[:n]],
                            list(scenes.classes), [f"{split}[{i}]" for i in range(n)])
    if name not in loaders or not sep or not arg:
        raise UserError(f"unknown detection data spec {spec!r}",
                        "write voc:DIR, coco:FILE.json, yolo:DIR or scenes")
    return loaders[name](arg, limit=limit)
