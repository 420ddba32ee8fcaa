"""Where the files and official splits of a detection source (`voc:DIR`, `coco:FILE`, `yolo:DIR`) are.

This module only finds files; `dlbasic.detection.data.formats` parses them, and the spec grammar with the
sources' registry entries is `dlbasic.data.box_sources`. The layouts people keep, per format:

* VOC: `Annotations/` + `JPEGImages/` (or `annots/` + `images/`), or the .xml files beside the
  images (the flat layout of labelImg); official splits are `ImageSets/Main/{train,val,trainval,test}.txt`
  (one image id per line).
* COCO: one instances JSON; `coco:FILE,images=DIR` names its image folder. The official splits are
  its siblings by name: `annotations/instances_<split>.json` (`instances_train2017.json`,
  `instances_val2017.json`, ...), each beside a `<split>/` image folder, or Roboflow's
  `{train,valid,test}/_annotations.coco.json` with the images beside each file. `coco:DIR` names the
  dataset folder instead of a file: it stands for its training split's file (or its one instances file).
* YOLO (Ultralytics): `images/` + `labels/` with a label file per image at the image's path with its
  last `images` folder replaced by `labels` and the suffix by `.txt`. The splits come from a dataset
  YAML (`yolo:DIR/file.yaml`, or the one `*.yaml` in DIR: `path:`, `train:`, `val:`, `test:` (a
  folder, a .txt list of images, or a list of them, relative to `path:` or else the YAML's folder),
  `names:` as a list or an {index: name} dict), else from `images/{train,val,test}/` folders (or
  `{train,valid,test}/images/`).

File names inside annotations (COCO's `file_name`, VOC's `<filename>` and split ids, the entries of a YOLO
list file) stay inside the dataset: an absolute path or a `..` that leaves the folder they are relative to is
refused before any file is opened. Paths the user writes (a spec, `images=`, a dataset YAML's `path:`) are
the user's choice.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from dlbasic.data.box_sources import EXAMPLES, parse_detection_spec
from dlbasic.data.images import IMAGE_SUFFIXES
from dlbasic.errors import UserError, check

SPLIT_NAMES = ("train", "val", "trainval", "test")  # the official splits a source can have
ROBOFLOW = "_annotations.coco.json"  # Roboflow's COCO export: one per split folder


def check_inside(name: str, where: str, folder: str = "the dataset folder") -> str:
    """`name`, a path relative to a dataset folder, unless it is absolute or its `..` parts leave the folder:
    then a `UserError` naming `where` (the file and the field that holds it)."""
    leaves = os.path.isabs(name) or bool(os.path.splitdrive(name)[0])
    depth = 0
    for part in name.replace("\\", "/").split("/"):
        depth += -1 if part == ".." else part not in ("", ".")
        leaves = leaves or depth < 0
    if leaves:
        raise UserError(
            f"{where}: {name!r} lies outside {folder}",
            "file names in annotations are relative to the dataset's folders; absolute paths and '..' are refused",
        )
    return name


def check_coco_file_names(images: object, path: Path) -> None:
    """Refuse, before any image is opened, a COCO `file_name` that leaves the image folder (`check_inside`)."""
    for k, info in enumerate(images if isinstance(images, list) else []):
        if isinstance(info, dict) and isinstance(info.get("file_name"), str):
            image = f"image id {info['id']}" if isinstance(info.get("id"), int | str) else f"image #{k}"
            check_inside(info["file_name"], f"{path}: {image}: file_name", "the image folder")


def split_kind(token: str) -> str | None:
    """The official split a folder or file token names: 'train2017' -> 'train', 'valid' -> 'val', else None."""
    word = re.sub(r"[\d_\-]+$", "", token.lower())
    word = {"valid": "val", "validation": "val"}.get(word, word)
    return word if word in SPLIT_NAMES else None


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


# ---- VOC ----


@dataclass
class VocLayout:
    """Where a Pascal VOC source keeps its annotation files, its images and its official split lists (`voc_layout`)."""

    annotations: Path  # the .xml files
    images: Path
    splits: dict[str, Path] = field(default_factory=dict)  # official split -> ImageSets/Main/<split>.txt

    def ids(self, split: str) -> list[str]:
        """Image ids of an official split (the first word of each line; class lists add a 1/-1 flag)."""
        path = self.splits[split]
        try:
            lines = path.read_text().splitlines()
        except UnicodeDecodeError:
            raise UserError(f"{path}: not a text file") from None
        ids = [(n, line.split()[0]) for n, line in enumerate(lines, start=1) if line.strip()]
        return [check_inside(i, f"{path}:{n}: image id", f"{self.annotations}") for n, i in ids]


def voc_layout(root: Path) -> VocLayout:
    """Annotations/ + JPEGImages/, annots/ + images/, or .xml files beside the images; splits from ImageSets."""
    ann = next((root / n for n in ("Annotations", "annots", "annotations") if (root / n).is_dir()), None)
    img = next((root / n for n in ("JPEGImages", "images") if (root / n).is_dir()), None)
    if ann is None and img is None and root.is_dir() and next(root.glob("*.xml"), None) is not None:
        ann = img = root  # flat: labelImg writes the .xml beside each image
    check(
        ann is not None and img is not None,
        f"{root} is not a VOC folder",
        "expected Annotations/ + JPEGImages/, annots/ + images/, or .xml files beside the images",
    )
    main = root / "ImageSets" / "Main"
    return VocLayout(ann, img, {s: main / f"{s}.txt" for s in SPLIT_NAMES if (main / f"{s}.txt").is_file()})


# ---- COCO ----


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


# ---- YOLO ----


@dataclass
class YoloLayout:
    """A YOLO source's folder, class names (from its dataset YAML or a classes.txt, if any), the images of each
    official split, and every image (`yolo_layout`)."""

    root: Path  # the dataset folder; image names are given relative to root/images, else root
    names: list[str] | None
    splits: dict[str, list[Path]] = field(default_factory=dict)  # official split -> image files
    images: list[Path] = field(default_factory=list)  # every image of the source
    source: str = ""  # what defined the splits, for messages


def yolo_label_path(image: Path) -> Path:
    """Ultralytics' rule: the last `images` folder of the path becomes `labels`, the suffix `.txt`."""
    parts = list(image.parts)
    k = max((i for i, p in enumerate(parts[:-1]) if p == "images"), default=None)
    if k is None:
        return image.with_suffix(".txt")
    parts[k] = "labels"
    return Path(*parts).with_suffix(".txt")


