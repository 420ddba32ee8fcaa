"""A catalogue of realistic mistakes across every command: each ends in one line on stderr, exit code 2,
no traceback, and leaves what the user had as it was (and no half-made output behind)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from dlbasic.cli import main

DIGITS = ["--data", "digits", "--model", "mlp", "--epochs", "1", "--threads", "1"]
SCENES = "scenes:canvas=64,digits=1-2,count=48"
HUGE = "99999999999999999999"


def png(path: Path, size: tuple[int, int] = (16, 16), mode: str = "L", value: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    data = np.full(shape, value, np.uint8) if value is not None else (rng.random(shape) * 255).astype(np.uint8)
    Image.fromarray(data).save(path)
    return path


def segfolder(root: Path, mask: int | None) -> Path:
    """Six image/mask pairs; masks all `mask`, or (None) stripes of the classes 0, 1 and 2."""
    for i in range(6):
        png(root / "images" / f"{i}.png")
        path = root / "masks" / f"{i}.png"
        if mask is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray((np.arange(256).reshape(16, 16) % 3).astype(np.uint8)).save(path)
        else:
            png(path, value=mask)
    return root


def unreadable_masks(root: Path) -> Path:
    for mask in (root / "masks").iterdir():
        mask.write_text("not an image")
    return root


def voc(root: Path, objects: bool = True, readable: bool = True) -> Path:
    (root / "Annotations").mkdir(parents=True)
    for i in range(4):
        obj = (
            "<object><name>cat</name><bndbox><xmin>2</xmin><ymin>2</ymin><xmax>20</xmax><ymax>20</ymax>"
            "</bndbox></object>"
            if objects
            else ""
        )
        (root / "Annotations" / f"{i}.xml").write_text(f"<annotation><filename>{i}.png</filename>{obj}</annotation>")
        if readable:
            png(root / "JPEGImages" / f"{i}.png", (32, 32), "RGB")
        else:
            (root / "JPEGImages").mkdir(exist_ok=True)
            (root / "JPEGImages" / f"{i}.png").write_text("not an image")
    return root


def yolo(root: Path, label: str, data_yaml: str | None = None) -> Path:
    for i in range(4):
        png(root / "images" / f"{i}.png", (32, 32))
        (root / "labels").mkdir(exist_ok=True)
        (root / "labels" / f"{i}.txt").write_text(label if i == 0 else "0 0.5 0.5 0.2 0.2\n")
    if data_yaml is not None:
        (root / "data.yaml").write_text(data_yaml)
    return root


def variant(source: Path, target: Path, **meta) -> Path:
    """A copy of a classifier checkpoint with some metadata changed (what a hand-edited file looks like)."""
    ckpt = torch.load(source, weights_only=True)
    torch.save({**ckpt, "meta": {**ckpt["meta"], **meta}}, target)
    return target


@pytest.fixture(autouse=True)
def data_cache(tmp_path_factory, monkeypatch):
    """Decoded-folder caches go to a temporary folder, never the user's."""
    monkeypatch.setenv("DLBASIC_CACHE", str(tmp_path_factory.mktemp("dlbasic-cache")))


