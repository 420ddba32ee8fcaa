"""Detection sources as people keep them: official splits (VOC ImageSets, COCO instances_<split>.json,
YOLO YAML or images/<split>/), a random split only without them, VOC's flat layout, COCO's images=."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dlbasic.detection.data.sources import load_detection, official_splits
from dlbasic.detection.data.splits import load_images, load_parts, load_split, random_split
from dlbasic.errors import UserError

# (name, (width, height), [(class, (x1, y1, x2, y2))]): one bright rectangle per object on black
ITEMS = [(f"im{i}", (64, 48), [("dog" if i % 2 else "cat", (8 + 2 * i, 6, 40 + 2 * i, 38))]) for i in range(5)]


def write_image(path: Path, size: tuple[int, int], boxes) -> None:
    array = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    for x1, y1, x2, y2 in boxes:
        array[y1:y2, x1:x2] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def voc_xml(filename: str, objects) -> str:
    return (
        f"<annotation><filename>{filename}</filename>"
        + "".join(
            f"<object><name>{c}</name><bndbox><xmin>{b[0] + 1}</xmin><ymin>{b[1] + 1}</ymin><xmax>{b[2]}</xmax>"
            f"<ymax>{b[3]}</ymax></bndbox></object>"
            for c, b in objects
        )
        + "</annotation>"
    )


def write_voc(root: Path, items=ITEMS, splits: dict[str, list[str]] | None = None, flat: bool = False) -> str:
    """A VOC folder (Annotations/ + JPEGImages/, or flat) with ImageSets/Main/<split>.txt for `splits`."""
    ann, img = (root, root) if flat else (root / "Annotations", root / "JPEGImages")
    ann.mkdir(parents=True, exist_ok=True)
    for name, size, objects in items:
        write_image(img / f"{name}.png", size, [b for _, b in objects])
        (ann / f"{name}.xml").write_text(voc_xml(f"{name}.png", objects))
    for split, names in (splits or {}).items():
        (root / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(names) + "\n")
    return f"voc:{root}"


def coco_json(items, image_ids: int = 0, categories=("cat", "dog")) -> dict:
    cats = [{"id": 10 + k, "name": c} for k, c in enumerate(categories)]
    ids = {c["name"]: c["id"] for c in cats}
    anns = [
        {
            "id": len(items) * 10 + i * 10 + k,
            "image_id": image_ids + i,
            "category_id": ids[c],
            "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
        }
        for i, (_, _, objects) in enumerate(items)
        for k, (c, b) in enumerate(objects)
    ]
    return {
        "images": [
            {"id": image_ids + i, "file_name": f"{n}.png", "width": s[0], "height": s[1]}
            for i, (n, s, _) in enumerate(items)
        ],
        "annotations": anns,
        "categories": cats,
    }


def write_yolo(folder: Path, items, names=("cat", "dog")) -> None:
    """images/ and labels/ under `folder` (Ultralytics: a label at the image path with images -> labels)."""
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    for name, (w, h), objects in items:
        write_image(folder / "images" / f"{name}.png", (w, h), [b for _, b in objects])
        lines = [
            f"{names.index(c)} {(b[0] + b[2]) / 2 / w} {(b[1] + b[3]) / 2 / h} {(b[2] - b[0]) / w} {(b[3] - b[1]) / h}"
            for c, b in objects
        ]
        (folder / "labels" / f"{name}.txt").write_text("\n".join(lines) + "\n")


def test_voc_official_splits_are_used(tmp_path):
    spec = write_voc(tmp_path, splits={"train": ["im0", "im1", "im2"], "val": ["im3", "im4"]})
    assert official_splits(spec) == ["train", "val"]
    split = load_split(spec, image_size=32)
    assert (len(split.train_images), len(split.test_images)) == (3, 2)
    assert (split.train_split, split.split) == ("official train split", "official val split")
    # VOC 2007: train on trainval, test on test
    write_voc(tmp_path, splits={"trainval": ["im0", "im1", "im2", "im3"], "test": ["im4"]})
    train, test, train_how, test_how = load_parts(spec)
    assert train.names == [f"im{i}.png" for i in range(4)] and test.names == ["im4.png"]
    assert (train_how, test_how) == ("official trainval split", "official test split")
    assert len(load_images(spec, "val")[0]) == 2 and len(load_images(spec, "all")[0]) == 5
    assert load_images(spec, "heldout")[1] == "official test split"


def test_random_split_only_without_official_splits(tmp_path):
    spec = write_voc(tmp_path)
    assert official_splits(spec) == []
    train, test, train_how, test_how = load_parts(spec, seed=3)
    assert train_how == test_how == "random 80/20 split, seed 3"
    keep, held = random_split(5, 3)
    assert train.names == [f"im{i}.png" for i in keep] and test.names == [f"im{i}.png" for i in held]
    assert load_split(spec, 32, seed=3).split == "random 80/20 split, seed 3"
    data, how = load_images(spec, "test", seed=3)
    assert data.names == test.names and how == "test part of the random 80/20 split, seed 3"
    with pytest.raises(UserError, match=r"has no val split .*no official splits"):
        load_images(spec, "val")


def test_only_one_official_split_falls_back_to_a_random_one(tmp_path):
    spec = write_voc(tmp_path, splits={"train": ["im0", "im1", "im2"]})
    assert official_splits(spec) == ["train"]
    assert load_split(spec, 32).split == "random 80/20 split, seed 0"


def test_only_one_official_split_falls_back_to_a_random_one_at_eval_too(tmp_path):
    spec = write_voc(tmp_path, splits={"test": ["im3", "im4"]})
    _, held = random_split(5, 0)
    data, how = load_images(spec, "heldout")
    assert data.names == [f"im{i}.png" for i in held] and how == "test part of the random 80/20 split, seed 0"
    assert load_images(spec, "test")[0].names == ["im3.png", "im4.png"]  # asked for by name: the official one


def test_roboflow_coco_export(tmp_path):
    """{train,valid,test}/_annotations.coco.json with the images beside each file."""
    for folder, items in (("train", ITEMS[:3]), ("valid", ITEMS[3:])):
        for name, size, objects in items:
            write_image(tmp_path / folder / f"{name}.png", size, [b for _, b in objects])
        (tmp_path / folder / "_annotations.coco.json").write_text(json.dumps(coco_json(items)))
    spec = f"coco:{tmp_path / 'train' / '_annotations.coco.json'}"
    assert sorted(official_splits(spec)) == ["train", "val"]
    _, test, _, how = load_parts(spec)
    assert test.names == ["im3.png", "im4.png"] and how == "official val split"


def test_voc_flat_layout(tmp_path):
    items = [("a", (64, 48), [("dog", (8, 6, 40, 38))]), ("b", (32, 32), [("cat", (2, 2, 20, 30))])]
    spec = write_voc(tmp_path, items, flat=True)
    (tmp_path / "b.xml").write_text(voc_xml("IMG_0042.JPG", items[1][2]))  # a stale <filename>: found by the xml's stem
    data = load_detection(spec)
    assert data.names == ["a.png", "b.png"] and data.classes == ["cat", "dog"]
    torch.testing.assert_close(data.targets[0]["boxes"], torch.tensor([[8.0, 6.0, 40.0, 38.0]]))


def test_coco_sibling_split_files_and_class_names(tmp_path):
    """annotations/instances_train2017.json beside train2017/ and instances_val2017.json beside val2017/; the val
    file lists only dogs under another category id, matched to the training classes by name."""
    (tmp_path / "annotations").mkdir()
    train_items, val_items = ITEMS[:3], [(n, s, [("dog", b) for _, b in o]) for n, s, o in ITEMS[3:]]
    for folder, items in (("train2017", train_items), ("val2017", val_items)):
        for name, size, objects in items:
            write_image(tmp_path / folder / f"{name}.png", size, [b for _, b in objects])
    (tmp_path / "annotations" / "instances_train2017.json").write_text(json.dumps(coco_json(train_items)))
    (tmp_path / "annotations" / "instances_val2017.json").write_text(
        json.dumps(coco_json(val_items, image_ids=100, categories=("dog",)))
    )
    for named in ("train2017", "val2017"):
        spec = f"coco:{tmp_path / 'annotations' / f'instances_{named}.json'}"
        assert sorted(official_splits(spec)) == ["train", "val"]
        split = load_split(spec, image_size=32)
        assert (len(split.train_images), len(split.test_images), split.split) == (3, 2, "official val split")
        assert split.classes == ["cat", "dog"] and [t["labels"].tolist() for t in split.test_targets] == [[1], [1]]
    assert len(load_detection(spec)) == 2  # the named file alone: all its images
    # the dataset folder stands for its training file and the sibling splits
    assert sorted(official_splits(f"coco:{tmp_path}")) == ["train", "val"]
    _, test, train_how, test_how = load_parts(f"coco:{tmp_path}")
    assert (len(test), train_how, test_how) == (2, "official train split", "official val split")
    assert len(load_detection(f"coco:{tmp_path}")) == 3  # every image of the training file
    (tmp_path / "annotations" / "instances_train2017.json").unlink()
    assert len(load_detection(f"coco:{tmp_path}")) == 2  # its one instances file
    (tmp_path / "annotations" / "instances_test2017.json").write_text(json.dumps(coco_json(ITEMS[:1])))
    with pytest.raises(UserError, match=r"holds 2 COCO files .*name one: coco:"):
        load_detection(f"coco:{tmp_path}")


def test_coco_folder_of_a_roboflow_export_and_of_one_file(tmp_path):
    for folder, items in (("train", ITEMS[:3]), ("valid", ITEMS[3:])):
        for name, size, objects in items:
            write_image(tmp_path / folder / f"{name}.png", size, [b for _, b in objects])
        (tmp_path / folder / "_annotations.coco.json").write_text(json.dumps(coco_json(items)))
    assert sorted(official_splits(f"coco:{tmp_path}")) == ["train", "val"]
    assert load_parts(f"coco:{tmp_path}")[3] == "official val split"
    one = tmp_path / "valid"
    assert len(load_detection(f"coco:{one}")) == 2  # a folder holding one annotation file
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="empty holds no COCO instances file"):
        load_detection(f"coco:{tmp_path / 'empty'}")


def test_coco_images_option(tmp_path):
    for name, size, objects in ITEMS[:2]:
        write_image(tmp_path / "pictures" / f"{name}.png", size, [b for _, b in objects])
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "ann.json").write_text(json.dumps(coco_json(ITEMS[:2])))
    data = load_detection(f"coco:{tmp_path / 'labels' / 'ann.json'},images={tmp_path / 'pictures'}")
    assert data.names == ["im0.png", "im1.png"] and not data.skipped
    with pytest.raises(UserError, match="none of the 2 images"):  # not beside the file nor in images/
        load_detection(f"coco:{tmp_path / 'labels' / 'ann.json'}")
    with pytest.raises(UserError, match="has no option size"):
        load_detection(f"coco:{tmp_path / 'labels' / 'ann.json'},size=3")
    with pytest.raises(UserError, match=r"images=.*no such folder"):
        load_detection(f"coco:{tmp_path / 'labels' / 'ann.json'},images={tmp_path / 'nope'}")


def test_yolo_yaml_with_dict_names_and_train_val(tmp_path):
    """Roboflow/Ultralytics: data/train/images + data/valid/images, a YAML elsewhere whose path: points there."""
    write_yolo(tmp_path / "data" / "train", ITEMS[:3])
    write_yolo(tmp_path / "data" / "valid", ITEMS[3:])
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "pets.yaml").write_text(
        "path: ../data\ntrain: train/images\nval: valid/images\ntest:\nnames:\n  0: cat\n  1: dog\n"
    )
    for spec in (f"yolo:{tmp_path / 'cfg' / 'pets.yaml'}", f"yolo:{tmp_path / 'cfg'}"):
        assert official_splits(spec) == ["train", "val"]
        split = load_split(spec, image_size=32)
        assert (len(split.train_images), len(split.test_images), split.split) == (3, 2, "official val split")
        assert split.classes == ["cat", "dog"]
        assert [t["labels"].tolist() for t in split.test_targets] == [[1], [0]]  # im3 dog, im4 cat
    assert len(load_detection(spec)) == 5


def test_yolo_yaml_list_names_and_image_lists(tmp_path):
    """names as a list; val as a .txt list of images (./ relative to the list), path: absent (the YAML's folder)."""
    write_yolo(tmp_path, ITEMS)
    (tmp_path / "val.txt").write_text("./images/im3.png\n./images/im4.png\n")
    (tmp_path / "train.txt").write_text("\n".join(f"images/im{i}.png" for i in range(3)) + "\n")
    (tmp_path / "data.yaml").write_text("train: train.txt\nval: val.txt\nnames: [cat, dog]\n")
    train, test, _, how = load_parts(f"yolo:{tmp_path}")
    assert train.names == ["im0.png", "im1.png", "im2.png"] and test.names == ["im3.png", "im4.png"]
    assert how == "official val split"


def test_yolo_images_train_val_folders(tmp_path):
    write_yolo(tmp_path / "tmp", ITEMS)
    for split, items in (("train", ITEMS[:3]), ("val", ITEMS[3:])):
        for sub in ("images", "labels"):
            (tmp_path / sub / split).mkdir(parents=True)
            for name, _, _ in items:
                suffix = ".png" if sub == "images" else ".txt"
                (tmp_path / "tmp" / sub / f"{name}{suffix}").rename(tmp_path / sub / split / f"{name}{suffix}")
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    spec = f"yolo:{tmp_path}"
    assert official_splits(spec) == ["train", "val"]
    _, test, _, how = load_parts(spec)
    assert test.names == ["val/im3.png", "val/im4.png"] and how == "official val split"
    assert [t["labels"].tolist() for t in test.targets] == [[1], [0]]


def test_overlapping_official_splits_warn(tmp_path):
    """coco128.yaml trains and validates on the same folder: allowed, but said."""
    write_yolo(tmp_path, ITEMS)
    (tmp_path / "coco128.yaml").write_text("path: ../datasets/coco128\ntrain: images\nval: images\nnames: [cat, dog]\n")
    with pytest.warns(UserWarning, match="5 of the 5 val images are also train images"):
        load_parts(f"yolo:{tmp_path}")


def test_data_show_names_the_official_splits(tmp_path, capsys):
    from dlbasic.cli import main

    spec = write_voc(tmp_path / "voc", splits={"train": ["im0", "im1", "im2"], "val": ["im3", "im4"]})
    assert main(["data", "show", spec, "--split", "val", "--out", str(tmp_path / "val.png")]) == 0
    out = capsys.readouterr().out
    assert "the first 2 val images with 2 boxes" in out and "official val: " in out and "official train: " in out
    assert main(["data", "show", spec, "--split", "test", "--out", str(tmp_path / "test.png")]) == 2
    assert "has no official test split (its official splits: train, val)" in capsys.readouterr().err
    assert main(["data", "show", write_voc(tmp_path / "plain"), "--out", str(tmp_path / "p.png")]) == 0
    assert "no official splits" in capsys.readouterr().out


def test_coco_val_file_listing_the_train_images(tmp_path):
    """A published COCO128: instances_train2017.json and instances_val2017.json beside train2017/ only, the val
    file listing the train images; they are found in the sibling folder, and when they are nowhere the one-line
    error names the annotation file and the folders searched."""
    (tmp_path / "annotations").mkdir()
    for name, size, objects in ITEMS:
        write_image(tmp_path / "train2017" / f"{name}.png", size, [b for _, b in objects])
    for split in ("train2017", "val2017"):
        (tmp_path / "annotations" / f"instances_{split}.json").write_text(json.dumps(coco_json(ITEMS)))
    spec = f"coco:{tmp_path}"
    for split in ("train", "val"):
        data = load_detection(spec, split=split)
        assert data.names == [f"im{i}.png" for i in range(5)] and not data.skipped
        torch.testing.assert_close(data.targets[1]["boxes"], torch.tensor([[10.0, 6.0, 42.0, 38.0]]))
    with pytest.warns(UserWarning, match="5 of the 5 val images are also train images"):
        _, test, _, test_how = load_parts(spec)
    assert (len(test), test_how) == (5, "official val split")
    (tmp_path / "train2017").rename(tmp_path / "elsewhere")
    with pytest.raises(UserError) as caught:
        load_detection(spec, split="val")
    message = str(caught.value)
    assert "\n" not in message and "instances_val2017.json: none of the 5 images it lists (e.g. im0.png)" in message
    assert f"folders searched: {tmp_path / 'annotations'}" in message and "elsewhere" not in message
    (tmp_path / "elsewhere").rename(tmp_path / "train2017")
    (tmp_path / "train2017" / "im4.png").unlink()
    with pytest.warns(UserWarning, match=r"1 of its 5 images are in none of the folders searched .*im4.png; skipped"):
        data = load_detection(spec, split="val")
    assert data.names == [f"im{i}.png" for i in range(4)] and data.skipped == ["im4.png: not found"]
