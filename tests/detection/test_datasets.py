"""VOC / COCO / YOLO loaders (one representation), box-aware transforms, and `dlbasic data show`."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dlbasic.cli import main
from dlbasic.detection.data.coco import load_coco
from dlbasic.detection.data.dataset import read_image
from dlbasic.detection.data.sources import load_detection
from dlbasic.detection.data.transforms import hflip, resize
from dlbasic.detection.data.voc import load_voc
from dlbasic.detection.data.yolo import load_yolo
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
            for b, c in zip(boxes, labels)
        )
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
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 10,
                    "category_id": [7, 9][c],
                    "iscrowd": 0,
                    "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                }
            )
    data = {
        "images": [{"id": i + 10, "file_name": n} for i, n in enumerate(names)],
        "annotations": anns,
        "categories": [{"id": 9, "name": "dog"}, {"id": 7, "name": "cat"}],
    }
    (tmp_path / "ann.json").write_text(json.dumps(data))
    check_loaded(load_coco(tmp_path / "ann.json"))
    check_loaded(load_detection(f"coco:{tmp_path / 'ann.json'}"))


def test_yolo_layout(tmp_path):
    names = write_images(tmp_path / "images")
    (tmp_path / "labels").mkdir()
    for name, boxes, labels, (w, h) in zip(names, BOXES, LABELS, [(40, 30), (20, 20)]):
        lines = [
            f"{c} {(b[0] + b[2]) / 2 / w} {(b[1] + b[3]) / 2 / h} {(b[2] - b[0]) / w} {(b[3] - b[1]) / h}"
            for b, c in zip(boxes, labels)
        ]
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
    assert out.stat().st_size > 1000 and "the first 3 images" in capsys.readouterr().out
    assert main(["data", "show", "voc:" + str(tmp_path / "missing")]) == 2
    assert "not a VOC folder" in capsys.readouterr().err
    assert main(["data", "show", "pascal:x"]) == 2


@needs_kangaroo
def test_data_show_kangaroo(tmp_path, capsys):
    out = tmp_path / "k.png"
    assert main(["data", "show", f"voc:{KANGAROO}", "--out", str(out), "--count", "2"]) == 0
    text = capsys.readouterr().out
    assert out.is_file() and "the first 2 images with 4 boxes" in text and "no official splits" in text
    # the random 80/20 split of its 164 images and 266 boxes (one image is truncated, and kept)
    assert re.search(r"train +131 +214 .*\n +test +33 +52 ", text), text
    assert re.search(r"kangaroo +214 +52", text), text


def voc_case(root: Path, second: str) -> str:
    """A VOC folder whose im0.xml holds a good cat and then `second` (an <object> or broken XML)."""
    write_images(root / "JPEGImages")
    (root / "Annotations").mkdir()
    good = dog().replace("dog", "cat")
    xml = f"<annotation><filename>im0.png</filename>{good}{second}</annotation>"
    (root / "Annotations" / "im0.xml").write_text(xml)
    return f"voc:{root}"


def dog(xmin="3", ymin="4", xmax="12", ymax="20", box=True) -> str:
    corners = "".join(
        f"<{k}>{v}</{k}>" for k, v in zip(("xmin", "ymin", "xmax", "ymax"), (xmin, ymin, xmax, ymax)) if v is not None
    )
    return f"<object><name>dog</name>{f'<bndbox>{corners}</bndbox>' if box else ''}</object>"


def coco_case(root: Path, ann: dict | None = None, text: str | None = None) -> str:
    """A COCO file with a good annotation 1 and annotation 7 updated by `ann` (None: removed key), or raw `text`."""
    write_images(root / "images")
    bad = {"id": 7, "image_id": 1, "category_id": 9, "bbox": [20, 5, 10, 10]}
    bad.update(ann or {})
    data = {
        "images": [{"id": 1, "file_name": "im0.png"}, {"id": 2, "file_name": "im1.png"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 7, "bbox": [2, 3, 10, 17]},
            {k: v for k, v in bad.items() if v is not None},
        ],
        "categories": [{"id": 7, "name": "cat"}, {"id": 9, "name": "dog"}],
    }
    (root / "ann.json").write_text(json.dumps(data) if text is None else text)
    return f"coco:{root / 'ann.json'}"


def yolo_case(root: Path, second: str) -> str:
    """A YOLO folder (classes cat, dog) whose labels/im0.txt holds a good line and then `second`."""
    write_images(root / "images")
    (root / "labels").mkdir()
    (root / "labels" / "im0.txt").write_text(f"0 0.5 0.5 0.25 0.25\n{second}\n")
    (root / "classes.txt").write_text("cat\ndog\n")
    return f"yolo:{root}"


BAD_ANNOTATIONS = {
    "voc-not-a-number": (voc_case, dog(xmin="abc"), r"im0\.xml: object 2 \(dog\): <xmin> is 'abc', not a number"),
    "voc-no-bndbox": (voc_case, dog(box=False), r"im0\.xml: object 2 \(dog\) has no <bndbox>"),
    "voc-no-coordinate": (voc_case, dog(ymax=None), r"im0\.xml: object 2 \(dog\): <bndbox> has no <ymax>"),
    "voc-no-name": (voc_case, "<object><bndbox/></object>", r"im0\.xml: object 2 has no <name>"),
    "voc-negative-size": (voc_case, dog(xmin="12", xmax="3"), r"im0\.xml: object 2 \(dog\): box xmin=12 .* non-pos"),
    "voc-outside": (
        voc_case,
        dog(xmin="50", xmax="60"),
        r"im0\.xml: object 2 \(dog\): box at x 49\.\.60, y 3\.\.20 \(pixels\) lies outside the 40x30 "
        r"image im0\.png",
    ),
    "voc-malformed": (voc_case, "<object><name>dog</name>", r"im0\.xml: not a valid VOC annotation"),
    "coco-not-a-number": (coco_case, {"bbox": ["a", 1, 2, 3]}, r"ann\.json: annotation id 7: bbox\[0\] is 'a', not a"),
    "coco-no-bbox": (coco_case, {"bbox": None}, r"ann\.json: annotation id 7 has no 'bbox'"),
    "coco-short-bbox": (coco_case, {"bbox": [1, 2, 3]}, r"ann\.json: annotation id 7: 'bbox' is \[1, 2, 3\]"),
    "coco-undefined-category": (
        coco_case,
        {"category_id": 5},
        r"ann\.json: annotation id 7: category_id 5 is not defined in 'categories' "
        r"\(defined ids: 7, 9\)",
    ),
    "coco-zero-width": (coco_case, {"bbox": [5, 5, 0, 4]}, r"annotation id 7: bbox \[5, 5, 0, 4\] has non-positive"),
    "coco-outside": (coco_case, {"bbox": [-30, 5, 10, 10]}, r"annotation id 7: box at x -30\.\.-20, .* lies outside"),
    "coco-no-image-id": (coco_case, {"image_id": None}, r"ann\.json: annotation id 7 has no 'image_id'"),
    "yolo-not-a-number": (yolo_case, "0 a b c d", r"im0\.txt:2: cx is 'a', not a number"),
    "yolo-four-fields": (yolo_case, "0 0.5 0.5 0.1", r"im0\.txt:2: expected 'class cx cy w h', got 4 fields"),
    "yolo-six-fields": (yolo_case, "0 0.5 0.5 0.1 0.1 0.9", r"im0\.txt:2: expected 'class cx cy w h', got 6 fields"),
    "yolo-undefined-class": (yolo_case, "2 0.5 0.5 0.1 0.1", r"im0\.txt:2: class 2 is undefined, the 2 class names"),
    "yolo-fractional-class": (yolo_case, "0.5 0.5 0.5 0.1 0.1", r"im0\.txt:2: class '0\.5' is not a class index"),
    "yolo-zero-height": (yolo_case, "1 0.5 0.5 0.1 0", r"im0\.txt:2: box '1 0\.5 0\.5 0\.1 0' has non-positive"),
    "yolo-outside": (yolo_case, "1 1.5 0.5 0.2 0.2", r"im0\.txt:2: box at x 56\.\.64, .* lies outside the 40x30 image"),
    "yolo-pixel-coordinates": (yolo_case, "1 120 80 30 20", r"im0\.txt:2: .* lies outside .* fractions of the image"),
}


@pytest.mark.parametrize("case", BAD_ANNOTATIONS)
def test_bad_annotations_are_one_line_naming_the_place(tmp_path, capsys, case):
    build, content, expected = BAD_ANNOTATIONS[case]
    spec = build(tmp_path / "data", content)
    with pytest.raises(UserError, match=expected):
        load_detection(spec)
    assert main(["data", "show", spec, "--out", str(tmp_path / "show.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "Traceback" not in err and err.startswith("dlbasic data: error: ")
    assert re.search(expected, err), err
    assert not (tmp_path / "show.png").exists()


def test_malformed_coco_json_names_the_file(tmp_path, capsys):
    spec = coco_case(tmp_path, text='{"images": [')
    assert main(["data", "show", spec]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{tmp_path / 'ann.json'}: not valid JSON" in err


def test_boxes_overlapping_the_image_are_clipped_to_it(tmp_path):
    data = load_detection(voc_case(tmp_path / "voc", dog(xmin="31", ymin="-4", xmax="45", ymax="35")))
    torch.testing.assert_close(data.targets[0]["boxes"][1], torch.tensor([30.0, 0.0, 40.0, 30.0]))
    data = load_detection(coco_case(tmp_path / "coco", {"bbox": [30, 20, 20, 20]}))
    torch.testing.assert_close(data.targets[0]["boxes"][1], torch.tensor([30.0, 20.0, 40.0, 30.0]))
    data = load_detection(yolo_case(tmp_path / "yolo", "1 0.95 0.5 0.2 0.2"))
    torch.testing.assert_close(data.targets[0]["boxes"][1], torch.tensor([34.0, 12.0, 40.0, 18.0]))


def test_yolo_polygon_lines_become_their_bounding_box(tmp_path):
    data = load_detection(yolo_case(tmp_path, "1 0.1 0.2 0.5 0.1 0.3 0.6"))
    torch.testing.assert_close(data.targets[0]["boxes"][1], torch.tensor([4.0, 3.0, 20.0, 18.0]))
    assert data.targets[0]["labels"].tolist() == [0, 1] and data.classes == CLASSES


def test_images_over_the_pil_pixel_limit_are_skipped(tmp_path, monkeypatch):
    names = write_images(tmp_path / "images")  # 40x30 and 20x20
    (tmp_path / "labels").mkdir()
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # im0 (1200 px) raises, im1 (400 px) passes
    with pytest.warns(UserWarning, match=r"im0\.png: cannot read image \(Image size \(1200 pixels\) exceeds limit"):
        data = load_yolo(tmp_path)
    assert data.names == [names[1]] and data.skipped == [f"{tmp_path / 'images' / names[0]}: unreadable"]
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # over the limit but under twice it: PIL only warns
    with pytest.warns(UserWarning, match=r"im0\.png: cannot read image"):
        assert read_image(tmp_path / "images" / names[0]) is None


def test_coco_standard_layout_areas_and_crowds(tmp_path):
    """annotations/instances_val2017.json beside val2017/; areas and crowd flags reach the targets; crowd
    regions leave the training targets and stay (with areas scaled by a resize) in the evaluation ones."""
    from dlbasic.detection.data.splits import as_batch

    names = write_images(tmp_path / "val2017")
    anns = [
        {"id": 1, "image_id": 0, "category_id": 1, "iscrowd": 0, "bbox": [2, 3, 10, 17], "area": 99.5},
        {"id": 2, "image_id": 0, "category_id": 2, "iscrowd": 1, "bbox": [20, 5, 18, 24]},
        {"id": 3, "image_id": 1, "category_id": 2, "bbox": [0, 0, 20, 10]},
    ]
    data = {
        "images": [{"id": i, "file_name": n} for i, n in enumerate(names)],
        "annotations": anns,
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    }
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_val2017.json").write_text(json.dumps(data))
    loaded = load_detection(f"coco:{tmp_path / 'annotations' / 'instances_val2017.json'}")
    assert len(loaded) == 2 and not loaded.skipped
    assert loaded.targets[0]["iscrowd"].tolist() == [False, True]
    assert loaded.targets[0]["area"].tolist() == [99.5, 18 * 24]  # the annotation's, else the box's
    _, train = as_batch(loaded, 20, training=True)
    _, test = as_batch(loaded, 20, training=False)
    assert train[0]["labels"].tolist() == [0] and set(train[0]) == {"boxes", "labels"}
    assert test[0]["iscrowd"].tolist() == [False, True]
    torch.testing.assert_close(test[0]["area"], torch.tensor([99.5, 432.0]) * (20 * 20) / (40 * 30))