def _read_yaml(path: Path) -> object:
    import yaml

    from dlbasic.parsing import load_yaml

    try:
        return load_yaml(path.read_text(), path) or {}
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file") from None
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from None


def yaml_names(spec: dict, path: Path) -> list[str] | None:
    """`names:` of a dataset YAML: a list, or a dict {0: name, 1: name, ...}."""
    names = spec.get("names")
    if isinstance(names, dict):
        check(
            all(isinstance(k, int) and not isinstance(k, bool) for k in names)
            and sorted(names) == list(range(len(names))),
            f"{path}: the keys of 'names' must be the class indices "
            f"0, 1, 2, ..., got {', '.join(map(repr, list(names)[:5]))}",
            "e.g. names: {0: person, 1: car}",
        )
        return [str(names[k]) for k in sorted(names)]
    if isinstance(names, list):
        return [str(n) for n in names]
    check(names is None, f"{path}: 'names' is {names!r}", "a list of class names, or {0: person, 1: car}")
    return None


def _dataset_yaml(folder: Path) -> Path | None:
    """The folder's dataset YAML: data.yaml, else the one *.yaml/*.yml holding `names` or `train`."""
    if (folder / "data.yaml").is_file():
        return folder / "data.yaml"
    found = []
    for p in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        spec = _read_yaml(p)
        if isinstance(spec, dict) and ("names" in spec or "train" in spec):
            found.append(p)
    check(
        len(found) <= 1,
        f"{folder} has {len(found)} dataset YAML files ({', '.join(p.name for p in found)})",
        f"name one: yolo:{folder / found[0].name}" if found else None,
    )
    return found[0] if found else None


