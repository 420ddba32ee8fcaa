"""VOC / COCO / YOLO loaders (one representation), box-aware transforms, and `dlbasic data show`."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dlbasic.cli import main
from dlbasic.detection.datasets import load_coco, load_detection, load_voc, load_yolo, read_image
from dlbasic.detection.transforms import hflip, resize
from dlbasic.errors import UserError

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
KANGAROO = SHARED / "kangaroo"
needs_kangaroo = pytest.mark.skipif(not (KANGAROO / "annots").is_dir(), reason="no ../shared/data/kangaroo")

# two images, 40x30 and 20x20; boxes in continuous pixel coordinates
BOXES = [[[2.0, 3.0, 12.0, 20.0], [20.0, 5.0, 38.0, 29.0]], [[0.0, 0.0, 20.0, 10.0]]]
LABELS = [[0, 1], [1]]
CLASSES = ["cat", "dog"]


def write_images(folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, (w, h) in enumerate([(40, 30), (20, 20)]):
        array = np.full((h, w, 3), 50 * (i + 1), dtype=np.uint8)
        Image.fromarray(array).save(folder / f"im{i}.png")
        names.append(f"im{i}.png")
    return names


def check_loaded(data):
    assert data.classes == CLASSES and len(data) == 2
    assert data.images[0].shape == (3, 30, 40) and data.images[1].shape == (3, 20, 20)
    assert data.images[0].dtype == torch.float32 and float(data.images[0].max()) == pytest.approx(50 / 255)
    for target, boxes, labels in zip(data.targets, BOXES, LABELS):
        torch.testing.assert_close(target["boxes"], torch.tensor(boxes))
        assert target["labels"].dtype == torch.long and target["labels"].tolist() == labels


def test_voc_layout(tmp_path):
    names = write_images(tmp_path / "JPEGImages")
    (tmp_path / "Annotations").mkdir()
    for name, boxes, labels in zip(names, BOXES, LABELS):
        objects = "".join(
            f"<object><name>{CLASSES[c]}</name><difficult>{int(c == 1)}</difficult>"
            f"<bndbox><xmin>{b[0] + 1:g}</xmin><ymin>{b[1] + 1:g}</ymin>"
            f"<xmax>{b[2]:g}</xmax><ymax>{b[3]:g}</ymax></bndbox></object>"
            for b, c in zip(boxes, labels))
        xml = f"<annotation><filename>{name}</filename>{objects}</annotation>"
        (tmp_path / "Annotations" / f"{Path(name).stem}.xml").write_text(xml)
    data = load_voc(tmp_path)
    check_loaded(data)
    assert data.targets[0]["difficult"].tolist() == [False, True]
    with pytest.raises(UserError, match="not a VOC folder"):
        load_voc(tmp_path / "JPEGImages")


def test_coco_layout(tmp_path):
    names = write_images(tmp_path / "images")
    anns = []
    for i, (boxes, labels) in enumerate(zip(BOXES, LABELS)):
        for b, c in zip(boxes, labels):
            anns.append({"id": len(anns) + 1, "image_id": i + 10, "category_id": [7, 9][c], "iscrowd": 0,
                         "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]})
    data = {"images": [{"id": i + 10, "file_name": n} for i, n in enumerate(names)], "annotations": anns,
            "categories": [{"id": 9, "name": "dog"}, {"id": 7, "name": "cat"}]}
    (tmp_path / "ann.json").write_text(json.dumps(data))
    check_loaded(load_coco(tmp_path / "ann.json"))
    check_loaded(load_detection(f"coco:{tmp_path / 'ann.json'}"))


def test_yolo_layout(tmp_path):
    names = write_images(tmp_path / "images")
    (tmp_path / "labels").mkdir()
    for name, boxes, labels, (w, h) in zip(names, BOXES, LABELS, [(40, 30), (20, 20)]):
        lines = [f"{c} {(b[0] + b[2]) / 2 / w} {(b[1] + b[3]) / 2 / h} {(b[2] - b[0]) / w} "
                 f"{(b[3] - b[1]) / h}" for b, c in zip(boxes, labels)]
        (tmp_path / "labels" / f"{Path(name).stem}.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    check_loaded(load_yolo(tmp_path))
    (tmp_path / "labels" / "im1.txt").write_text("1 0.5 0.5\n")
    with pytest.raises(UserError, match="expected 'class cx cy w h'"):
        load_yolo(tmp_path)


def test_unreadable_and_truncated_images(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert read_image(tmp_path / "bad.jpg") is None
    assert len(caught) == 1 and "cannot read image" in str(caught[0].message)
    array = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    Image.fromarray(array).save(tmp_path / "full.jpg", quality=95)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) - 200])
    with pytest.warns(UserWarning, match="truncated"):
        image = read_image(tmp_path / "cut.jpg")
    assert image.shape == (3, 64, 64)


@needs_kangaroo
def test_kangaroo_all_images():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_voc(KANGAROO)
    assert len(data) == 164 and not data.skipped and data.classes == ["kangaroo"]
    assert sum(len(t["boxes"]) for t in data.targets) == 266
    assert [str(w.message) for w in caught if "00090.jpg" in str(w.message) and "truncated" in str(w.message)]
    for image, target in zip(data.images, data.targets):
        h, w = image.shape[-2:]
        b = target["boxes"]
        assert (b[:, 0] < b[:, 2]).all() and (b[:, 1] < b[:, 3]).all()
        assert (b[:, :2] >= 0).all() and (b[:, 2] <= w).all() and (b[:, 3] <= h).all()


def test_resize_and_flip_move_boxes_with_pixels():
    image = torch.zeros(1, 20, 40)
    image[0, 5:10, 8:16] = 1.0  # a white block at x 8..16, y 5..10
    target = {"boxes": torch.tensor([[8.0, 5.0, 16.0, 10.0]]), "labels": torch.tensor([0])}
    flipped, t = hflip(image, target)
    x1, y1, x2, y2 = (int(v) for v in t["boxes"][0])
    assert flipped[0, y1:y2, x1:x2].min() == 1.0 and flipped.sum() == image.sum()
    small, t = resize(image, target, (10, 20))
    torch.testing.assert_close(t["boxes"], torch.tensor([[4.0, 2.5, 8.0, 5.0]]))
    assert small.shape == (1, 10, 20) and target["boxes"][0, 0] == 8.0  # input target untouched


def test_data_show_command(tmp_path, capsys):
    out = tmp_path / "scenes.png"
    assert main(["data", "show", "scenes", "--out", str(out), "--count", "3"]) == 0
    assert out.stat().st_size > 1000 and "3 images" in capsys.readouterr().out
    assert main(["data", "show", "voc:" + str(tmp_path / "missing")]) == 2
    assert "not a VOC folder" in capsys.readouterr().err
    assert main(["data", "show", "pascal:x"]) == 2


@needs_kangaroo
def test_data_show_kangaroo(tmp_path, capsys):
    out = tmp_path / "k.png"
    assert main(["data", "show", f"voc:{KANGAROO}", "--out", str(out), "--count", "2"]) == 0
    assert out.is_file() and "2 images, 4 boxes" in capsys.readouterr().out
