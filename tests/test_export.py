"""`dlbasic export`: ONNX, TorchScript and safetensors files of classifier, FCN and detector checkpoints, each
checked against the eager model; refusals in one line that leave nothing behind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from dlbasic.checkpoint import atomic_save
from dlbasic.cli import main
from dlbasic.detection.config import DetectionConfig
from dlbasic.detection.models.registry import build_detector
from dlbasic.export import BATCHES, PoolMatrices, YOLOGrid
from dlbasic.models import create_model

pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.load.* is deprecated")  # since torch 2.13
ONE = ["--threads", "1", "--no-progress"]
# the bars: (model, kind, input size); small inputs keep them fast (vgg11_bn at 32 pools 4x4 maps to 3x3, the
# adaptive pooling the legacy ONNX exporter refuses, so that path is covered too)
BARS = [
    ("resnet18", "classification", 32),
    ("vgg11_bn", "classification", 32),
    ("densenet121", "classification", 32),
    ("fcn8s_resnet18", "segmentation", 64),
    ("yolo_v1", "detection", 64),
]


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Norm statistics and scales away from their initial 0 and 1, and no zero-initialized residual branches:
    outputs a wrong export could not match by accident."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) * 0.4 + 0.8)
                m.bias.copy_(torch.randn(n, generator=g) * 0.05)
            elif isinstance(m, nn.Conv2d) and m.weight.requires_grad and not m.weight.any():
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.05)  # FCN's zero skip scorers
    return model


def write_checkpoint(root: Path, name: str, kind: str, size: int) -> Path:
    """A checkpoint in the layout dlbasic train / segment train / detect train write."""
    torch.manual_seed(0)
    path = root / name / "best.pt"
    path.parent.mkdir(parents=True)
    if kind == "detection":
        model = build_detector(name, 3, 1, seed=0)
        meta = {
            "kind": "detection",
            "config": DetectionConfig(model=name).to_dict(),
            "classes": ["a", "b", "c"],
            "in_channels": 1,
            "image_size": [size, size],
        }
    else:
        classes = 3 if kind == "segmentation" else 10
        model = create_model(name, num_classes=classes, in_channels=3, input_size=size)
        meta = {
            "kind": kind,
            "model": name,
            "model_options": {},
            "num_classes": classes,
            "in_channels": 3,
            "input_size": size,
            "classes": [f"c{i}" for i in range(classes)],
            "mean": [0.5] * 3,
            "std": [0.25] * 3,
        }
    atomic_save({"model": randomize(model).state_dict(), "meta": meta, "epoch": 1}, path)
    return path


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    paths = {name: write_checkpoint(root, name, kind, size) for name, kind, size in BARS}
    paths["faster_rcnn"] = write_checkpoint(root, "faster_rcnn", "detection", 64)
    return SimpleNamespace(root=root, **paths)


def export(capsys, *argv) -> tuple[int, str, str]:
    rc = main(["export", *map(str, argv)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def max_difference(stdout: str) -> float:
    return float(re.search(r"max \|difference\| (\S+)", stdout).group(1))


def eager(path: Path, x: torch.Tensor) -> torch.Tensor:
    from dlbasic.export import load_exportable

    with torch.no_grad():
        return load_exportable(path).module.eval()(x)


def input_for(path: Path, batch: int) -> torch.Tensor:
    from dlbasic.export import load_exportable

    return torch.randn(batch, *load_exportable(path).input_shape, generator=torch.Generator().manual_seed(5))


@pytest.mark.parametrize("name", [b[0] for b in BARS])
def test_onnx_export_runs_in_onnxruntime_like_eager(capsys, ckpts, name):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    onnx = pytest.importorskip("onnx", reason="onnx is not installed")
    ckpt = getattr(ckpts, name)
    rc, out, err = export(capsys, "--checkpoint", ckpt, "--format", "onnx")
    assert rc == 0, err
    print(out)
    assert f"batch {BATCHES[0]} and {BATCHES[1]}" in out and max_difference(out) <= 1e-4
    path = ckpt.with_suffix(".onnx")
    graph = onnx.load(str(path)).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    x = input_for(ckpt, 5)  # a third batch size, checked here independently of the command
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"images": x.numpy()})[0]
    assert (torch.from_numpy(got) - eager(ckpt, x)).abs().max() <= 1e-4


@pytest.mark.parametrize("name", ["resnet18", "fcn8s_resnet18", "yolo_v1"])
def test_torchscript_export_loads_and_matches_eager(capsys, ckpts, name):
    ckpt = getattr(ckpts, name)
    out_path = ckpt.parent / "model.torchscript"
    rc, out, err = export(capsys, "--checkpoint", ckpt, "--format", "torchscript", "--out", out_path)
    assert rc == 0, err
    assert max_difference(out) <= 1e-4
    x = input_for(ckpt, 4)
    with torch.no_grad():
        assert (torch.jit.load(str(out_path))(x) - eager(ckpt, x)).abs().max() <= 1e-4


def test_safetensors_hold_the_weights_and_metadata(capsys, ckpts):
    pytest.importorskip("safetensors", reason="safetensors is not installed")
    from dlbasic.models.weight_files import read_safetensors
    from dlbasic.training.restore import load_checkpoint

    rc, out, err = export(capsys, "--checkpoint", ckpts.fcn8s_resnet18, "--format", "safetensors")
    assert rc == 0, err
    assert "a model rebuilt from the file vs eager" in out and max_difference(out) == 0
    path = ckpts.fcn8s_resnet18.with_suffix(".safetensors")
    ckpt = load_checkpoint(ckpts.fcn8s_resnet18)
    tensors, meta = read_safetensors(path)
    assert meta == {**ckpt["meta"], "format": "pt"}
    assert all(torch.equal(tensors[k], v) for k, v in ckpt["model"].items()) and set(tensors) == set(ckpt["model"])
    model = create_model("fcn8s_resnet18", weights=path).eval()  # sizes and classes from the metadata
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(model(x), eager(ckpts.fcn8s_resnet18, x))


def test_detectors_without_a_graph_are_refused(capsys, ckpts):
    for fmt in ("onnx", "torchscript"):
        rc, _, err = export(capsys, "--checkpoint", ckpts.faster_rcnn, "--format", fmt)
        assert rc == 2 and len(err.strip().splitlines()) == 1
        assert f"faster_rcnn cannot be exported to {fmt}: its RPN keeps a data-dependent number" in err
        assert "--format safetensors" in err
    assert [p.name for p in ckpts.faster_rcnn.parent.iterdir()] == ["best.pt"]


def test_any_detectors_weights_export_as_safetensors(capsys, ckpts, tmp_path):
    pytest.importorskip("safetensors", reason="safetensors is not installed")
    rc, out, err = export(
        capsys, "--checkpoint", ckpts.faster_rcnn, "--format", "safetensors", "--out", tmp_path / "frcnn.safetensors"
    )
    assert rc == 0 and "the reloaded tensors equal the checkpoint's weights bit for bit" in out, err


def test_outputs_are_never_replaced_without_overwrite(capsys, ckpts):
    target = ckpts.root / "mine.torchscript"
    target.write_text("keep me")
    rc, _, err = export(capsys, "--checkpoint", ckpts.yolo_v1, "--format", "torchscript", "--out", target)
    assert rc == 2 and "already exists" in err and target.read_text() == "keep me"
    rc, _, err = export(
        capsys, "--checkpoint", ckpts.yolo_v1, "--format", "torchscript", "--out", ckpts.yolo_v1, "--overwrite"
    )
    assert rc == 2 and "is the checkpoint itself" in err
    rc, _, err = export(
        capsys, "--checkpoint", ckpts.yolo_v1, "--format", "torchscript", "--out", target, "--overwrite"
    )
    assert rc == 0, err
    assert torch.jit.load(str(target)) is not None


def test_an_export_that_differs_from_eager_is_refused_and_not_written(capsys, ckpts, monkeypatch):
    import dlbasic.export

    monkeypatch.setattr(dlbasic.export, "run_torchscript", lambda path, x: eager(ckpts.yolo_v1, x) + 1e-3)
    target = ckpts.root / "wrong.torchscript"
    rc, _, err = export(capsys, "--checkpoint", ckpts.yolo_v1, "--format", "torchscript", "--out", target)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "differs from eager PyTorch by 1.00e-03 (more than 0.0001); nothing was written" in err
    assert not target.exists() and not list(ckpts.root.glob(".*.tmp"))


def test_a_missing_or_foreign_checkpoint_is_one_line(capsys, tmp_path):
    rc, _, err = export(capsys, "--checkpoint", tmp_path / "none.pt", "--format", "onnx")
    assert rc == 2 and "no such checkpoint" in err
    torch.save({"weights": torch.zeros(2)}, tmp_path / "x.pt")
    rc, _, err = export(capsys, "--checkpoint", tmp_path / "x.pt", "--format", "onnx")
    assert rc == 2 and "is not a dlbasic checkpoint" in err


def test_a_trained_classifier_exports_end_to_end(capsys, tmp_path):
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    run = tmp_path / "run"
    assert main(["train", "--data", "digits", "--model", "mlp", "--epochs", "1", *ONE, "--run-dir", str(run)]) == 0
    capsys.readouterr()
    rc, out, err = export(capsys, "--checkpoint", run / "best.pt", "--format", "onnx")
    assert rc == 0, err
    assert (run / "best.onnx").is_file() and max_difference(out) <= 1e-4


@pytest.mark.parametrize("size, out", [(4, 3), (7, 3), (5, 2), (6, 6), (3, 5)])
def test_pool_matrices_are_adaptive_average_pooling(size, out):
    x = torch.randn(2, 3, size, size + 1)
    pool = PoolMatrices((size, size + 1), (out, out))
    assert torch.allclose(pool(x), nn.AdaptiveAvgPool2d(out)(x), atol=1e-6)


def test_yolo_graph_is_the_activated_grid():
    model = build_detector("yolo_v1", 3, 1).eval()
    x = torch.rand(2, 1, 64, 64)
    assert torch.equal(YOLOGrid(model)(x), model.predict_grid(x))


def test_help_does_not_import_torch():
    script = (
        "import sys\nfrom dlbasic.cli import main\ntry:\n    main(['export', '--help'])\nexcept SystemExit:\n"
        "    pass\nprint('torch imported' if 'torch' in sys.modules else 'torch not imported')"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip().endswith("torch not imported"), proc.stdout + proc.stderr
    assert "selective search" in proc.stdout and "faster_rcnn" in proc.stdout
