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

Boxes that overlap the image but reach past its edges are clipped to it (as torchvision and
Ultralytics do). A box that lies entirely outside its image, has no width or height, has coordinates
that are not numbers, or names an undefined class is a `UserError` naming the file and the line (YOLO),
the object (VOC) or the annotation id (COCO).

An image that cannot be decoded completely (a truncated JPEG, for instance) is loaded as far as it
goes, with a warning naming the file; one that cannot be opened at all (or that is over PIL's
`Image.MAX_IMAGE_PIXELS` decompression-bomb limit) is skipped, warned about, and listed in
`DetectionSet.skipped`.
"""

from __future__ import annotations

import json
import math
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import ImageFile, UnidentifiedImageError
from torch import Tensor

from dlbasic.data.detection_sources import EXAMPLES
from dlbasic.data.folder import UNREADABLE, open_image
from dlbasic.data.sources import require_path
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
        with open_image(path) as im:
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
    except UNREADABLE as e:
        warnings.warn(f"{path}: cannot read image ({e}); skipped", stacklevel=2)
        return None
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255.0)


def _find_dir(root: Path, *names: str) -> Path | None:
    return next((root / n for n in names if (root / n).is_dir()), None)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def _number(value: object, where: str) -> float:
    """A finite float from annotation text or a JSON number; a `UserError` naming `where` otherwise."""
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{where} is {value!r}, not a number") from None
    if not math.isfinite(number):
        raise UserError(f"{where} is {value!r}, not a finite number")
    return number


def _clip(boxes: list[list[float]], where: list[str], image: Tensor, name: str, hint: str | None = None) -> Tensor:
    """Pixel xyxy boxes clipped to the image; a box with nothing inside it is a `UserError` naming its `where`."""
    h, w = image.shape[-2:]
    out = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    out[:, 0::2] = out[:, 0::2].clamp(0, w)
    out[:, 1::2] = out[:, 1::2].clamp(0, h)
    outside = ((out[:, 2] <= out[:, 0]) | (out[:, 3] <= out[:, 1])).nonzero().flatten().tolist()
    if outside:
        x1, y1, x2, y2 = boxes[outside[0]]
        raise UserError(f"{where[outside[0]]}: box at x {x1:g}..{x2:g}, y {y1:g}..{y2:g} (pixels) lies outside "
                        f"the {w}x{h} image {name}", hint)
    return out


def _voc_objects(xml_path: Path) -> tuple[str, list[tuple[str, list[float], bool]]]:
    try:
        tree = ET.parse(xml_path).getroot()
    except ET.ParseError as e:
        raise UserError(f"{xml_path}: not a valid VOC annotation ({e})") from None
    objects = []
    for k, obj in enumerate(tree.iter("object"), start=1):
        where = f"{xml_path}: object {k}"
        name = (obj.findtext("name") or "").strip()
        if not name:
            raise UserError(f"{where} has no <name>")
        where += f" ({name})"
        box = obj.find("bndbox")
        if box is None:
            raise UserError(f"{where} has no <bndbox>", "VOC boxes are <bndbox><xmin>..</xmin>..<ymax>..</ymax>")
        corners = []
        for key in ("xmin", "ymin", "xmax", "ymax"):
            text = box.findtext(key)
            if text is None:
                raise UserError(f"{where}: <bndbox> has no <{key}>", "it needs <xmin>, <ymin>, <xmax> and <ymax>")
            corners.append(_number(text.strip(), f"{where}: <{key}>"))
        xmin, ymin, xmax, ymax = corners
        if xmax < xmin or ymax < ymin:
            raise UserError(f"{where}: box xmin={xmin:g} ymin={ymin:g} xmax={xmax:g} ymax={ymax:g} has non-positive "
                            "size", "xmax must be at least xmin, ymax at least ymin")
        objects.append((name, [xmin - 1, ymin - 1, xmax, ymax], obj.findtext("difficult", "0").strip() == "1"))
    return (tree.findtext("filename") or xml_path.stem + ".jpg").strip(), objects


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
        where = [f"{xml_path}: object {k} ({n})" for k, (n, _, _) in enumerate(objs, start=1)]
        boxes = _clip([b for _, b, _ in objs], where, image, path.name)
        out.images.append(image)
        out.names.append(path.name)
        out.targets.append({"boxes": boxes,
                            "labels": torch.tensor([index[n] for n, _, _ in objs], dtype=torch.long),
                            "difficult": torch.tensor([d for _, _, d in objs], dtype=torch.bool)})
    return out


def _coco_box(ann: dict, where: str, cat_index: dict) -> tuple[list[float], int, bool]:
    """One COCO annotation -> (pixel xyxy box, label, iscrowd); a `UserError` naming `where` when malformed."""
    bbox = ann.get("bbox")
    if bbox is None:
        raise UserError(f"{where} has no 'bbox'", "COCO boxes are \"bbox\": [x, y, width, height]")
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise UserError(f"{where}: 'bbox' is {bbox!r}", "COCO boxes are \"bbox\": [x, y, width, height]")
    x, y, w, h = (_number(v, f"{where}: bbox[{i}]") for i, v in enumerate(bbox))
    if w <= 0 or h <= 0:
        raise UserError(f"{where}: bbox {bbox} has non-positive width or height")
    category = ann.get("category_id")
    try:
        label = cat_index[category]
    except (KeyError, TypeError):
        ids = sorted(cat_index)
        listing = ", ".join(map(str, ids[:10])) + (", ..." if len(ids) > 10 else "")
        raise UserError(f"{where}: category_id {category!r} is not defined in 'categories'",
                        f"defined ids: {listing or 'none'}") from None
    return [x, y, x + w, y + h], label, bool(ann.get("iscrowd", 0))


def load_coco(annotation_file: str | Path, limit: int | None = None) -> DetectionSet:
    """COCO JSON (instances): boxes from `bbox`, labels mapped from category ids in id order."""
    path = Path(annotation_file)
    check(path.is_file(), f"no COCO annotation file {path}")
    try:
        data = json.loads(path.read_text())
    except ValueError as e:  # JSONDecodeError, or bytes that are not UTF-8
        raise UserError(f"{path}: not valid JSON ({_one_line(e)})") from None
    check(isinstance(data, dict) and isinstance(data.get("images"), list) and isinstance(data.get("annotations"), list),
          f"{path} is not a COCO annotation file", "expected lists 'images', 'annotations' and 'categories'")
    cats = data.get("categories", [])
    check(isinstance(cats, list) and all(isinstance(c, dict) and isinstance(c.get("id"), int) for c in cats),
          f"{path}: every entry of 'categories' needs an integer 'id'")
    cats = sorted(cats, key=lambda c: c["id"])
    cat_index = {c["id"]: i for i, c in enumerate(cats)}
    check(len(cat_index) == len(cats), f"{path}: 'categories' repeats an id")
    per_image: dict[int | str, list[tuple[str, dict]]] = {}
    for k, ann in enumerate(data["annotations"]):
        has_id = isinstance(ann, dict) and "id" in ann
        where = f"{path}: annotation id {ann['id']}" if has_id else f"{path}: annotation #{k} (no id)"
        if not isinstance(ann, dict) or not isinstance(ann.get("image_id"), int | str):
            raise UserError(f"{where} has no 'image_id'")
        per_image.setdefault(ann["image_id"], []).append((where, ann))
    folders = [path.parent, path.parent / "images", path.parent.parent / "images"]
    out = DetectionSet([], [], [str(c.get("name", c["id"])) for c in cats])
    for k, info in enumerate(data["images"][:limit]):
        if not (isinstance(info, dict) and isinstance(info.get("file_name"), str) and "id" in info):
            raise UserError(f"{path}: image #{k} needs an 'id' and a 'file_name'")
        image_path = next((f / info["file_name"] for f in folders if (f / info["file_name"]).exists()),
                          folders[0] / info["file_name"])
        anns = per_image.get(info["id"], []) if isinstance(info["id"], int | str) else []
        parsed = [_coco_box(ann, where, cat_index) for where, ann in anns]
        image = read_image(image_path)
        if image is None:
            out.skipped.append(f"{image_path}: unreadable")
            continue
        boxes = _clip([b for b, _, _ in parsed], [where for where, _ in anns], image, info["file_name"])
        out.images.append(image)
        out.names.append(info["file_name"])
        out.targets.append({"boxes": boxes,
                            "labels": torch.tensor([c for _, c, _ in parsed], dtype=torch.long),
                            "iscrowd": torch.tensor([z for _, _, z in parsed], dtype=torch.bool)})
    return out


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file") from None


def _yolo_names(root: Path) -> list[str] | None:
    if (root / "classes.txt").is_file():
        return [line.strip() for line in _read_text(root / "classes.txt").splitlines() if line.strip()]
    if (root / "data.yaml").is_file():
        import yaml

        try:
            spec = yaml.safe_load(_read_text(root / "data.yaml")) or {}
        except yaml.YAMLError as e:
            raise UserError(f"{root / 'data.yaml'}: not valid YAML ({_one_line(e)})") from None
        check(isinstance(spec, dict), f"{root / 'data.yaml'}: expected a mapping with 'names'")
        names = spec.get("names")
        if isinstance(names, dict):
            check(all(isinstance(k, int) and not isinstance(k, bool) for k in names) and sorted(names) ==
                  list(range(len(names))), f"{root / 'data.yaml'}: the keys of 'names' must be the class indices "
                                           f"0, 1, 2, ..., got {', '.join(map(repr, list(names)[:5]))}",
                  "e.g. names: {0: person, 1: car}")
            return [str(names[k]) for k in sorted(names)]
        if isinstance(names, list):
            return [str(n) for n in names]
    return None


# without classes.txt or data.yaml the classes are 0 .. the largest index found; beyond this, an index is a typo
MAX_UNNAMED_CLASSES = 10_000


def _yolo_row(line: str, where: str, n_names: int | None) -> tuple[int, list[float]]:
    """One label line -> (class, normalized xyxy); polygon lines (`class x1 y1 x2 y2 ...`) give their bounding box."""
    parts = line.split()
    if len(parts) != 5 and (len(parts) < 7 or len(parts) % 2 == 0):
        raise UserError(f"{where}: expected 'class cx cy w h', got {len(parts)} fields: {line.strip()!r}",
                        "one box per line: a class index and four numbers in [0, 1]")
    number = _number(parts[0], f"{where}: class")
    if not number.is_integer() or number < 0:
        raise UserError(f"{where}: class {parts[0]!r} is not a class index (0, 1, 2, ...)")
    label = int(number)
    if n_names is None and label >= MAX_UNNAMED_CLASSES:
        raise UserError(f"{where}: class {label} without class names; more than {MAX_UNNAMED_CLASSES} classes need "
                        "their names", "list one name per line in classes.txt (or 'names' in data.yaml)")
    if n_names is not None and label >= n_names:
        raise UserError(f"{where}: class {label} is undefined, the {n_names} class names cover 0 to {n_names - 1}",
                        "add its name to classes.txt or data.yaml")
    if len(parts) == 5:
        cx, cy, w, h = (_number(v, f"{where}: {k}") for k, v in zip(("cx", "cy", "w", "h"), parts[1:]))
        if w <= 0 or h <= 0:
            raise UserError(f"{where}: box {line.strip()!r} has non-positive width or height")
        return label, [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
    xy = [_number(v, f"{where}: point {i // 2 + 1} {'xy'[i % 2]}") for i, v in enumerate(parts[1:])]
    xs, ys = xy[0::2], xy[1::2]
    if max(xs) <= min(xs) or max(ys) <= min(ys):
        raise UserError(f"{where}: polygon {line.strip()!r} has non-positive width or height")
    return label, [min(xs), min(ys), max(xs), max(ys)]


def load_yolo(root: str | Path, classes: list[str] | None = None, limit: int | None = None) -> DetectionSet:
    """YOLO txt labels (normalized cx, cy, w, h) next to an images/ folder (see the module docstring)."""
    root = Path(root)
    img_dir, label_dir = root / "images", root / "labels"
    check(img_dir.is_dir() and label_dir.is_dir(), f"{root} is not a YOLO folder",
          "expected images/ and labels/ with matching file names")
    files = sorted(p for p in img_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    check(bool(files), f"no images in {img_dir}")
    names = list(classes or _yolo_names(root) or [])
    out = DetectionSet([], [], [])
    largest = -1
    for path in files:
        image = read_image(path)
        if image is None:
            out.skipped.append(f"{path}: unreadable")
            continue
        label_file = (label_dir / path.relative_to(img_dir)).with_suffix(".txt")
        labels, boxes, where = [], [], []
        if label_file.is_file():
            for n, line in enumerate(_read_text(label_file).splitlines(), start=1):
                if line.strip():
                    where.append(f"{label_file}:{n}")
                    label, box = _yolo_row(line, where[-1], len(names) or None)
                    labels.append(label)
                    boxes.append(box)
        h, w = image.shape[-2:]
        pixels = [[x1 * w, y1 * h, x2 * w, y2 * h] for x1, y1, x2, y2 in boxes]
        largest = max([largest, *labels])
        out.images.append(image)
        out.names.append(str(path.relative_to(img_dir)))
        out.targets.append({"boxes": _clip(pixels, where, image, path.name,
                                           "YOLO coordinates are fractions of the image size, in [0, 1]"),
                            "labels": torch.tensor(labels, dtype=torch.long)})
    out.classes = names or [str(i) for i in range(largest + 1)]
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
    if name not in loaders:
        raise UserError(f"unknown detection data spec {spec!r}",
                        "write voc:DIR, coco:FILE.json, yolo:DIR or scenes")
    path = require_path(name, arg if sep else None, "file" if name == "coco" else "folder", EXAMPLES[name])
    with warnings.catch_warnings(record=True) as caught:  # shown once the set is known to have images
        warnings.simplefilter("always")
        data = loaders[name](path, limit=limit)
    if not data.images and data.skipped:
        raise UserError(f"none of the {len(data.skipped)} images of {spec} can be read (e.g. {data.skipped[0]})",
                        "check the image files: each is skipped with a warning when others can be read")
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return data
