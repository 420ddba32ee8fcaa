"""COCO (Lin et al. 2014): where a source's annotation files and images are, and its instances JSON read.

One instances JSON; `coco:FILE,images=DIR` names its image folder. The official splits are its siblings by
name: `annotations/instances_<split>.json` (`instances_train2017.json`, `instances_val2017.json`, ...), each
beside a `<split>/` image folder, or Roboflow's `{train,valid,test}/_annotations.coco.json` with the images
beside each file. `coco:DIR` names the dataset folder instead of a file: it stands for its training split's file
(or its one instances file).

`bbox` is (x, y, width, height). Category ids are mapped to 0..K-1 in id order; `iscrowd` is kept as a bool
Tensor[K] and `area` (the annotation's, else the box's) as a float Tensor[K]. Images are looked up in the
`images=` folder, next to the file, in its `images/` folder, a sibling `images/` folder, `<split>/` beside
`annotations/`, then the other split folders of the dataset (a val file may list the train images); none
found names the file and folders.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dlbasic.data.box_sources import EXAMPLES
from dlbasic.detection.data.dataset import (
    DetectionSet,
    check_inside,
    clip_to_image,
    finite_number,
    one_line,
    read_image,
    split_kind,
)
from dlbasic.errors import UserError, check
from dlbasic.parsing import loads_json

ROBOFLOW = "_annotations.coco.json"  # Roboflow's COCO export: one per split folder


@dataclass
class CocoLayout:
    """A COCO source's annotation file, its images= folder if given, and the annotation file of each official
    split (`coco_layout`)."""

    file: Path  # the annotation file the spec names
    images: Path | None  # images= folder, if given
    splits: dict[str, Path] = field(default_factory=dict)  # official split -> its annotation file


def coco_file(folder: Path) -> Path:
    """The annotation file of a COCO dataset folder: its training split's (`annotations/instances_train*.json`,
    Roboflow's `train/_annotations.coco.json`), else its one instances file."""
    found = sorted([*folder.glob("annotations/instances_*.json"), *folder.glob("instances_*.json")])
    found += sorted([*folder.glob(ROBOFLOW), *folder.glob(f"*/{ROBOFLOW}")])
    train = [p for p in found if split_kind(p.parent.name if p.name == ROBOFLOW else p.stem[10:]) == "train"]
    if train:
        return train[0]
    check(
        len(found) == 1,
        f"{folder} holds no COCO instances file" if not found else f"{folder} holds {len(found)} COCO files",
        f"name one: coco:{found[0]}" if found else f"e.g. coco:{EXAMPLES['coco']}",
    )
    return found[0]


def coco_layout(path: Path, images: str | None = None) -> CocoLayout:
    """The named file (or a dataset folder's, `coco_file`) and its sibling split files (`instances_<split>.json`,
    Roboflow's `<split>/_annotations...`)."""
    if path.is_dir():
        path = coco_file(path)
    check(path.is_file(), f"no COCO annotation file {path}", f"e.g. coco:{EXAMPLES['coco']}")
    folder = None
    if images is not None:
        folder = Path(images).expanduser()
        check(folder.is_dir(), f"images={images}: no such folder", "name the folder that holds the COCO images")
    splits: dict[str, Path] = {}
    token = path.stem.partition("_")[2] if path.stem.startswith("instances_") else ""
    if split_kind(token):  # instances_train2017.json: the others differ only in the split word
        rest = token[len(re.match(r"[a-zA-Z]+", token).group()) :]  # "2017"
        for sibling in path.parent.glob("instances_*.json"):
            other = sibling.stem.partition("_")[2]
            kind = split_kind(other)
            if kind and other.endswith(rest) and (kind not in splits or sibling == path):
                splits[kind] = sibling
    elif path.name == ROBOFLOW and split_kind(path.parent.name):  # Roboflow's export
        for sibling in sorted(path.parent.parent.glob(f"*/{ROBOFLOW}")):
            kind = split_kind(sibling.parent.name)
            if kind and (kind not in splits or sibling == path):
                splits[kind] = sibling
    return CocoLayout(path, folder, splits)


def coco_image_folders(file: Path, images: Path | None) -> list[Path]:
    """Where the images of one annotation file may be, in the order tried: images= (and, for a sibling split,
    the folder beside it named like the split), next to the file, its images/, a sibling images/, the
    standard annotations/instances_<split>.json beside <split>/, then the dataset's other split folders (a
    published val file may list the train images). Only folders that exist, each once."""
    token = file.stem.partition("_")[2] if file.stem.startswith("instances_") else ""
    folders = [images, images.parent / token] if images is not None and token else [images] if images else []
    folders += [file.parent, file.parent / "images", file.parent.parent / "images"]
    if token:
        folders += [file.parent.parent / token, file.parent.parent / "images" / token]
    if file.name == ROBOFLOW or file.parent.name.lower() == "annotations":
        root = file.parent.parent  # the dataset folder: annotations/ or Roboflow's split folders are inside it
    else:
        root = file.parent
    for base in (root, root / "images"):
        if base.is_dir():
            folders += sorted(p for p in base.iterdir() if split_kind(p.name) and p.is_dir())
    return [f for f in dict.fromkeys(folders) if f.is_dir()]


def check_coco_file_names(images: object, path: Path) -> None:
    """Refuse, before any image is opened, a COCO `file_name` that leaves the image folder (`check_inside`)."""
    for k, info in enumerate(images if isinstance(images, list) else []):
        if isinstance(info, dict) and isinstance(info.get("file_name"), str):
            image = f"image id {info['id']}" if isinstance(info.get("id"), int | str) else f"image #{k}"
            check_inside(info["file_name"], f"{path}: {image}: file_name", "the image folder")


def _coco_box(ann: dict, where: str, cat_index: dict) -> tuple[list[float], int, bool, float]:
    """One COCO annotation -> (pixel xyxy box, label, iscrowd, area); a `UserError` naming `where` when malformed.

    `area` is the annotation's own (its segmentation's area, which COCO's small/medium/large ranges use),
    else the box's."""
    bbox = ann.get("bbox")
    if bbox is None:
        raise UserError(f"{where} has no 'bbox'", 'COCO boxes are "bbox": [x, y, width, height]')
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise UserError(f"{where}: 'bbox' is {bbox!r}", 'COCO boxes are "bbox": [x, y, width, height]')
    x, y, w, h = (finite_number(v, f"{where}: bbox[{i}]") for i, v in enumerate(bbox))
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
        raise UserError(f"{path}: not valid JSON ({one_line(e)})") from None
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
        boxes = clip_to_image([b for b, *_ in parsed], [where for where, _ in anns], image, info["file_name"])
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
