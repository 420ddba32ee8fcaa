"""`dlbasic detect eval` and `detect predict` on the data people keep: which images are scored (all of a
named source, the run's test split, --split), classes matched by name, predictions on image files."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from tests.detection.test_detect_sources import ITEMS, write_image, write_voc
from torch import nn

from dlbasic.cli import main
from dlbasic.detection.config import DetectionConfig
from dlbasic.detection.data.splits import as_batch, load_images
from dlbasic.detection.metrics import evaluate_detections


class Oracle(nn.Module):
    """Finds the bright rectangle of an image and calls it `label` (score 0.9), plus two weak boxes (0.5, 0.01):
    a perfect detector for the synthetic images of these tests."""

    def __init__(self, label: int):
        super().__init__()
        self.label = label

    def forward(self, images):
        out = []
        for im in images:
            ys, xs = (im[0] > 0.5).nonzero(as_tuple=True)
            found = [[xs.min() + 0.0, ys.min() + 0.0, xs.max() + 1.0, ys.max() + 1.0]] if len(xs) else []
            boxes = torch.tensor([*found, [0.0, 0.0, 4.0, 4.0], [1.0, 1.0, 3.0, 3.0]])
            scores = torch.tensor([0.9] * len(found) + [0.5, 0.01])
            out.append({"boxes": boxes, "scores": scores, "labels": torch.full((len(boxes),), self.label)})
        return out


@pytest.fixture
def oracle(monkeypatch):
    """`load_detector` returns an Oracle for "dog" with a checkpoint's metadata (classes cat, dog; 32 x 32)."""
    meta = {"config": DetectionConfig(), "classes": ["cat", "dog"], "in_channels": 3, "image_size": [32, 32]}

    def load(path, action="eval"):
        return Oracle(label=1).eval(), {**meta, "config": meta["config"].to_dict()}

    monkeypatch.setattr("dlbasic.detection.train.load_detector", load)
    return meta


def _output(text: str) -> dict:
    return json.JSONDecoder().raw_decode(text)[0]


def test_eval_data_scores_all_its_images_and_prints_the_count(tmp_path, capsys, oracle):
    spec = write_voc(tmp_path, splits={"train": ["im0", "im1", "im2"], "val": ["im3", "im4"]})
    argv = ["detect", "eval", "--checkpoint", str(tmp_path / "c.pt"), "--data", spec]
    assert main(argv) == 0
    out = capsys.readouterr().out
    result = _output(out)
    assert result["images"] == 5 and result["split"] == "all images" and f"scored 5 images of {spec}" in out
    assert {"map_small", "map_medium", "map_large", "map_50", "voc_map_50"} <= set(result)
    assert main([*argv, "--split", "val"]) == 0
    assert _output(capsys.readouterr().out)["images"] == 2
    assert main([*argv, "--test-limit", "3"]) == 0
    assert _output(capsys.readouterr().out)["images"] == 3
    assert main([*argv, "--split", "test"]) == 2
    assert "has no test split (its official splits: train, val)" in capsys.readouterr().err
    oracle["config"].data = spec  # without --data: the training run's test images, its official val split
    assert main(argv[:4]) == 0
    result = _output(capsys.readouterr().out)
    assert (result["images"], result["split"]) == (2, "official val split")


def test_a_folder_of_one_class_is_scored_by_name(tmp_path, capsys, oracle):
    """The folder holds only dogs, so its class 0 is "dog"; the checkpoint's "dog" is 1. Scored by index, a
    perfect dog detector would get mAP 0; by name it gets 1."""
    dogs = [(n, s, [("dog", b) for _, b in o]) for n, s, o in ITEMS]
    spec = write_voc(tmp_path, dogs)
    assert main(["detect", "eval", "--checkpoint", "c.pt", "--data", spec]) == 0
    assert _output(capsys.readouterr().out)["map_50"] == 1.0
    data, _ = load_images(spec)
    images, targets = as_batch(data, 32, training=False)
    by_index = evaluate_detections([Oracle(1)(im[None])[0] for im in images], targets)
    assert data.classes == ["dog"] and by_index["map_50"] == 0.0


