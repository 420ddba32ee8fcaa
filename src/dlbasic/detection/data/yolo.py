"""YOLO (Ultralytics' layout): where a source's images, labels and splits are, and its label files read.

`images/` + `labels/` with a label file per image at the image's path with its last `images` folder replaced
by `labels` and the suffix by `.txt`: one `class cx cy w h` line per box, normalized to [0, 1] (a polygon line
gives its bounding box). The splits come from a dataset YAML (`yolo:DIR/file.yaml`, or the one `*.yaml` in DIR:
`path:`, `train:`, `val:`, `test:` (a folder, a .txt list of images, or a list of them, relative to `path:` or
else the YAML's folder), `names:` as a list or an {index: name} dict), else from `images/{train,val,test}/`
folders (or `{train,valid,test}/images/`). Names come from the YAML's `names`, else `DIR/classes.txt`, else
the class numbers.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dlbasic.detection.data.dataset import (
    DetectionSet,
    clip_to_image,
    finite_number,
    images_under,
    read_image,
    read_text,
    split_kind,
)
from dlbasic.errors import UserError, check


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
            out += images_under(path)
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
        splits = {k: images_under(p) for k, p in subs.items() if k is not None}
        layout = YoloLayout(folder, names, splits, source=f"{folder}/images/<split>/ folders")
        layout.images = images_under(folder / "images") if (folder / "images").is_dir() else []
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
    number = finite_number(parts[0], f"{where}: class")
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
        cx, cy, w, h = (finite_number(v, f"{where}: {k}") for k, v in zip(("cx", "cy", "w", "h"), parts[1:]))
        if w <= 0 or h <= 0:
            raise UserError(f"{where}: box {line.strip()!r} has non-positive width or height")
        return label, [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
    xy = [finite_number(v, f"{where}: point {i // 2 + 1} {'xy'[i % 2]}") for i, v in enumerate(parts[1:])]
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
            for n, line in enumerate(read_text(label_file).splitlines(), start=1):
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
                "boxes": clip_to_image(
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
