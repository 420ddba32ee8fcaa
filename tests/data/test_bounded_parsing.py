"""Dataset and config files that are crafted or damaged end in one line, fast: JSON nested without end, YAML
alias bombs, file names that leave the dataset, pickles that would run code; warnings go to stderr once."""

from __future__ import annotations

import json
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from dlbasic.cli import main
from dlbasic.errors import UserError

DEEP = 100_000


def bomb(key: str, levels: int = 8, width: int = 9) -> str:
    """A "billion laughs" YAML: `key` lists `levels` lists of `width` aliases of the list before (9**9 values)."""
    lines = [f"{key}:", f"  - &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"  - &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((12, 16, 3), 90, np.uint8)).save(path)


def refused(capsys, argv: list[str], *words: str) -> str:
    """Run the CLI: exit 2, one line on stderr holding `words`, no traceback, within 5 s."""
    start = time.perf_counter()
    rc = main([str(a) for a in argv])
    seconds = time.perf_counter() - start
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.splitlines() == [err] and "Traceback" not in err and ": error: " in err, err
    assert all(w in err for w in words), err
    assert seconds < 5, seconds
    return err


def never_outside(monkeypatch, root: Path) -> None:
    """Fail if a detection loader opens an image outside `root`."""
    from dlbasic.detection.data import coco, dataset, voc, yolo

    read = dataset.read_image

    def read_image(path):
        assert Path(os.path.abspath(path)).is_relative_to(root), f"{path} was opened"
        return read(path)

    for reader in (coco, voc, yolo):  # each format's loader calls read_image
        monkeypatch.setattr(reader, "read_image", read_image)


def coco(root: Path, file_name: str) -> Path:
    image(root / "images" / "a.png")
    data = {
        "images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": file_name}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4]}],
        "categories": [{"id": 1, "name": "cat"}],
    }
    (root / "ann.json").write_text(json.dumps(data))
    return root / "ann.json"


# ---- nesting and aliases ----


def test_coco_json_nested_100000_deep_is_one_line(tmp_path, capsys):
    path = tmp_path / "ann.json"
    path.write_text('{"images": ' + "[" * DEEP + "]" * DEEP + ', "annotations": [], "categories": []}')
    refused(capsys, ["data", "show", f"coco:{path}", "--out", tmp_path / "s.png"], str(path), "nested more than")


def test_ultralytics_yaml_alias_bomb_is_one_line(tmp_path, capsys):
    image(tmp_path / "images" / "a.png")
    (tmp_path / "labels").mkdir()
    (tmp_path / "data.yaml").write_text("train: images\n" + bomb("names"))
    refused(capsys, ["data", "show", f"yolo:{tmp_path}", "--out", tmp_path / "s.png"], "data.yaml", "aliases")


@pytest.mark.parametrize("text", [bomb("data"), "epochs: " + "[" * DEEP + "]" * DEEP, "data: &a [1, *a]"])
def test_config_files_are_parsed_within_bounds(tmp_path, capsys, text):
    (tmp_path / "c.yaml").write_text(text)
    refused(capsys, ["train", "--config", tmp_path / "c.yaml", "--run-dir", tmp_path / "r"], "c.yaml")
    assert not (tmp_path / "r").exists()


def test_a_tune_journal_nested_without_end_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    journal = tmp_path / "journal.log"
    journal.write_text('{"op_code": 0}\n' + "[" * DEEP + "]" * DEEP + "\n")
    refused(capsys, ["tune", "--storage", journal, "--trials", "1"], "journal.log: line 2", "nested more than")
    assert sorted(os.listdir(tmp_path)) == ["journal.log"]


def test_json_depth_ignores_brackets_in_strings_and_escapes():
    from dlbasic.parsing import MAX_DEPTH, json_depth, loads_json

    def depth(v) -> int:
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else []
        return (1 + max(map(depth, children), default=0)) if isinstance(v, dict | list) else 0

    rng = np.random.default_rng(0)
    pieces = ["[", "]", "{", "}", '"', "\\", "\\\\", 'a\\"[', "é"]
    for _ in range(200):
        value = text = "".join(rng.choice(pieces, 5))
        for _ in range(int(rng.integers(0, 6))):
            value = [value, {text: [value]}] if rng.random() < 0.5 else {text: value}
        for encoded in (json.dumps(value), json.dumps(value, ensure_ascii=False).encode("utf-16")):
            assert json_depth(encoded) == depth(value)
    assert loads_json("[" * MAX_DEPTH + "]" * MAX_DEPTH, "x") is not None
    with pytest.raises(UserError, match=f"x: values nested more than {MAX_DEPTH} deep"):
        loads_json("[" * DEEP, "x")  # unclosed: refused before the parser recurses


