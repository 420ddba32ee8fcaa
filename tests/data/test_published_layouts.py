"""Real datasets in their published layouts read the same as the same data prepared by hand in another
format: the kangaroo set (VOC as published) against hand-made COCO and YOLO files of its boxes, and the
ISBI 2012 membranes (binary masks, membrane dark) against hand-made class-id masks. Same images, same
boxes or masks, same split: a model trained on either gives the same numbers."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from PIL import Image

from dlbasic.detection.data.sources import load_detection
from dlbasic.detection.data.splits import load_parts
from dlbasic.segmentation.data import load_segmentation

pytestmark = pytest.mark.filterwarnings("ignore:.*truncated:UserWarning")  # kangaroo's 00090.jpg is cut short


def kangaroo(shared_data):
    root = shared_data / "kangaroo"
    if not (root / "annots").is_dir():
        pytest.skip("kangaroo is not present")
    return root


def voc_boxes(root):
    """{file name: (width, height, [(x1, y1, x2, y2) in 0-based pixels])} straight from the XML files."""
    out = {}
    for xml in sorted((root / "annots").glob("*.xml")):
        tree = ET.parse(xml).getroot()
        size = tree.find("size")
        corners = [
            [float(o.find("bndbox").findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")] for o in tree.iter("object")
        ]
        boxes = [(x1 - 1, y1 - 1, x2, y2) for x1, y1, x2, y2 in corners]  # VOC counts pixels from 1
        out[tree.findtext("filename")] = (int(size.findtext("width")), int(size.findtext("height")), boxes)
    return out


def same_sets(a, b, atol=0.0):
    assert a.names == b.names and a.classes == b.classes
    for ta, tb in zip(a.targets, b.targets):
        torch.testing.assert_close(ta["boxes"], tb["boxes"], rtol=0, atol=atol)
        assert torch.equal(ta["labels"], tb["labels"])
    assert all(torch.equal(x, y) for x, y in zip(a.images, b.images))


def test_kangaroo_as_published_equals_hand_made_coco_and_yolo(shared_data, tmp_path):
    root = kangaroo(shared_data)
    boxes = voc_boxes(root)
    images = [
        {"id": i, "file_name": name, "width": w, "height": h} for i, (name, (w, h, _)) in enumerate(boxes.items())
    ]
    annotations = []
    for i, (_, (_, _, bs)) in enumerate(boxes.items()):
        for x1, y1, x2, y2 in bs:
            bbox = [x1, y1, x2 - x1, y2 - y1]
            annotations.append({"id": len(annotations), "image_id": i, "category_id": 1, "bbox": bbox})
    coco = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "kangaroo"}]}
    (tmp_path / "kangaroo.json").write_text(json.dumps(coco))
    yolo = tmp_path / "yolo"
    (yolo / "labels").mkdir(parents=True)
    (yolo / "images").symlink_to(root / "images")
    for name, (w, h, bs) in boxes.items():
        rows = [
            f"0 {(a + c) / 2 / w:.9f} {(b + d) / 2 / h:.9f} {(c - a) / w:.9f} {(d - b) / h:.9f}" for a, b, c, d in bs
        ]
        (yolo / "labels" / name).with_suffix(".txt").write_text("\n".join(rows) + "\n")
    (yolo / "data.yaml").write_text("names: [kangaroo]\n")

    voc = load_detection(f"voc:{root}")
    assert len(voc) == 164 and sum(len(t["boxes"]) for t in voc.targets) == 266
    same_sets(voc, load_detection(f"coco:{tmp_path / 'kangaroo.json'},images={root / 'images'}"))
    same_sets(voc, load_detection(f"yolo:{yolo}"), atol=1e-4)  # YOLO stores fractions of the image
    # the same 80/20 split, hence the same training run, from either file
    a, b = (
        load_parts(f"voc:{root}", seed=3),
        load_parts(f"coco:{tmp_path / 'kangaroo.json'},images={root / 'images'}", seed=3),
    )
    assert a[0].names == b[0].names and a[1].names == b[1].names and a[2] == b[2] == "random 80/20 split, seed 3"


def test_isbi_as_published_equals_hand_made_class_ids(shared_data, tmp_path):
    root = shared_data / "isbi2012-membrane"
    if not (root / "train" / "label").is_dir():
        pytest.skip("isbi2012-membrane is not present")
    (tmp_path / "images").symlink_to(root / "train" / "image")
    (tmp_path / "masks").mkdir()
    for label in sorted((root / "train" / "label").glob("*.png")):
        gray = np.asarray(Image.open(label).convert("L"))
        Image.fromarray((gray <= 127).astype(np.uint8)).save(tmp_path / "masks" / label.name)  # membrane (dark) = 1
    (tmp_path / "classes.txt").write_text("cell\nmembrane\n")
    for split in ("train", "val", "test"):
        published = load_segmentation(f"segfolder:{root},invert=1", split, seed=1)
        by_hand = load_segmentation(f"segfolder:{tmp_path}", split, seed=1)
        assert torch.equal(published.labels, by_hand.labels) and torch.equal(published.images, by_hand.images)
        assert by_hand.classes == ["cell", "membrane"] and 0.15 < published.labels.float().mean() < 0.3