def test_a_class_the_checkpoint_does_not_know_is_one_error(tmp_path, capsys, oracle):
    birds = [(n, s, [("bird" if i < 2 else "dog", b) for _, b in o]) for i, (n, s, o) in enumerate(ITEMS)]
    spec = write_voc(tmp_path, birds)
    assert main(["detect", "eval", "--checkpoint", "c.pt", "--data", spec]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "classes the checkpoint c.pt does not know: bird" in err
    assert "it predicts cat, dog" in err


def test_predict_image_files_named_after_them_in_their_own_pixels(tmp_path, capsys, oracle):
    """Predicted at 32 x 32, drawn on each original image; boxes mapped back to its pixels."""
    rects = {"street.jpg": ((320, 240), (100, 60, 200, 180)), "yard.png": ((400, 300), (50, 75, 350, 225))}
    for name, (size, box) in rects.items():
        write_image(tmp_path / name, size, [box])
    out = tmp_path / "pred"
    argv = ["detect", "predict", "--checkpoint", "c.pt", *(str(tmp_path / n) for n in rects), "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"{out / 'street.png'}: 2 boxes drawn" in printed  # the 0.01 box is under --min-score 0.05
    records = {r["output"]: r for r in json.loads((out / "predictions.json").read_text())}
    assert sorted(records) == ["street.png", "yard.png"]
    for name, (size, box) in rects.items():
        r = records[name.rsplit(".", 1)[0] + ".png"]
        assert Image.open(out / r["output"]).size == size and (r["width"], r["height"]) == size
        assert r["labels"][0] == "dog" and r["scores"][0] == 0.9
        torch.testing.assert_close(
            torch.tensor(r["boxes"][0]), torch.tensor(box, dtype=torch.float32), atol=size[0] / 32, rtol=0
        )  # one pixel of the 32 x 32 input
    top = tmp_path / "top1"
    assert main([*argv[:-1], str(top), "--top", "1"]) == 0
    assert all(len(r["boxes"]) == 1 for r in json.loads((top / "predictions.json").read_text()))
    assert main([*argv[:4], "--data", "scenes", str(tmp_path / "street.jpg"), "--out", str(tmp_path / "x")]) == 2
    assert "image files or --data" in capsys.readouterr().err


def test_predict_source_images_named_after_their_files(tmp_path, capsys, oracle):
    spec = write_voc(tmp_path / "voc", splits={"train": ["im0", "im1", "im2"], "val": ["im3", "im4"]})
    out = tmp_path / "pred"
    assert main(["detect", "predict", "--checkpoint", "c.pt", "--data", spec, "--split", "val", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"2 images of {spec} (official val split)" in printed and "im3.png: 3 boxes drawn" not in printed
    assert sorted(p.name for p in out.glob("*.png")) == ["im3.png", "im4.png"]
    assert Image.open(out / "im3.png").size == (256, 192)  # 64 x 48 drawn 4 x larger


def test_train_eval_predict_on_a_voc_folder_with_official_splits(tmp_path, capsys):
    """A real checkpoint (yolo_v1, no training steps): the summary names the split; eval and predict read it."""
    spec = write_voc(tmp_path / "voc", splits={"train": ["im0", "im1", "im2"], "val": ["im3", "im4"]})
    run = tmp_path / "run"
    assert (
        main(
            [
                "detect",
                "train",
                "--model",
                "yolo_v1",
                "--data",
                spec,
                "--image-size",
                "32",
                "--epochs",
                "0",
                "--device",
                "cpu",
                "--threads",
                "1",
                "--no-progress",
                "--run-dir",
                str(run),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    summary = json.loads((run / "summary.json").read_text())
    assert (summary["split"], summary["train_split"]) == ("official val split", "official train split")
    assert (summary["train_images"], summary["test_images"]) == (3, 2)
    assert "trained on 3 images (official train split), tested on 2 (official val split)" in out
    assert main(["detect", "eval", "--checkpoint", str(run / "checkpoint.pt")]) == 0
    assert _output(capsys.readouterr().out)["images"] == 2
    write_image(tmp_path / "big.jpg", (300, 200), [(10, 10, 100, 100)])
    assert (
        main(
            [
                "detect",
                "predict",
                "--checkpoint",
                str(run / "checkpoint.pt"),
                str(tmp_path / "big.jpg"),
                str(tmp_path / "voc" / "JPEGImages" / "im0.png"),
                "--out",
                str(tmp_path / "pred"),
            ]
        )
        == 0
    )
    records = json.loads((tmp_path / "pred" / "predictions.json").read_text())
    assert [r["output"] for r in records] == ["big.png", "im0.png"]
    for r in records:
        b = torch.tensor(r["boxes"]).reshape(-1, 4)
        assert len(b) <= 20 and (b[:, 0::2] <= r["width"]).all() and (b[:, 1::2] <= r["height"]).all()
        assert all(s >= 0.05 for s in r["scores"])


@pytest.mark.parametrize("verb", ["train", "eval", "predict"])
def test_help_describes_detection_defaults_and_examples(capsys, verb):
    with pytest.raises(SystemExit):
        main(["detect", verb, "--help"])
    text = capsys.readouterr().out
    assert f"dlbasic detect {verb} --" in text and "mnist" not in text and "--invert" not in text
    if verb == "train":
        assert "defaults: faster_rcnn on scenes, 10 epochs, batch 16" in text and "ImageSets/Main" in text
    else:
        assert "ALL the images" in text or "--limit images of --data" in text


def test_detect_compare_writes_a_row_and_a_point_per_detector(tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["detect", "compare", "--models", "yolo_v1,faster_rcnn", "--epochs", "0"]
    assert main([*args, "--train-limit", "8", "--test-limit", "4", "--out", str(out)]) == 0
    rows = json.loads((out / "compare.json").read_text())
    assert [r["model"] for r in rows] == ["yolo_v1", "faster_rcnn"]
    table = (out / "compare.md").read_text().splitlines()
    assert len(table) == 2 + len(rows)
    for row, line in zip(rows, table[2:]):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == row["model"] and cells[1] == f"{row['map']:.4g}"
        assert cells[-2] == f"{row['seconds_per_image']:.4g}"
    assert Image.open(out / "compare.png").size[0] > 300
    from dlbasic.detection.draw import speed_accuracy_figure

    ax = speed_accuracy_figure(rows).axes[0]
    points = [float(v) for c in ax.collections for v in c.get_offsets()[0]]
    assert points == pytest.approx([v for r in rows for v in (r["seconds_per_image"] * 1000, r["map_50"])])
    assert [t.get_text() for t in ax.texts] == ["yolo_v1", "faster_rcnn"] and ax.get_xscale() == "log"


def test_predict_gives_every_input_its_own_picture(tmp_path, capsys, oracle):
    """a/x.png, b/x_2.png, c/x.png: three pictures, three names, each record naming its own input and output."""
    inputs = [tmp_path / "a" / "x.png", tmp_path / "b" / "x_2.png", tmp_path / "c" / "x.png"]
    for k, path in enumerate(inputs):
        path.parent.mkdir()
        write_image(path, (64 + 16 * k, 48), [(4, 4, 20 + 8 * k, 30)])
    out = tmp_path / "dp"
    assert main(["detect", "predict", "--checkpoint", "c.pt", *map(str, inputs), "--out", str(out)]) == 0
    records = json.loads((out / "predictions.json").read_text())
    assert [r["output"] for r in records] == ["x.png", "x_2.png", "x~2.png"]
    assert [r["image"] for r in records] == [str(p) for p in inputs]
    assert sorted(p.name for p in out.glob("*.png")) == ["x.png", "x_2.png", "x~2.png"]
    assert [r["width"] for r in records] == [64, 80, 96]  # each record is its own input's
    sizes = [Image.open(out / r["output"]).size for r in records]
    assert len(set(sizes)) == 3 and all(w * 48 == h * r["width"] for (w, h), r in zip(sizes, records))