def test_yaml_within_bounds_reads_as_safe_load():
    from dlbasic.parsing import MAX_DEPTH, load_yaml

    text = "base: &b {lr: 0.1, widths: [1, 2]}\nrun:\n  <<: *b\n  lr: 0.2\nwhen: 2024-01-02\nraw: !!binary aGk=\n"
    assert load_yaml(text, "x") == yaml.safe_load(text)
    assert load_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH, "x") is not None
    aliased = "a: &a [[[1]]]\nb: " + "[" * (MAX_DEPTH - 4) + "*a" + "]" * (MAX_DEPTH - 4)  # 1 + 96 + 3 lists deep
    assert load_yaml(aliased, "x") is not None
    for text in ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), aliased.replace("[[[1]]]", "[[[[1]]]]")):
        with pytest.raises(UserError, match=f"x: values nested more than {MAX_DEPTH} deep"):
            load_yaml(text, "x")
    with pytest.raises(yaml.YAMLError):
        load_yaml("a: [1", "x")


# ---- file names that leave the dataset ----


@pytest.mark.parametrize("name", ["../../../etc/passwd", "/etc/passwd", "sub/../../a.png"])
def test_coco_file_name_outside_the_image_folder_is_refused_unopened(tmp_path, capsys, monkeypatch, name):
    never_outside(monkeypatch, tmp_path)
    path = coco(tmp_path, name)
    err = refused(capsys, ["data", "show", f"coco:{path}", "--out", tmp_path / "s.png"], "image id 2: file_name")
    assert f"{name!r} lies outside the image folder" in err


def test_coco_file_names_inside_the_folder_are_read(tmp_path):
    from dlbasic.detection.data.sources import load_detection

    image(tmp_path / "images" / "sub" / "b.png")
    data = load_detection(f"coco:{coco(tmp_path, './sub/../sub/b.png')}")
    assert data.names == ["a.png", "./sub/../sub/b.png"]


def test_voc_filename_and_split_ids_outside_the_dataset_are_refused_unopened(tmp_path, capsys, monkeypatch):
    never_outside(monkeypatch, tmp_path)
    box = "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>"
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "JPEGImages").mkdir()
    xml = tmp_path / "Annotations" / "a.xml"
    xml.write_text(f"<annotation><filename>../../../etc/hosts</filename>{box}</annotation>")
    refused(capsys, ["data", "show", f"voc:{tmp_path}", "--out", tmp_path / "s.png"], "a.xml: <filename>", "outside")
    xml.write_text(f"<annotation><filename>a.png</filename>{box}</annotation>")
    (tmp_path / "ImageSets" / "Main").mkdir(parents=True)
    (tmp_path / "ImageSets" / "Main" / "train.txt").write_text("a\n../../../etc/x\n")
    from dlbasic.detection.data.sources import load_detection

    with pytest.raises(UserError, match=r"train\.txt:2: image id: '\.\./\.\./\.\./etc/x' lies outside"):
        load_detection(f"voc:{tmp_path}", split="train")


def test_yolo_list_entries_outside_the_dataset_are_refused_unopened(tmp_path, capsys, monkeypatch):
    never_outside(monkeypatch, tmp_path)
    image(tmp_path / "images" / "a.png")
    (tmp_path / "labels").mkdir()
    (tmp_path / "data.yaml").write_text("train: train.txt\nnames: [cat]\n")
    for entry in ("../../../etc/passwd", "/etc/passwd"):
        (tmp_path / "train.txt").write_text(f"./images/a.png\n{entry}\n")
        refused(capsys, ["data", "show", f"yolo:{tmp_path}", "--out", tmp_path / "s.png"], "train.txt:2:", "outside")
    from dlbasic.detection.data.yolo import yolo_layout

    (tmp_path / "train.txt").write_text(f"./images/a.png\n{tmp_path / 'images' / 'a.png'}\n")  # absolute, inside
    assert yolo_layout(tmp_path).splits["train"] == [tmp_path / "images" / "a.png"] * 2


# ---- pickles and warnings ----


class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch ran",))


def test_a_cifar_batch_that_would_run_code_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1], b"extra": RunsCode()}
    for name in ("data_batch_1", "test_batch"):
        (tmp_path / name).write_bytes(pickle.dumps(batch))
    refused(capsys, ["data", "show", f"cifar10:{tmp_path}", "--out", tmp_path / "s.png"], "it would run code")
    assert not (tmp_path / "ran").exists()


def test_data_show_warns_on_stderr_once_per_unreadable_file(tmp_path, capsys):
    for cls, value in (("cat", 40), ("dog", 200)):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.fromarray(np.full((8, 8), value, np.uint8)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "cat" / "bad.png").write_text("not an image")
    assert main(["data", "show", f"folder:{tmp_path}", "--out", str(tmp_path / "s.png")]) == 0
    out, err = capsys.readouterr()
    assert "warning" not in out and "bad.png" not in out
    warned = [line for line in err.splitlines() if "bad.png" in line]
    assert len(warned) == 1 and warned[0].startswith("dlbasic data: warning: skipping unreadable image"), err
    assert warned[0].count("bad.png") == 1, warned
