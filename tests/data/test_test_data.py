"""`--test-data SPEC`: a test source beside `--data` for train, segment train and detect train; saved with the
run, used by `eval` of its checkpoint, shown by `data show`."""

import json

import numpy as np
import pytest
import yaml
from PIL import Image
from tests.data.test_official_splits import write_classes
from tests.detection.test_detect_sources import ITEMS, write_voc

from dlbasic.cli import main
from dlbasic.data import load
from dlbasic.detection.data.splits import load_parts
from dlbasic.errors import UserError
from dlbasic.segmentation.data import load_segmentation

QUICK = ["--epochs", "1", "--threads", "1", "--no-progress"]


def test_classification_test_source(tmp_path, capsys):
    write_classes(tmp_path / "train", {"cat": 10, "dog": 10})
    write_classes(tmp_path / "test", {"dog": 3, "cat": 4}, seed=2)
    spec, other = f"folder:{tmp_path / 'train'}", f"folder:{tmp_path / 'test'}"
    options = {"image_size": 8, "test_data": other}
    train, val, test = (load(spec, s, **options) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (18, 2, 7)  # nothing of train held out for test
    assert test.info["test"] == f"all images of {other}" and test.classes == ["cat", "dog"]
    assert test.labels.tolist() == [0] * 4 + [1] * 3  # matched by name
    write_classes(tmp_path / "bird", {"bird": 2, "cat": 2})
    with pytest.raises(UserError, match=r"classes not in the training data: bird"):
        load(spec, "test", image_size=8, test_data=f"folder:{tmp_path / 'bird'}")
    run = tmp_path / "run"
    argv = ["train", "--data", spec, "--test-data", other, "--image-size", "8", "--model", "mlp", *QUICK]
    assert main([*argv, "--run-dir", str(run)]) == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["test_data"] == other
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_split"] == f"all images of {other}"
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run / "best.pt")]) == 0  # the run's test source
    out = capsys.readouterr().out
    assert json.loads(out[: out.rindex("}") + 1])["images"] == 7
    assert main(["data", "show", spec, "--test-data", other, "--out", str(tmp_path / "s.png")]) == 0
    out = capsys.readouterr().out
    assert f"test        7  all images of {other}" in out and "train      18" in out


def test_detection_voc_train_and_test_folders(tmp_path, capsys):
    """A set published as train/ and test/ folders of VOC files (XML beside each image)."""
    write_voc(tmp_path / "train", ITEMS[:3], flat=True)
    write_voc(tmp_path / "test", ITEMS[3:4], flat=True)  # one dog: its own class list is ["dog"]
    spec, other = f"voc:{tmp_path / 'train'}", f"voc:{tmp_path / 'test'}"
    train, test, train_how, test_how = load_parts(spec, test_data=other)
    assert train.names == [f"im{i}.png" for i in range(3)] and test.names == ["im3.png"]
    assert (train_how, test_how) == ("all images", f"all images of {other}")
    assert train.classes == test.classes == ["cat", "dog"] and test.targets[0]["labels"].tolist() == [1]
    run = tmp_path / "run"
    argv = ["detect", "train", "--data", spec, "--test-data", other, "--model", "yolo_v1", "--image-size", "32"]
    assert (
        main([*argv, "--batch-size", "4", "--device", "cpu", "--warmup-steps", "0", *QUICK, "--run-dir", str(run)]) == 0
    )
    assert yaml.safe_load((run / "config.yaml").read_text())["test_data"] == other
    capsys.readouterr()
    assert main(["detect", "eval", "--checkpoint", str(run / "checkpoint.pt")]) == 0
    out = capsys.readouterr().out
    result = json.loads(out[: out.rindex("}") + 1])
    assert (result["data"], result["images"], result["split"]) == (other, 1, f"all images of {other}")
    assert main(["data", "show", spec, "--test-data", other, "--out", str(tmp_path / "s.png")]) == 0
    assert f"all images of {other}" in capsys.readouterr().out


def write_segfolder(root, n, seed):
    rng = np.random.default_rng(seed)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / "images" / f"s{i}.png")
        Image.fromarray(rng.integers(0, 3, (16, 16)).astype(np.uint8), "L").save(root / "masks" / f"s{i}.png")


def test_segmentation_test_source(tmp_path, capsys):
    write_segfolder(tmp_path / "a", 10, 0)
    write_segfolder(tmp_path / "b", 3, 1)
    spec, other = f"segfolder:{tmp_path / 'a'},classes=3", f"segfolder:{tmp_path / 'b'},classes=3"
    train, val, test = (load_segmentation(spec, s, test_data=other) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (9, 1, 3) and test.info["test"] == f"all images of {other}"
    want = np.stack([np.array(Image.open(tmp_path / "b" / "masks" / f"s{i}.png")) for i in range(3)])
    assert (test.labels.numpy() == want).all()
    run = tmp_path / "run"
    argv = ["segment", "train", "--data", spec, "--test-data", other, "--batch-size", "4", *QUICK]
    assert main([*argv, "--run-dir", str(run)]) == 0
    assert json.loads((run / "summary.json").read_text())["test_split"] == f"all images of {other}"
    capsys.readouterr()
    assert main(["segment", "eval", "--checkpoint", str(run / "best.pt")]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[: out.rindex("}") + 1])["images"] == 3
