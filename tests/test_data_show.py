"""`dlbasic data show` for every kind of spec: the split sizes and per-class counts it prints are those training
uses, the conventions it found are named, and a figure is drawn."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from dlbasic.cli import main
from dlbasic.data import load
from dlbasic.segmentation.data import load_segmentation


def rows(text: str, header: str) -> dict[str, list[str]]:
    """The table under the line `header`: first cell -> the other cells."""
    lines = text.splitlines()
    start = lines.index(header) + 2  # skip the column names
    out = {}
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        first, *rest = line.split()
        out[first] = rest
    return out


def test_classification_counts_are_the_training_splits(tmp_path, capsys):
    out = tmp_path / "digits.png"
    assert main(["data", "show", "digits", "--seed", "3", "--out", str(out), "--count", "5"]) == 0
    text = capsys.readouterr().out
    assert out.stat().st_size > 1000 and "the first 5 train images with their classes" in text
    assert "10 classes, 1 channel(s), 8x8 pixels" in text and "stratified 20% hold-out (seed 3)" in text
    table = rows(text, "images per class:")
    for k, split in enumerate(("train", "val", "test")):
        want = torch.bincount(load("digits", split, 3).labels, minlength=10).tolist()
        assert [int(table[str(c)][k]) for c in range(10)] == want
    sizes = {m.group(1): int(m.group(2)) for m in re.finditer(r"^  (train|val|test) +(\d+)", text, re.M)}
    assert sizes == {s: len(load("digits", s, 3)) for s in ("train", "val", "test")}


def test_classification_draws_the_split_asked_for(tmp_path, capsys):
    assert main(["data", "show", "digits", "--split", "test", "--out", str(tmp_path / "t.png"), "--count", "2"]) == 0
    assert "the first 2 test images" in capsys.readouterr().out
    assert main(["data", "show", "digits", "--split", "trainval", "--out", str(tmp_path / "v.png")]) == 2
    assert "no trainval split here (splits: train, val, test)" in capsys.readouterr().err


def write_named_pairs(root, n=6):
    """Id masks 0..2 with a classes.txt whose last class is void, plus 255 void pixels."""
    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        ids = rng.integers(0, 3, (12, 16))
        ids[0, :2] = 255
        Image.fromarray(rng.integers(0, 256, (12, 16), dtype=np.uint8), "L").save(root / "images" / f"s{i}.png")
        Image.fromarray(ids.astype(np.uint8), "L").save(root / "masks" / f"s{i}.png")
    (root / "classes.txt").write_text("sky\nroad\nvoid\n")


def test_segmentation_names_its_conventions_and_pixel_shares(tmp_path, capsys):
    root = tmp_path / "scans; 2024"  # a separator inside a path keeps each convention on one line
    write_named_pairs(root)
    spec = f"segfolder:{root}"
    assert main(["data", "show", spec, "--out", str(tmp_path / "s.png")]) == 0
    text = capsys.readouterr().out
    assert f"  train: images in {root / 'images'}, masks in {root / 'masks'}\n" in text
    assert "class-id masks: ids 0 to 2, 255 is void" in text
    assert f"class names from {root / 'classes.txt'} (void: void)" in text
    assert "2 classes, 1 channel(s), 16x12 pixels" in text and (tmp_path / "s.png").stat().st_size > 1000
    parts = {s: load_segmentation(spec, s) for s in ("train", "val", "test")}
    table = rows(text, "share of labelled pixels per class:")
    for k, data in enumerate(parts.values()):
        labelled = data.labels[data.labels != 255]
        assert table["road"][k] == f"{(labelled == 1).double().mean().item():.1%}"
    void = {m.group(1): int(m.group(2)) for m in re.finditer(r"^  (train|val|test) +\d+ +(\d+)", text, re.M)}
    assert void == {s: int((d.labels == 255).sum()) for s, d in parts.items()}


def test_a_detection_spec_is_not_read_as_another_task(tmp_path, capsys):
    assert main(["data", "show", "voc:x", "--task", "classify", "--out", str(tmp_path / "o.png")]) == 2
    assert "voc:x is a detection source" in capsys.readouterr().err
    assert main(["data", "show", "scenes", "--task", "segment", "--out", str(tmp_path / "m.png")]) == 0
    assert "segmentation data scenes: 11 classes" in capsys.readouterr().out


@pytest.mark.parametrize("spec", ["folder:/no/such/dir", "idx:/no/such/dir", "nosuch"])
def test_bad_specs_are_one_line(tmp_path, capsys, spec):
    assert main(["data", "show", spec, "--out", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()
