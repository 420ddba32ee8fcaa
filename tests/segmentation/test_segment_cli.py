"""`dlbasic segment train|eval|predict` and `dlbasic heatmap` end to end on tiny data."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from dlbasic.cli import main
from dlbasic.training import load_checkpoint

DATA = "scenes:canvas=64,digits=1-2,count=48"
TINY = ["--data", DATA, "--batch-size", "16", "--threads", "1", "--no-progress"]  # the default FCN-8s


def test_train_resume_eval_predict(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["segment", "train", *TINY, "--epochs", "1", "--run-dir", str(run)]) == 0
    for name in ("config.yaml", "metrics.jsonl", "checkpoint.pt", "best.pt", "summary.json", "overlays.png"):
        assert (run / name).is_file(), name
    assert (
        main(
            [
                "segment",
                "train",
                "--run-dir",
                str(run),
                "--resume",
                "--epochs",
                "2",
                "--allow-changes",
                "epochs",
                "--no-progress",
            ]
        )
        == 0
    )
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 2
    capsys.readouterr()

    assert main(["segment", "eval", "--checkpoint", str(run / "best.pt"), "--overlays", str(tmp_path / "o.png")]) == 0
    out = capsys.readouterr().out
    result = json.loads(out[: out.rindex("}") + 1])
    assert 0 <= result["mean_iou"] <= 1 and result["images"] == 12 and len(result["iou"]) == 11
    assert result["split"] == "test" and "scored 12 images" in out
    assert (tmp_path / "o.png").is_file()
    assert main(["segment", "eval", "--checkpoint", str(run / "best.pt"), "--overlays", str(tmp_path / "o.png")]) == 2
    assert "o.png already exists (pass --overwrite" in capsys.readouterr().err

    img = np.zeros((40, 72), np.uint8)
    img[5:30, 10:30] = 255
    Image.fromarray(img).save(tmp_path / "a.png")
    assert (
        main(
            [
                "segment",
                "predict",
                "--checkpoint",
                str(run / "best.pt"),
                str(tmp_path / "a.png"),
                "--out",
                str(tmp_path / "masks"),
            ]
        )
        == 0
    )
    mask = np.asarray(Image.open(tmp_path / "masks" / "a.png"))
    assert mask.shape == (40, 72) and mask.max() <= 10
    # segmented at the training size (64 x 64), the mask taken back to the image's size by nearest neighbour
    from dlbasic.segmentation.task import predict_masks
    from dlbasic.training.kinds import model_from_checkpoint

    model, meta = model_from_checkpoint(run / "best.pt", "segmentation")
    x = torch.from_numpy(img).float().div(255)[None, None]
    small = torch.nn.functional.interpolate(x, size=(64, 64), mode="bilinear", antialias=True, align_corners=False)
    want = predict_masks(model, small.clamp(0, 1), torch.tensor(meta["mean"]), torch.tensor(meta["std"]))
    want = torch.nn.functional.interpolate(want[None].float(), size=(40, 72), mode="nearest")[0, 0]
    assert np.array_equal(mask, want.numpy().astype(np.uint8))
    assert "segmented at 64x64, mask 72x40" in capsys.readouterr().out
    assert (
        main(
            [
                "segment",
                "predict",
                "--checkpoint",
                str(run / "best.pt"),
                str(tmp_path / "a.png"),
                "--size",
                "0",
                "--out",
                str(tmp_path / "native"),
            ]
        )
        == 0
    )
    assert "segmented at its own size" in capsys.readouterr().out
    assert np.asarray(Image.open(tmp_path / "native" / "a.png")).shape == (40, 72)
    again = [
        "segment",
        "predict",
        "--checkpoint",
        str(run / "best.pt"),
        str(tmp_path / "a.png"),
        "--out",
        str(tmp_path / "masks"),
    ]
    assert main(again) == 2 and "already exists" in capsys.readouterr().err
    assert main([*again, "--overwrite"]) == 0
    capsys.readouterr()
    # inputs of one stem, and one named like the overlays figure: a mask each, under one naming rule
    (tmp_path / "sub").mkdir()
    Image.fromarray(img[:, :40]).save(tmp_path / "sub" / "a.png")
    Image.fromarray(img[:20]).save(tmp_path / "overlays.png")
    inputs = [tmp_path / "a.png", tmp_path / "sub" / "a.png", tmp_path / "overlays.png"]
    argv = ["segment", "predict", "--checkpoint", str(run / "best.pt"), *map(str, inputs), "--size", "0"]
    assert main([*argv, "--out", str(tmp_path / "same")]) == 0
    shapes = {n: np.asarray(Image.open(tmp_path / "same" / n)).shape for n in ("a.png", "a~2.png", "overlays~2.png")}
    assert shapes == {"a.png": (40, 72), "a~2.png": (40, 40), "overlays~2.png": (20, 72)}
    capsys.readouterr()
    assert main(["predict", "--checkpoint", str(run / "best.pt"), str(tmp_path / "a.png")]) == 2
    assert "is a segmentation checkpoint (use 'dlbasic segment predict')" in capsys.readouterr().err


def test_resumed_run_equals_an_uninterrupted_one(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["segment", "train", *TINY, "--epochs", "2", "--run-dir", str(a)]) == 0
    assert main(["segment", "train", *TINY, "--epochs", "1", "--run-dir", str(b)]) == 0
    assert (
        main(
            [
                "segment",
                "train",
                "--run-dir",
                str(b),
                "--resume",
                "--epochs",
                "2",
                "--allow-changes",
                "epochs",
                "--no-progress",
            ]
        )
        == 0
    )
    wa, wb = load_checkpoint(a / "checkpoint.pt")["model"], load_checkpoint(b / "checkpoint.pt")["model"]
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0)


def test_user_errors_exit_2(tmp_path, capsys):
    assert main(["segment", "train", *TINY, "--mixup", "0.2", "--run-dir", str(tmp_path / "m")]) == 2
    assert "do not apply to masks" in capsys.readouterr().err
    assert main(["segment", "eval", "--checkpoint", str(tmp_path / "none.pt")]) == 2


def test_heatmap_of_a_classifier_on_a_scene(tmp_path, capsys):
    run = tmp_path / "clf"
    assert (
        main(
            [
                "train",
                "--data",
                "mnist5k",
                "--model",
                "mlp",
                "--train-subset",
                "300",
                "--epochs",
                "1",
                "--threads",
                "1",
                "--no-progress",
                "--run-dir",
                str(run),
            ]
        )
        == 0
    )
    capsys.readouterr()
    out = tmp_path / "heat.png"
    assert main(["heatmap", "--checkpoint", str(run / "best.pt"), "--scene", "0", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "heat map (10, 69, 69)" in text and out.is_file()  # 96 - 28 + 1 windows per side
    assert main(["heatmap", "--checkpoint", str(run / "best.pt"), "--scene", "0", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["segment", "eval", "--checkpoint", str(run / "best.pt")]) == 2
    assert "is a classification checkpoint (use 'dlbasic eval')" in capsys.readouterr().err
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(small)
    assert main(["heatmap", "--checkpoint", str(run / "best.pt"), "--image", str(small)]) == 2


@pytest.mark.parametrize("action", ["train", "eval", "predict"])
def test_help_lists_the_actions(action, capsys):
    with pytest.raises(SystemExit):
        main(["segment", action, "--help"])
    assert "usage: dlbasic segment " + action in capsys.readouterr().out