def _yaml_split(entry: object, base: Path, yaml_path: Path, key: str) -> list[Path]:
    """Images of one `train:`/`val:`/`test:` entry: folders, .txt lists of image paths, or a list of them."""
    out: list[Path] = []
    for item in entry if isinstance(entry, list) else [entry]:
        check(
            isinstance(item, str) and bool(item.strip()),
            f"{yaml_path}: '{key}' is {item!r}",
            "a folder of images or a .txt file listing them, relative to 'path'",
        )
        candidates = [base / item]
        if item.startswith("../"):  # Roboflow writes ../train/images beside train/ (Ultralytics reads it so too)
            candidates.append(base / item[3:])
        path = next((p for p in candidates if p.exists()), None)
        check(
            path is not None,
            f"{yaml_path}: {key}: {item} does not exist (looked in {base})",
            "paths are relative to the YAML's 'path:', or to its folder when it has none",
        )
        if path.is_dir():
            out += _images_under(path)
        else:
            try:
                lines = [line.strip() for line in path.read_text().splitlines()]
            except UnicodeDecodeError:
                raise UserError(f"{yaml_path}: {key}: {path} is neither a folder nor a text list of images") from None
            out += [_listed(line, f"{path}:{n}", path.parent, base) for n, line in enumerate(lines, start=1) if line]
    return out


def _listed(line: str, where: str, folder: Path, base: Path) -> Path:
    """An image of a YOLO list file: relative to the list's folder, or absolute; a `UserError` naming `where`
    unless it lies inside the dataset (`base`) or the list's folder."""
    path = Path(line) if Path(line).is_absolute() else folder / line
    lexical = Path(os.path.normpath(path.absolute()))
    roots = {Path(os.path.normpath(p.absolute())) for p in (base, folder)}
    if not any(lexical.is_relative_to(root) for root in roots):
        raise UserError(
            f"{where}: {line!r} lies outside the dataset folder {base}",
            "list the images of the dataset, relative to the list file or under its 'path:'",
        )
    return path


def yolo_layout(path: Path) -> YoloLayout:
    """A YOLO folder or dataset YAML: its names, official splits and images."""
    yaml_path = path if path.suffix.lower() in (".yaml", ".yml") else None
    if yaml_path is None:
        check(path.is_dir(), f"{path} is not a YOLO folder", "expected images/ and labels/, or a dataset YAML")
        yaml_path = _dataset_yaml(path)
    else:
        check(yaml_path.is_file(), f"no such file: {yaml_path}")
    spec = _read_yaml(yaml_path) if yaml_path is not None else {}
    check(isinstance(spec, dict), f"{yaml_path}: expected a mapping with 'names' (and 'train', 'val')")
    names = yaml_names(spec, yaml_path) if yaml_path is not None else None
    folder = path if yaml_path is None or path.is_dir() else yaml_path.parent
    if any(spec.get(k) for k in ("train", "val", "test")):
        given = spec.get("path")
        base = yaml_path.parent
        if isinstance(given, str) and given.strip():
            base = Path(given).expanduser() if Path(given).expanduser().is_absolute() else yaml_path.parent / given
            base = base if base.is_dir() else yaml_path.parent  # a `path:` of another machine
        splits = {k: _yaml_split(spec[k], base, yaml_path, k) for k in ("train", "val", "test") if spec.get(k)}
        layout = YoloLayout(base, names, splits, source=str(yaml_path))
    else:
        if (folder / "images").is_dir():
            subs = {split_kind(p.name): p for p in sorted((folder / "images").iterdir()) if p.is_dir()}
            check(
                (folder / "labels").is_dir(),
                f"{folder} is not a YOLO folder",
                "expected images/ and labels/ with matching file names",
            )
        else:
            subs = {split_kind(p.name): p / "images" for p in sorted(folder.iterdir()) if (p / "images").is_dir()}
            check(
                any(k is not None for k in subs),
                f"{folder} is not a YOLO folder",
                "expected images/ and labels/ with matching file names, or a dataset YAML",
            )
        splits = {k: _images_under(p) for k, p in subs.items() if k is not None}
        layout = YoloLayout(folder, names, splits, source=f"{folder}/images/<split>/ folders")
        layout.images = _images_under(folder / "images") if (folder / "images").is_dir() else []
    if not layout.images:  # every image once, in split order
        layout.images = list(dict.fromkeys(p for files in layout.splits.values() for p in files))
    if layout.names is None:
        listing = next((d / "classes.txt" for d in (folder, layout.root) if (d / "classes.txt").is_file()), None)
        if listing is not None:
            try:
                layout.names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
            except UnicodeDecodeError:
                raise UserError(f"{listing}: not a text file") from None
    return layout


# ---- what was found, in words ----


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
