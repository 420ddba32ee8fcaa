"""Pascal VOC (Everingham et al. 2010): where a source's files are, and its XML annotations read.

Layouts: `DIR/Annotations/*.xml` + `DIR/JPEGImages/`, `DIR/annots/` + `DIR/images/`, or the .xml files beside
the images (the flat layout of labelImg). Official splits: `ImageSets/Main/{train,val,trainval,test}.txt` (one
image id per line). Corners are 1-based inclusive pixels, so x1 = xmin - 1, x2 = xmax. Classes are the sorted
object names unless given. `difficult` flags are kept as a bool Tensor[K].
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dlbasic.data.images import IMAGE_SUFFIXES
from dlbasic.detection.data.dataset import (
    SPLIT_NAMES,
    DetectionSet,
    check_inside,
    clip_to_image,
    finite_number,
    read_image,
)
from dlbasic.errors import UserError, check


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
            corners.append(finite_number(text.strip(), f"{where}: <{key}>"))
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
        boxes = clip_to_image([b for _, b, _ in objs], where, image, path.name)
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
