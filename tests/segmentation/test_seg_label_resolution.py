"""Segmentation metrics at the labels' own resolution (predictions resized with nearest neighbour), by default,
on test images of several sizes; the training-size numbers as an option, named as such."""

import json

import numpy as np
import torch
from PIL import Image
from torch import nn

from dlbasic.cli import main
from dlbasic.segmentation.data import load_segmentation
from dlbasic.segmentation.train import evaluate_model

SIZES = [(16, 32), (32, 8), (8, 16), (16, 16)]  # (H, W) of the test images; 8 / side is exact in binary


class Sign(nn.Module):
    """Class 2 where the normalized first channel is positive, else class 0 (argmax of [-x, 0, x])."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return torch.stack([-x[:, 0], torch.zeros_like(x[:, 0]), x[:, 0]], 1) * self.w


def write_set(root, sizes, seed):
    rng = np.random.default_rng(seed)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    masks = []
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / "images" / f"s{i}.png")
        ids = rng.integers(0, 3, (h, w)).astype(np.uint8)
        ids[0, 0] = 255  # void
        Image.fromarray(ids, "L").save(root / "masks" / f"s{i}.png")
        masks.append(ids)
    return masks


def hand_scores(preds, labels, k=3):
    """Pixel accuracy and mIoU from a confusion matrix counted pixel by pixel."""
    cm = np.zeros((k, k), dtype=np.int64)
    for p, y in zip(preds, labels):
        for a, b in zip(y.ravel(), p.ravel()):
            if a != 255:
                cm[a, b] += 1
    ious = [cm[i, i] / (cm[i].sum() + cm[:, i].sum() - cm[i, i]) for i in range(k) if cm[i].sum() + cm[:, i].sum()]
    return cm.trace() / cm.sum(), float(np.mean(ious))


def test_miou_at_the_labels_resolution_equals_a_hand_computation(tmp_path):
    write_set(tmp_path, [(16, 16)] * 6, 0)
    truth = write_set(tmp_path / "test", SIZES, 1)
    spec = f"segfolder:{tmp_path},size=8,classes=3"
    train, test = load_segmentation(spec, "train"), load_segmentation(spec, "test")
    assert tuple(test.labels.shape) == (4, 8, 8) and [tuple(m.shape) for m in test.full_labels] == SIZES
    assert all((m.numpy() == t).all() for m, t in zip(test.full_labels, truth))
    x = ((test.images - train.mean.view(1, -1, 1, 1)) / train.std.view(1, -1, 1, 1))[:, 0].numpy()
    small = np.where(x > 0, 2, 0)  # the model's prediction at the training size, 8 x 8
    full = [p[np.arange(h) * 8 // h][:, np.arange(w) * 8 // w] for p, (h, w) in zip(small, SIZES)]  # nearest
    model = Sign()
    result = evaluate_model(model, test, train)
    accuracy, miou = hand_scores(full, truth)
    assert abs(result["mean_iou"] - miou) < 1e-12
    assert abs(result["pixel_accuracy"] - accuracy) < 1e-12 and result["resolution"] == "the labels' own resolution"
    accuracy, miou = hand_scores(list(small), list(test.labels.numpy()))  # the masks resized as trained
    at_train = evaluate_model(model, test, train, at="training-size")
    assert abs(at_train["mean_iou"] - miou) < 1e-12 and at_train["resolution"] == "the training size 8x8"
    assert result["at_training_size"] == {
        "pixel_accuracy": at_train["pixel_accuracy"],
        "mean_iou": at_train["mean_iou"],
    }
    assert result["mean_iou"] != at_train["mean_iou"]


def test_summary_and_eval_name_the_resolution(tmp_path, capsys):
    write_set(tmp_path, [(32, 32)] * 6, 0)
    write_set(tmp_path / "test", [(32, 32), (48, 32)], 1)
    run = tmp_path / "run"
    argv = ["segment", "train", "--data", f"segfolder:{tmp_path},size=16,classes=3", "--batch-size", "4"]
    assert main([*argv, "--epochs", "1", "--threads", "1", "--no-progress", "--run-dir", str(run)]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_resolution"] == "the labels' own resolution"
    assert set(summary["test_at_training_size"]) == {"pixel_accuracy", "mean_iou"}
    capsys.readouterr()
    assert main(["segment", "eval", "--checkpoint", str(run / "checkpoint.pt")]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out[: out.rindex("}") + 1])
    assert shown["mean_iou"] == summary["test_mean_iou"] and shown["resolution"] == summary["test_resolution"]
    assert main(["segment", "eval", "--checkpoint", str(run / "checkpoint.pt"), "--at", "training-size"]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out[: out.rindex("}") + 1])
    assert shown["mean_iou"] == summary["test_at_training_size"]["mean_iou"]
    assert shown["resolution"] == "the training size 16x16"
