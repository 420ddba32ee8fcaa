"""`dlbasic detect train` on the Trainer: the run folder, exact resume after SIGKILL (on scenes and on real
photos), refused changes."""

import io
import json
import sys

import pytest
import torch
import yaml

from dlbasic.cli import main
from dlbasic.detection.config import DetectionConfig
from dlbasic.detection.data.splits import load_split
from dlbasic.detection.models.registry import build_detector
from dlbasic.detection.task import DetectionData
from dlbasic.outputs import MARKER
from dlbasic.training import load_checkpoint
from dlbasic.training.generators import model_generators
from dlbasic.training.run import build_trainer

DATA = "scenes:canvas=64,digits=1-2,count=48"
TINY = [
    "--data",
    DATA,
    "--model",
    "yolo_v1",
    "--batch-size",
    "8",
    "--threads",
    "1",
    "--device",
    "cpu",
    "--warmup-steps",
    "2",
    "--no-progress",
]


def _cli(*args):
    return [sys.executable, "-m", "dlbasic.cli", "detect", "train", *TINY, *args]


def test_run_folder_like_train(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["detect", "train", *TINY, "--epochs", "2", "--test-limit", "4", "--run-dir", str(run)]) == 0
    for name in ("config.yaml", "metrics.jsonl", "checkpoint.pt", "curves.png", "summary.json", MARKER):
        assert (run / name).is_file(), name
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and all("train_loss_coord" in r for r in rows)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["meta"]["kind"] == "detection" and state["global_step"] == 2 * 6  # 48 scenes, batch 8
    assert json.loads((run / "summary.json").read_text())["status"] == "finished"
    capsys.readouterr()
    assert main(["detect", "eval", "--checkpoint", str(run / "checkpoint.pt"), "--test-limit", "4"]) == 0
    out = capsys.readouterr().out
    result = json.JSONDecoder().raw_decode(out)[0]
    assert 0.0 <= result["map_50"] <= 1.0 and result["images"] == 4 and result["split"] == "official test split"
    assert out.rstrip().endswith(f"scored 4 images of {DATA} (official test split)")


@pytest.mark.parametrize("model", ["faster_rcnn", pytest.param("yolo_v1", marks=pytest.mark.slow)])
def test_sigkill_then_resume_is_bit_identical(kill_resume, model):
    """Killed during a checkpoint's write on synthetic scenes, then resumed: the same run bit for bit."""
    options = [*TINY, "--model", model, "--epochs", "3", "--checkpoint-every", "2", "--test-limit", "2"]
    kill_resume(["detect", "train"], options, [("write", 2)])


def test_faster_rcnn_resume_continues_its_samplers():
    """Faster R-CNN samples anchors and proposals from a generator of its own: a Trainer restored from a
    checkpoint's state draws what the uninterrupted one draws, so both end with the same weights."""
    split = load_split(DATA, 0, 16, 2, 0)
    data = DetectionData(split.train_images, split.train_targets, split.classes)
    cfg = DetectionConfig(model="faster_rcnn", data=DATA, epochs=2, batch_size=8, warmup_steps=1, device="cpu")

    def trainer():
        model = build_detector("faster_rcnn", len(split.classes), split.train_images.shape[1], seed=0)
        return build_trainer(cfg, data, kind="detection", model=model)

    full = trainer()
    assert len(model_generators(full.model)) == 1  # the RPN's and the RoI heads' samplers share it
    full.fit()
    first = trainer()
    first.epochs = 1  # stopped after its first epoch, as by a kill after that epoch's checkpoint
    first.fit()
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = trainer()
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    resumed.fit()
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert model_generators(build_detector("yolo_v1", 2)) == []


@pytest.fixture
def kangaroo_photos(shared_data, tmp_path):
    """12 of the kangaroo photos (different sizes, the truncated 00090.jpg among them) as a VOC folder."""
    source = shared_data / "kangaroo"
    root = tmp_path / "kangaroo"
    for sub in ("annots", "images"):
        (root / sub).mkdir(parents=True)
    for xml in [*sorted((source / "annots").glob("*.xml"))[:11], source / "annots" / "00090.xml"]:
        stem = xml.stem
        (root / "annots" / f"{stem}.xml").symlink_to(xml)
        (root / "images" / f"{stem}.jpg").symlink_to(source / "images" / f"{stem}.jpg")
    return root


@pytest.mark.parametrize(
    "model, moments",
    [("faster_rcnn", [("kill", 1), ("write", 2)]), ("yolo_v1", [("sigint", 2)])],
)
def test_killed_and_resumed_on_real_photos_is_bit_identical(kangaroo_photos, kill_resume, model, moments):
    """SIGKILL right after a checkpoint and during an atomic write, or Ctrl-C, each time continued by a plain
    --resume: the run ends as an uninterrupted one, bit for bit (the resumed process takes --threads from
    config.yaml: another thread count sums the floats in another order)."""
    options = ["--model", model, "--data", f"voc:{kangaroo_photos}", "--image-size", "64", "--batch-size", "4"]
    options += ["--epochs", "2", "--checkpoint-every", "1", "--test-limit", "2", "--warmup-steps", "1"]
    kill_resume(["detect", "train"], [*options, "--threads", "1", "--device", "cpu"], moments)