@pytest.fixture(scope="module")
def f(tmp_path_factory) -> SimpleNamespace:
    """One tiny trained classifier run and every bad input the cases use, built once."""
    root = tmp_path_factory.mktemp("catalogue")
    run = root / "run"
    assert main(["train", *DIGITS, "--run-dir", str(run), "--no-progress"]) == 0
    from dlbasic.detection.models.registry import build_detector

    detector = build_detector("yolo_v1", 10, 1)
    det = root / "det.pt"
    config = {
        "model": "yolo_v1",
        "data": 7,
        "image_size": 0,
        "train_limit": 0,
        "test_limit": 0,
        "epochs": 1,
        "batch_size": 16,
        "optimizer": "adam",
        "lr": 0.0,
        "weight_decay": 0.0,
        "scheduler": "none",
        "warmup_steps": 0,
        "seed": 0,
        "proposals": "fast",
        "max_proposals": 300,
    }
    torch.save(
        {
            "model": detector.state_dict(),
            "kind": "detection",
            "config": config,
            "classes": [str(i) for i in range(10)],
            "in_channels": 1,
            "image_size": [64, 64],
        },
        det,
    )
    cfg = root / "cfg"
    cfg.mkdir()
    texts = {
        "bad": "epochs: [1\nlr: 0.1\n",
        "python": "!!python/object/apply:os.system ['echo hacked']\n",
        "intkey": "1: 2\n",
        "empty": "",
    }
    for name, text in texts.items():
        (cfg / f"{name}.yaml").write_text(text)
    (cfg / "binary.yaml").write_bytes(bytes(range(128, 256)) * 4)
    unreadable = root / "unreadable"
    for c in ("a", "b"):
        (unreadable / c).mkdir(parents=True)
        for i in range(3):
            (unreadable / c / f"{i}.png").write_text("not an image")
    few = root / "few"
    for c in ("a", "b"):
        for i in range(6):
            png(few / c / f"{i}.png", (8, 8), "L" if c == "a" else "RGB")
    return SimpleNamespace(
        root=root,
        run=run,
        best=run / "best.pt",
        det=det,
        cfg=cfg,
        few=few,
        unreadable=unreadable,
        huge_input=variant(run / "best.pt", root / "huge-input.pt", input_size=100_000),
        int_data=variant(run / "best.pt", root / "int-data.pt", data=5),
        zero_std=variant(run / "best.pt", root / "zero-std.pt", std=[0.0]),
        nan_mean=variant(run / "best.pt", root / "nan-mean.pt", mean=[float("nan")]),
        digit=png(root / "digit.png", (8, 8)),
        big=png(root / "big.png", (32, 32)),
        seg_zero=segfolder(root / "seg-zero", 0),
        seg_void=segfolder(root / "seg-void", 255),
        seg_ok=segfolder(root / "seg-ok", None),
        seg_text=unreadable_masks(segfolder(root / "seg-text", None)),
        voc_unreadable=voc(root / "voc-unreadable", readable=False),
        voc_empty=voc(root / "voc-empty", objects=False),
        yolo_keys=yolo(root / "yolo-keys", "0 0.5 0.5 0.2 0.2\n", "names: {0: a, b: c}\n"),
        yolo_class=yolo(root / "yolo-class", f"{HUGE} 0.5 0.5 0.2 0.2\n"),
    )


def run_dir_copy(f, t):
    """A finished run of the user's, to be kept: (path, the files it holds)."""
    import shutil

    shutil.copytree(f.run, t / "old")
    return [t / "old" / "best.pt", t / "old" / "config.yaml"]


def corrupt_config(f, t):
    import shutil

    shutil.copytree(f.run, t / "old")
    (t / "old" / "config.yaml").write_text("epochs: [1\n")
    return [t / "old" / "config.yaml", t / "old" / "checkpoint.pt"]


def users_png(f, t):
    (t / "o.png").write_text("mine")
    return [t / "o.png"]


