"""Detection datasets in one representation, from Pascal VOC XML, COCO JSON, YOLO txt, or `scenes`.

Every loader returns a `DetectionSet`: images as float Tensor[C, H, W] in [0, 1] (sizes may differ),
and per image a target dict with `boxes` float32 Tensor[K, 4] xyxy in continuous pixel coordinates
(0 = left edge of the first pixel) and `labels` int64 Tensor[K] indexing `classes`.

Format notes (each converts to the representation above; where the files and official splits of
each layout are is in `dlbasic.detection.data.layouts`):
* VOC (Everingham et al. 2010): `DIR/Annotations/*.xml` + `DIR/JPEGImages/`, `DIR/annots/` +
  `DIR/images/`, or the .xml files beside the images. Corners are 1-based inclusive pixels, so
  x1 = xmin - 1, x2 = xmax. Classes are the sorted object names unless given. `difficult` flags are
  kept as a bool Tensor[K]. Official splits: `ImageSets/Main/<split>.txt`.
* COCO (Lin et al. 2014): one JSON file; `bbox` is (x, y, width, height). Category ids are mapped
  to 0..K-1 in id order; `iscrowd` is kept as a bool Tensor[K] and `area` (the annotation's, else
  the box's) as a float Tensor[K]. Images are looked up in the `images=` folder, next to the file,
  in its `images/` folder, a sibling `images/` folder, `<split>/` beside `annotations/`, then the other
  split folders of the dataset (a val file may list the train images); none found names the file and folders.
  Official splits: the sibling `instances_<split>.json` files.
* YOLO (Ultralytics layout): `DIR/images/**/X.jpg` with `DIR/labels/**/X.txt`, one
  `class cx cy w h` line per box, normalized to [0, 1]. Names come from the dataset YAML's `names`
  (a list or a dict), else `DIR/classes.txt`, else the class numbers. Official splits: the YAML's
  `train:`/`val:`/`test:`, else `images/<split>/` folders.

`load_detection(spec, split=None)` reads every image of a source; `split` one of its official splits.

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

import math
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import UnidentifiedImageError
from torch import Tensor

from dlbasic.data.box_sources import parse_detection_spec
from dlbasic.data.images import IMAGE_SUFFIXES, UNREADABLE, decode
from dlbasic.detection.data.layouts import (
    check_coco_file_names,
    check_inside,
    coco_image_folders,
    coco_layout,
    voc_layout,
    yolo_label_path,
    yolo_layout,
)
from dlbasic.errors import UserError, check
from dlbasic.parsing import loads_json


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


def read_image(path: Path) -> Tensor | None:
    """Image file -> float Tensor[3, H, W] in [0, 1] (RGB); truncated files warn; None if unreadable."""
    try:
        try:
            array = decode(path, "RGB")
        except UnidentifiedImageError:
            raise
        except OSError as e:
            if "image file is truncated" not in str(e):  # PIL's words for a JPEG cut short
                raise
            warnings.warn(f"{path}: {e}; loaded the decodable part, the rest is grey", stacklevel=2)
            array = decode(path, "RGB", allow_truncated=True)
    except UNREADABLE as e:
        warnings.warn(f"{path}: cannot read image ({e}); skipped", stacklevel=2)
        return None
    return torch.from_numpy(array).permute(2, 0, 1).float().div_(255.0)


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
        raise UserError(
            f"{where[outside[0]]}: box at x {x1:g}..{x2:g}, y {y1:g}..{y2:g} (pixels) lies outside "
            f"the {w}x{h} image {name}",
            hint,
        )
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
            raise UserError(
                f"{where}: box xmin={xmin:g} ymin={ymin:g} xmax={xmax:g} ymax={ymax:g} has non-positive size",
                "xmax must be at least xmin, ymax at least ymin",
            )
        objects.append((name, [xmin - 1, ymin - 1, xmax, ymax], obj.findtext("difficult", "0").strip() == "1"))
    filename = (tree.findtext("filename") or xml_path.stem + ".jpg").strip()
    return check_inside(filename, f"{xml_path}: <filename>", "the image folder"), objects


def _image_path(folder: Path, filename: str, stem: str) -> Path:
    """`folder/filename`, else a file with its stem (or the annotation's `stem`) and an image suffix."""
    path = folder / filename
    if path.exists():
        return path
    tries = [folder / (s + suffix) for s in (Path(filename).stem, stem) for suffix in IMAGE_SUFFIXES]
    return next((p for p in tries if p.exists()), path)


def load_voc(
    root: str | Path, classes: list[str] | None = None, limit: int | None = None, split: str | None = None
) -> DetectionSet:
    """Pascal VOC: XML annotations and images (see the module docstring for the layouts); `split` reads
    only the ids of ImageSets/Main/<split>.txt."""
    root = Path(root)
    layout = voc_layout(root)
    ann_dir, img_dir = layout.annotations, layout.images
    if split is None:
        xmls = sorted(ann_dir.glob("*.xml"))[:limit]
        check(bool(xmls), f"no .xml annotations in {ann_dir}")
    else:
        check(split in layout.splits, f"{root} has no official {split} split (no ImageSets/Main/{split}.txt)")
        xmls = [ann_dir / f"{i}.xml" for i in layout.ids(split)][:limit]
        check(bool(xmls), f"{layout.splits[split]} lists no image")
        missing = [x for x in xmls if not x.is_file()]
        check(
            not missing,
            f"{layout.splits[split]} lists {len(missing)} images without an annotation, e.g. "
            f"{missing[0] if missing else ''}",
            "every listed id needs its <id>.xml",
        )
    parsed = [(x, *_voc_objects(x)) for x in xmls]
    classes = classes or sorted({name for _, _, objs in parsed for name, _, _ in objs})
    index = {c: i for i, c in enumerate(classes)}
    out = DetectionSet([], [], list(classes))
    for xml_path, filename, objs in parsed:
        unknown = [n for n, _, _ in objs if n not in index]
        check(not unknown, f"{xml_path}: unknown classes {unknown}", "pass classes= including them")
        path = _image_path(img_dir, filename, xml_path.stem)
        image = read_image(path)
        if image is None:
            out.skipped.append(f"{path}: unreadable")
            continue
        where = [f"{xml_path}: object {k} ({n})" for k, (n, _, _) in enumerate(objs, start=1)]
        boxes = _clip([b for _, b, _ in objs], where, image, path.name)
        out.images.append(image)
        out.names.append(path.name)
        out.targets.append(
            {
                "boxes": boxes,
                "labels": torch.tensor([index[n] for n, _, _ in objs], dtype=torch.long),
                "difficult": torch.tensor([d for _, _, d in objs], dtype=torch.bool),
            }
        )
    return out


def _coco_box(ann: dict, where: str, cat_index: dict) -> tuple[list[float], int, bool, float]:
    """One COCO annotation -> (pixel xyxy box, label, iscrowd, area); a `UserError` naming `where` when malformed.

    `area` is the annotation's own (its segmentation's area, which COCO's small/medium/large ranges use),
    else the box's."""
    bbox = ann.get("bbox")
    if bbox is None:
        raise UserError(f"{where} has no 'bbox'", 'COCO boxes are "bbox": [x, y, width, height]')
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise UserError(f"{where}: 'bbox' is {bbox!r}", 'COCO boxes are "bbox": [x, y, width, height]')
    x, y, w, h = (_number(v, f"{where}: bbox[{i}]") for i, v in enumerate(bbox))
    if w <= 0 or h <= 0:
        raise UserError(f"{where}: bbox {bbox} has non-positive width or height")
    category = ann.get("category_id")
    try:
        label = cat_index[category]
    except (KeyError, TypeError):
        ids = sorted(cat_index)
        listing = ", ".join(map(str, ids[:10])) + (", ..." if len(ids) > 10 else "")
        raise UserError(
            f"{where}: category_id {category!r} is not defined in 'categories'", f"defined ids: {listing or 'none'}"
        ) from None
    area = ann.get("area")
    area = float(area) if isinstance(area, int | float) and not isinstance(area, bool) and area > 0 else w * h
    return [x, y, x + w, y + h], label, bool(ann.get("iscrowd", 0)), area


def load_coco(annotation_file: str | Path, limit: int | None = None, images: str | Path | None = None) -> DetectionSet:
    """COCO JSON (instances): boxes from `bbox`, labels mapped from category ids in id order; the images are
    looked up in `images` first (see `coco_image_folders` for the others)."""
    path = Path(annotation_file)
    check(path.is_file(), f"no COCO annotation file {path}")
    try:
        data = loads_json(path.read_bytes(), path)
    except ValueError as e:  # JSONDecodeError, or bytes that are not UTF-8
        raise UserError(f"{path}: not valid JSON ({_one_line(e)})") from None
    check(
        isinstance(data, dict) and isinstance(data.get("images"), list) and isinstance(data.get("annotations"), list),
        f"{path} is not a COCO annotation file",
        "expected lists 'images', 'annotations' and 'categories'",
    )
    cats = data.get("categories", [])
    check(
        isinstance(cats, list) and all(isinstance(c, dict) and isinstance(c.get("id"), int) for c in cats),
        f"{path}: every entry of 'categories' needs an integer 'id'",
    )
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
    check_coco_file_names(data["images"][:limit], path)
    folders = coco_image_folders(path, Path(images) if images is not None else None)
    out = DetectionSet([], [], [str(c.get("name", c["id"])) for c in cats])
    listed = data["images"][:limit]
    for k, info in enumerate(listed):
        if not (isinstance(info, dict) and isinstance(info.get("file_name"), str) and "id" in info):
            raise UserError(f"{path}: image #{k} needs an 'id' and a 'file_name'")
    found = [next((f / i["file_name"] for f in folders if (f / i["file_name"]).is_file()), None) for i in listed]
    missing = [i["file_name"] for i, p in zip(listed, found) if p is None]
    searched = ", ".join(map(str, folders)) or "no folder"
    if missing and len(missing) == len(listed):
        raise UserError(
            f"{path}: none of the {len(listed)} images it lists (e.g. {missing[0]}) is in the folders searched: "
            f"{searched}",
            f"name the image folder: coco:{path},images=DIR",
        )
    if missing:
        warnings.warn(
            f"{path}: {len(missing)} of its {len(listed)} images are in none of the folders searched ({searched}), "
            f"e.g. {missing[0]}; skipped",
            stacklevel=2,
        )
    for info, image_path in zip(listed, found):
        if image_path is None:
            out.skipped.append(f"{info['file_name']}: not found")
            continue
        anns = per_image.get(info["id"], []) if isinstance(info["id"], int | str) else []
        parsed = [_coco_box(ann, where, cat_index) for where, ann in anns]
        image = read_image(image_path)
        if image is None:
            out.skipped.append(f"{image_path}: unreadable")
            continue
        boxes = _clip([b for b, *_ in parsed], [where for where, _ in anns], image, info["file_name"])
        out.images.append(image)
        out.names.append(info["file_name"])
        out.targets.append(
            {
                "boxes": boxes,
                "labels": torch.tensor([c for _, c, _, _ in parsed], dtype=torch.long),
                "iscrowd": torch.tensor([z for _, _, z, _ in parsed], dtype=torch.bool),
                "area": torch.tensor([a for *_, a in parsed], dtype=torch.float32),
            }
        )
    return out


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file") from None


# without classes.txt or data.yaml the classes are 0 .. the largest index found; beyond this, an index is a typo
MAX_UNNAMED_CLASSES = 10_000


def _yolo_row(line: str, where: str, n_names: int | None) -> tuple[int, list[float]]:
    """One label line -> (class, normalized xyxy); polygon lines (`class x1 y1 x2 y2 ...`) give their bounding box."""
    parts = line.split()
    if len(parts) != 5 and (len(parts) < 7 or len(parts) % 2 == 0):
        raise UserError(
            f"{where}: expected 'class cx cy w h', got {len(parts)} fields: {line.strip()!r}",
            "one box per line: a class index and four numbers in [0, 1]",
        )
    number = _number(parts[0], f"{where}: class")
    if not number.is_integer() or number < 0:
        raise UserError(f"{where}: class {parts[0]!r} is not a class index (0, 1, 2, ...)")
    label = int(number)
    if n_names is None and label >= MAX_UNNAMED_CLASSES:
        raise UserError(
            f"{where}: class {label} without class names; more than {MAX_UNNAMED_CLASSES} classes need their names",
            "list one name per line in classes.txt (or 'names' in data.yaml)",
        )
    if n_names is not None and label >= n_names:
        raise UserError(
            f"{where}: class {label} is undefined, the {n_names} class names cover 0 to {n_names - 1}",
            "add its name to classes.txt or data.yaml",
        )
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


def _relative(path: Path, root: Path) -> str:
    for base in (root / "images", root):
        if path.is_relative_to(base):
            return str(path.relative_to(base))
    return str(path)


def load_yolo(
    root: str | Path, classes: list[str] | None = None, limit: int | None = None, split: str | None = None
) -> DetectionSet:
    """YOLO txt labels (normalized cx, cy, w, h) of a folder or dataset YAML (see the module docstring);
    `split` reads one official split, else every image."""
    layout = yolo_layout(Path(root))
    if split is not None:
        check(
            split in layout.splits,
            f"{root} has no official {split} split",
            f"its splits ({layout.source}): {', '.join(layout.splits) or 'none'}",
        )
    files = (layout.splits[split] if split is not None else layout.images)[:limit]
    check(bool(files), f"no images in {root}" + (f" ({split} split of {layout.source})" if split else ""))
    names = list(classes or layout.names or [])
    out = DetectionSet([], [], [])
    largest, labelled = -1, 0
    for path in files:
        image = read_image(path)
        if image is None:
            out.skipped.append(f"{path}: unreadable")
            continue
        label_file = yolo_label_path(path)
        labels, boxes, where = [], [], []
        if label_file.is_file():
            labelled += 1
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
        out.names.append(_relative(path, layout.root))
        out.targets.append(
            {
                "boxes": _clip(
                    pixels, where, image, path.name, "YOLO coordinates are fractions of the image size, in [0, 1]"
                ),
                "labels": torch.tensor(labels, dtype=torch.long),
            }
        )
    if out.images and not labelled:
        warnings.warn(
            f"{root}: none of the {len(out.images)} images has a label file (looked for e.g. "
            f"{yolo_label_path(files[0])}); they count as images without objects",
            stacklevel=2,
        )
    out.classes = names or [str(i) for i in range(largest + 1)]
    return out


def official_splits(spec: str) -> list[str]:
    """The official splits of a source, of "train", "val", "trainval", "test" (see
    `dlbasic.detection.data.layouts`); [] when it has none."""
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