def test_threads_are_saved_and_a_resume_keeps_them(tmp_path, capsys):
    """--threads is part of config.yaml; a resume with another count must say so with --allow-changes."""
    run = tmp_path / "run"
    assert main(["detect", "train", *TINY, "--epochs", "1", "--test-limit", "2", "--run-dir", str(run)]) == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["threads"] == 1
    capsys.readouterr()
    assert main(["detect", "train", "--run-dir", str(run), "--resume", "--threads", "2", "--no-progress"]) == 2
    assert "threads 1 -> 2" in capsys.readouterr().err
    argv = ["detect", "train", "--run-dir", str(run), "--resume", "--epochs", "2", "--allow-changes", "epochs,threads"]
    assert main([*argv, "--threads", "2", "--no-progress"]) == 0
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 2


def test_resume_refuses_other_settings(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["detect", "train", *TINY, "--epochs", "1", "--test-limit", "2", "--run-dir", str(run)]) == 0
    capsys.readouterr()
    assert main(["detect", "train", "--run-dir", str(run), "--resume", "--lr", "0.5", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "lr None -> 0.5" in err and "--allow-changes lr" in err and len(err.splitlines()) == 1
    assert (
        main(
            [
                "detect",
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
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 2


def test_rcnn_checkpoints_after_its_svm_stage(tmp_path):
    run = tmp_path / "rcnn"
    argv = [
        "detect",
        "train",
        "--data",
        DATA,
        "--model",
        "rcnn",
        "--batch-size",
        "8",
        "--train-limit",
        "16",
        "--test-limit",
        "2",
        "--epochs",
        "1",
        "--proposals",
        "single",
        "--max-proposals",
        "30",
        "--device",
        "cpu",
        "--no-progress",
        "--run-dir",
        str(run),
    ]
    assert main(argv) == 0
    state = load_checkpoint(run / "checkpoint.pt")
    assert bool(state["model"]["fitted"]) and state["model"]["svm_weight"].abs().sum() > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
def test_detect_train_on_cuda(tmp_path):
    run = tmp_path / "cuda"
    argv = [
        "detect",
        "train",
        "--data",
        DATA,
        "--model",
        "faster_rcnn",
        "--batch-size",
        "8",
        "--epochs",
        "1",
        "--test-limit",
        "4",
        "--device",
        "cuda",
        "--no-progress",
        "--run-dir",
        str(run),
    ]
    assert main(argv) == 0
    assert load_checkpoint(run / "checkpoint.pt")["global_step"] == 6


def test_gradient_clipping_and_channels_last(tmp_path):
    """--grad-clip bounds every step (SGD: a step moves the weights by lr x the clipped norm at most);
    --channels-last trains NHWC weights. Both are saved in the run's config."""
    runs = {
        "start": ["--epochs", "0"],
        "plain": ["--epochs", "1"],
        "clipped": ["--epochs", "1", "--grad-clip", "1e-6"],
        "nhwc": ["--epochs", "1", "--channels-last"],
    }
    for name, args in runs.items():
        opts = [
            "--optimizer",
            "sgd",
            "--lr",
            "0.01",
            "--weight-decay",
            "0",
            "--scheduler",
            "none",
            "--warmup-steps",
            "0",
        ]
        assert (
            main(["detect", "train", *TINY, *opts, *args, "--test-limit", "2", "--run-dir", str(tmp_path / name)]) == 0
        )
    w = {name: load_checkpoint(tmp_path / name / "checkpoint.pt")["model"] for name in runs}

    def moved(name):  # the largest change of a learned weight (batch-norm statistics follow the data, not the steps)
        keys = [k for k in w[name] if w[name][k].is_floating_point() and "running_" not in k]
        return max((w[name][k] - w["start"][k]).abs().max().item() for k in keys)

    assert moved("plain") > 1e-4
    assert moved("clipped") <= 6 * 0.01 * 1e-6 * 1.001  # 6 steps of lr x norm at most (+ float rounding)
    convs = [v for v in w["nhwc"].values() if v.dim() == 4]
    assert convs and all(v.is_contiguous(memory_format=torch.channels_last) for v in convs)
    assert any(not v.is_contiguous() for v in convs)  # (1x1 and one-channel kernels are both at once)
    assert all(v.is_contiguous() for v in w["plain"].values())
    config = (tmp_path / "clipped" / "config.yaml").read_text()
    assert "grad_clip: 1.0e-06" in config and "channels_last: true" in (tmp_path / "nhwc" / "config.yaml").read_text()