# (id, argv from the shared files f and this case's folder t, words the line holds, prepare: files to keep)
CASES = [
    # train: numbers the config checks pass but the run cannot use
    (
        "train-val-fraction-0",
        lambda f, t: ["train", *DIGITS, "--val-fraction", "0", "--run-dir", t / "r"],
        "the val split of digits has no images",
        None,
    ),
    (
        "train-test-fraction-0",
        lambda f, t: ["train", *DIGITS, "--test-fraction", "0", "--run-dir", t / "r"],
        "the test split of digits has no images",
        None,
    ),
    (
        "train-few-images-per-class",
        lambda f, t: ["train", *DIGITS[2:], "--data", f"folder:{f.few}", "--run-dir", t / "r"],
        "has no images",
        None,
    ),
    (
        "train-image-size-huge",
        lambda f, t: ["train", *DIGITS, "--image-size", "100000", "--run-dir", t / "r"],
        "GiB of memory",
        None,
    ),
    (
        "train-googlenet-4px-keeps-old-run",
        lambda f, t: [
            "train",
            *DIGITS[:2],
            *DIGITS[4:],
            "--model",
            "googlenet",
            "--image-size",
            "4",
            "--run-dir",
            t / "old",
            "--overwrite",
        ],
        "googlenet cannot take 4x4 inputs",
        run_dir_copy,
    ),
    (
        "train-densenet-2px",
        lambda f, t: [
            "train",
            *DIGITS[:2],
            *DIGITS[4:],
            "--model",
            "densenet121",
            "--image-size",
            "2",
            "--run-dir",
            t / "r",
        ],
        "cannot take 2x2 inputs",
        None,
    ),
    (
        "train-weight-noise-overflow",
        lambda f, t: ["train", *DIGITS, "--weight-noise", "1e300", "--run-dir", t / "r"],
        "weight_noise must be at most",
        None,
    ),
    (
        "train-threads-huge",
        lambda f, t: ["train", *DIGITS[:6], "--threads", "100000", "--run-dir", t / "r"],
        "threads must be at most",
        None,
    ),
    (
        "train-seed-huge",
        lambda f, t: ["train", *DIGITS, "--seed", HUGE, "--run-dir", t / "r"],
        "seed must be in 0..4294967295",
        None,
    ),
    (
        "train-model-option-bad-yaml",
        lambda f, t: ["train", *DIGITS, "--model-option", "hidden=[5", "--run-dir", t / "r"],
        "not valid YAML",
        None,
    ),
    (
        "train-mlp-zero-width",
        lambda f, t: ["train", *DIGITS, "--model-option", "hidden=[0]", "--run-dir", t / "r"],
        "positive layer widths",
        None,
    ),
    (
        "train-segmentation-model",
        lambda f, t: ["train", *DIGITS[:2], *DIGITS[4:], "--model", "fcn8s_vgg11", "--run-dir", t / "r"],
        "is a segmentation model",
        None,
    ),
    (
        "cv-segmentation-model",
        lambda f, t: ["cv", *DIGITS[:2], *DIGITS[4:], "--vary", "model=mlp,fcn32s_vgg11", "--out", t / "o"],
        "is a segmentation model",
        None,
    ),
    (
        "train-folder-of-unreadable-images",
        lambda f, t: ["train", *DIGITS[2:], "--data", f"folder:{f.unreadable}", "--run-dir", t / "r"],
        "no readable images under",
        None,
    ),
    (
        "train-data-with-ignored-argument",
        lambda f, t: ["train", *DIGITS[2:], "--data", "digits:foo", "--run-dir", t / "r"],
        "takes no argument",
        None,
    ),
    (
        "config-yaml-syntax",
        lambda f, t: ["train", "--config", f.cfg / "bad.yaml", "--run-dir", t / "r"],
        "is not valid YAML: expected ',' or ']'",
        None,
    ),
    (
        "config-python-tag",
        lambda f, t: ["train", "--config", f.cfg / "python.yaml", "--run-dir", t / "r"],
        "could not determine a constructor",
        None,
    ),
    (
        "config-integer-key",
        lambda f, t: ["train", "--config", f.cfg / "intkey.yaml", "--run-dir", t / "r"],
        "config keys are names",
        None,
    ),
    (
        "config-binary",
        lambda f, t: ["train", "--config", f.cfg / "binary.yaml", "--run-dir", t / "r"],
        "is not a text file",
        None,
    ),
    (
        "config-and-recipe",
        lambda f, t: ["train", "--config", f.cfg / "empty.yaml", "--recipe", "mnist-fast", "--run-dir", t / "r"],
        "--config and --recipe",
        None,
    ),
    (
        "resume-corrupt-config-yaml",
        lambda f, t: ["train", "--run-dir", t / "old", "--resume"],
        "config.yaml is not valid YAML",
        corrupt_config,
    ),
    # eval, predict, heatmap
    ("eval-input-size-huge", lambda f, t: ["eval", "--checkpoint", f.huge_input], "input_size must be at most", None),
    ("eval-data-not-a-name", lambda f, t: ["eval", "--checkpoint", f.int_data], "names no data source", None),
    ("eval-zero-std", lambda f, t: ["eval", "--checkpoint", f.zero_std], "inconsistent metadata", None),
    ("predict-nan-mean", lambda f, t: ["predict", "--checkpoint", f.nan_mean, f.digit], "inconsistent metadata", None),
    (
        "eval-out-txt",
        lambda f, t: ["eval", "--checkpoint", f.best, "--out", t / "o.txt"],
        "cannot write a figure",
        None,
    ),
    (
        "eval-out-no-extension-keeps-png",
        lambda f, t: ["eval", "--checkpoint", f.best, "--out", t / "o"],
        "without an extension",
        users_png,
    ),
    (
        "eval-seed-huge",
        lambda f, t: ["eval", "--checkpoint", f.best, "--seed", HUGE, "--out", t / "o.png"],
        "out of range",
        None,
    ),
    (
        "predict-decompression-bomb",
        lambda f, t: ["predict", "--checkpoint", f.best, f.big],
        "decompression bomb",
        "bomb",
    ),
    (
        "heatmap-decompression-bomb-warning",
        lambda f, t: ["heatmap", "--checkpoint", f.best, "--image", f.big, "--out", t / "h.png"],
        "decompression bomb",
        "bomb-warning",
    ),
    (
        "heatmap-out-txt",
        lambda f, t: ["heatmap", "--checkpoint", f.best, "--scene", "0", "--out", t / "h.txt"],
        "cannot write a figure",
        None,
    ),
    # compare, cv, tune, ensemble: checked before anything trains
    (
        "compare-model-too-small-for-a-value",
        lambda f, t: [
            "compare",
            *DIGITS[:2],
            *DIGITS[4:],
            "--model",
            "googlenet",
            "--vary",
            "image_size=8,4",
            "--out",
            t / "o",
        ],
        "cannot take 4x4 inputs",
        None,
    ),
    (
        "compare-empty-split-for-a-value",
        lambda f, t: ["compare", *DIGITS, "--vary", "val_fraction=0.1,0", "--out", t / "o"],
        "the val split of digits has no images",
        None,
    ),
    (
        "compare-seeds-huge",
        lambda f, t: ["compare", *DIGITS, "--vary", "lr=0.1,0.2", "--seeds", HUGE, "--out", t / "o"],
        "seeds must be in",
        None,
    ),
    (
        "compare-vary-bad-yaml",
        lambda f, t: ["compare", *DIGITS, "--vary", "model_options=[1", "--out", t / "o"],
        "not valid YAML",
        None,
    ),
    (
        "cv-key-twice",
        lambda f, t: ["cv", *DIGITS, "--vary", "lr=0.1", "--vary", "lr=0.2", "--out", t / "o"],
        "--vary lr is given twice",
        None,
    ),
    (
        "cv-test-fraction-0",
        lambda f, t: ["cv", *DIGITS, "--vary", "lr=0.1,0.2", "--test-fraction", "0", "--folds", "2", "--out", t / "o"],
        "the test split of digits has no images",
        None,
    ),
    (
        "cv-googlenet-4px",
        lambda f, t: [
            "cv",
            *DIGITS[:2],
            *DIGITS[4:],
            "--model",
            "googlenet",
            "--image-size",
            "4",
            "--vary",
            "lr=0.1,0.2",
            "--folds",
            "2",
            "--out",
            t / "o",
        ],
        "cannot take 4x4 inputs",
        None,
    ),
    (
        "tune-search-seed-huge",
        lambda f, t: ["tune", *DIGITS, "--search", f"seed=int:0:{HUGE}", "--storage", t / "j.log"],
        "seed must be in",
        None,
    ),
    (
        "tune-sampler-seed-negative",
        lambda f, t: ["tune", *DIGITS, "--sampler-seed", "-1", "--storage", t / "j.log"],
        "--sampler-seed must be in",
        None,
    ),
    (
        "tune-googlenet-4px",
        lambda f, t: [
            "tune",
            *DIGITS[:2],
            *DIGITS[4:],
            "--model",
            "googlenet",
            "--image-size",
            "4",
            "--folds",
            "2",
            "--storage",
            t / "j.log",
        ],
        "cannot take 4x4",
        None,
    ),
    (
        "bagging-seed-negative",
        lambda f, t: ["ensemble", "bagging", *DIGITS, "--members", "1", "--seed", "-1"],
        "seed must be in",
        None,
    ),
    (
        "bagging-val-fraction-0",
        lambda f, t: ["ensemble", "bagging", *DIGITS, "--members", "1", "--val-fraction", "0"],
        "the val split of digits has no images",
        None,
    ),
    (
        "boosting-googlenet-4px",
        lambda f, t: ["ensemble", "boosting", *DIGITS[:2], *DIGITS[4:], "--model", "googlenet", "--image-size", "4"],
        "cannot take 4x4",
        None,
    ),
    ("optim-race-lr-inf", lambda f, t: ["optim-race", "--lrs", "inf", "--out", t / "o"], "finite", None),
    ("optim-race-start-nan", lambda f, t: ["optim-race", "--start", "nan,1", "--out", t / "o"], "finite", None),
    (
        "lab-threads-huge",
        lambda f, t: ["lab", "--only", "relu", "--threads", "100000", "--out", t / "o"],
        "--threads must be at most",
        None,
    ),
    # segmentation
    (
        "segment-scenes-canvas-huge",
        lambda f, t: ["segment", "train", "--data", "scenes:canvas=100000,count=4", "--run-dir", t / "r"],
        "GiB of memory",
        None,
    ),
    (
        "segment-scenes-count-0",
        lambda f, t: ["segment", "train", "--data", "scenes:count=0", "--run-dir", t / "r"],
        "count=0",
        None,
    ),
    (
        "segment-stride-unknown",
        lambda f, t: [
            "segment",
            "train",
            "--data",
            "scenes:canvas=64,count=4",
            "--model-option",
            "stride=7",
            "--run-dir",
            t / "r",
        ],
        "7 is not a value it takes",
        None,
    ),
    (
        "segfolder-one-class",
        lambda f, t: ["segment", "train", "--data", f"segfolder:{f.seg_zero}", "--epochs", "1", "--run-dir", t / "r"],
        "hold a single class",
        None,
    ),
    (
        "segfolder-all-void",
        lambda f, t: ["segment", "train", "--data", f"segfolder:{f.seg_void}", "--epochs", "1", "--run-dir", t / "r"],
        "is the ignore value 255",
        None,
    ),
    (
        "segfolder-no-readable-mask",
        lambda f, t: ["segment", "train", "--data", f"segfolder:{f.seg_text}", "--run-dir", t / "r"],
        "no readable image/mask pairs",
        None,
    ),
    (
        "segfolder-val-fraction-0",
        lambda f, t: [
            "segment",
            "train",
            "--data",
            f"segfolder:{f.seg_ok}",
            "--val-fraction",
            "0",
            "--run-dir",
            t / "r",
        ],
        "the val split of segfolder",
        None,
    ),
    (
        "segfolder-size-0",
        lambda f, t: ["segment", "train", "--data", f"segfolder:{f.seg_ok},size=0", "--run-dir", t / "r"],
        "size=0 must be at least 1",
        None,
    ),
    (
        "segfolder-classes-below-ids",
        lambda f, t: ["segment", "train", "--data", f"segfolder:{f.seg_ok},classes=2", "--run-dir", t / "r"],
        "hold class id 2",
        None,
    ),
    (
        "segment-eval-overlays-txt",
        lambda f, t: ["segment", "eval", "--checkpoint", f.best, "--overlays", t / "o.txt"],
        "cannot write a figure",
        None,
    ),
    (
        "segment-eval-overlays-no-extension",
        lambda f, t: ["segment", "eval", "--checkpoint", f.best, "--overlays", t / "o"],
        "without an extension",
        users_png,
    ),
    (
        "segment-predict-size-negative",
        lambda f, t: ["segment", "predict", "--checkpoint", f.best, f.big, "--size", "-1", "--out", t / "m"],
        "--size must be 0",
        None,
    ),
    (
        "segment-predict-size-huge",
        lambda f, t: ["segment", "predict", "--checkpoint", f.best, f.big, "--size", "100000", "--out", t / "m"],
        "GiB of memory",
        None,
    ),
    # detection
    ("detect-without-verb", lambda f, t: ["detect"], "required: VERB", None),
    (
        "detect-yolo-4px",
        lambda f, t: [
            "detect",
            "train",
            "--model",
            "yolo_v1",
            "--data",
            SCENES,
            "--image-size",
            "4",
            "--epochs",
            "1",
            "--run-dir",
            t / "r",
        ],
        "need at least 8x8",
        None,
    ),
    (
        "detect-image-size-huge",
        lambda f, t: [
            "detect",
            "train",
            "--model",
            "yolo_v1",
            "--data",
            SCENES,
            "--image-size",
            "100000",
            "--run-dir",
            t / "r",
        ],
        "GiB of memory",
        None,
    ),
    (
        "detect-threads-huge",
        lambda f, t: ["detect", "train", "--threads", "100000", "--run-dir", t / "r"],
        "--threads must be at most",
        None,
    ),
    (
        "detect-seed-huge",
        lambda f, t: ["detect", "train", "--seed", HUGE, "--run-dir", t / "r"],
        "seed must be in",
        None,
    ),
    (
        "detect-voc-no-readable-image",
        lambda f, t: [
            "detect",
            "train",
            "--model",
            "yolo_v1",
            "--data",
            f"voc:{f.voc_unreadable}",
            "--run-dir",
            t / "r",
        ],
        "none of the 4 images",
        None,
    ),
    (
        "detect-voc-no-objects",
        lambda f, t: ["detect", "train", "--model", "yolo_v1", "--data", f"voc:{f.voc_empty}", "--run-dir", t / "r"],
        "no labelled objects",
        None,
    ),
    (
        "detect-yolo-names-keys",
        lambda f, t: ["detect", "train", "--model", "yolo_v1", "--data", f"yolo:{f.yolo_keys}", "--run-dir", t / "r"],
        "class indices",
        None,
    ),
    (
        "detect-yolo-class-huge",
        lambda f, t: ["detect", "train", "--model", "yolo_v1", "--data", f"yolo:{f.yolo_class}", "--run-dir", t / "r"],
        "without class names",
        None,
    ),
    (
        "detect-eval-data-not-a-name",
        lambda f, t: ["detect", "eval", "--checkpoint", f.det],
        "names no data source",
        None,
    ),
    (
        "detect-eval-test-limit-negative",
        lambda f, t: ["detect", "eval", "--checkpoint", f.det, "--test-limit", "-1"],
        "--test-limit must be",
        None,
    ),
    (
        "detect-predict-min-score-nan",
        lambda f, t: ["detect", "predict", "--checkpoint", f.det, "--min-score", "nan", "--out", t / "p"],
        "--min-score",
        None,
    ),
    (
        "detect-compare-no-models",
        lambda f, t: ["detect", "compare", "--models", ",", "--out", t / "o"],
        "names no detector",
        None,
    ),
    (
        "detect-compare-model-twice",
        lambda f, t: ["detect", "compare", "--models", "yolo_v1,yolo_v1", "--out", t / "o"],
        "twice",
        None,
    ),
    (
        "data-show-out-txt",
        lambda f, t: ["data", "show", "scenes:canvas=64,count=8", "--out", t / "o.txt"],
        "cannot write a figure",
        None,
    ),
]


@pytest.mark.parametrize("argv, words, prepare", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_mistake_is_one_line_and_changes_nothing(f, tmp_path, capsys, monkeypatch, argv, words, prepare):
    if prepare in ("bomb", "bomb-warning"):  # f.big has 32x32 = 1024 pixels
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300 if prepare == "bomb" else 600)
        prepare = None
    kept = {p: p.read_bytes() for p in (prepare(f, tmp_path) if prepare else [])}
    before = set(os.listdir(tmp_path))
    try:
        rc = main([str(a) for a in argv(f, tmp_path)])
    except SystemExit as e:  # argparse's own mistakes
        rc = e.code
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("dlbasic ") and ": error: " in err and words in err, err
    assert {p: p.read_bytes() for p in kept} == kept
    assert set(os.listdir(tmp_path)) == before  # no output folder or file was made


def test_a_diverging_weight_noise_is_exit_3(tmp_path, capsys):
    """Noise that fits float32 but swamps the weights is a divergence (exit 3), not a crash."""
    rc = main(["train", *DIGITS, "--weight-noise", "3e38", "--run-dir", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 3 and len(err.splitlines()) == 1 and "diverged" in err, err
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["status"] == "diverged"


def test_curves_of_a_run_without_accuracy_warn_nothing(tmp_path):
    """`detect train` has losses only: its curves.png must not print matplotlib's empty-legend warning."""
    import warnings

    from dlbasic.report.plots import plot_curves

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot_curves([{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}], tmp_path / "c.png")
    assert (tmp_path / "c.png").is_file()


def test_compare_reads_exponent_values_as_numbers():
    """`--vary lr=1e-3,1e-2` means numbers (PyYAML alone reads 1e-3 as a string)."""
    from dlbasic.config import TrainConfig
    from dlbasic.training.compare import parse_vary

    assert parse_vary("lr=1e-3,1E2,0.5", TrainConfig()) == ("lr", [0.001, 100.0, 0.5])
    assert parse_vary("optimizer=sgd,adam") == ("optimizer", ["sgd", "adam"])
