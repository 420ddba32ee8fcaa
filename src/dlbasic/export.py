"""Checkpoints exported for other runtimes: ONNX, TorchScript and safetensors, each checked against eager PyTorch.

- Classifiers (`dlbasic train`) and FCNs (`dlbasic segment train`) export whole: images Tensor[N, C, S, S] ->
  logits Tensor[N, K] or per-pixel scores Tensor[N, K, S, S], at the checkpoint's input size.
- Detectors: only `yolo_v1` is one graph: images -> its activated grid Tensor[N, S, S, 5B + C]; decoding,
  thresholds and NMS (`YOLOv1.decode`) give a data-dependent number of boxes and stay in Python. `rcnn`,
  `sppnet` and `fast_rcnn` run selective search (scikit-image, in Python) inside `forward`, and `faster_rcnn`
  keeps a data-dependent number of proposals (top-k, NMS) and loops over images in Python: no graph holds
  them, so they export as safetensors (weights) only (`NOT_EXPORTABLE`).

ONNX files take any batch size (dynamic axis "batch"; height and width stay the checkpoint's). The legacy
TorchScript-based exporter is used (`dynamo=False`), with opset 17; an adaptive average pool whose output size
does not divide its input (which that exporter refuses) is exported as the same average written as two
pooling matrices. TorchScript files are traced. A safetensors file holds the state dict, and the checkpoint's
metadata as its metadata strings (JSON), plus `format: pt`; `create_model(name, weights=FILE)` reads both.

Every export is checked before it is kept: the exported model (onnxruntime, `torch.jit.load`, or the
safetensors reloaded into a new model) and the eager one run on random inputs of two batch sizes, and an
export whose outputs differ by more than `TOLERANCE` (times the outputs' largest magnitude when that exceeds
1) is refused and not written.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dlbasic.errors import UserError, check

FORMATS = ("onnx", "torchscript", "safetensors")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript", "safetensors": ".safetensors"}
TOLERANCE = 1e-4
BATCHES = (1, 3)  # verification batch sizes; the graph is traced at batch 2
OPSET = 17
NOT_EXPORTABLE = {
    "rcnn": "selective search (scikit-image, in Python) proposes its regions and each is cropped and warped in a "
    "Python loop",
    "sppnet": "selective search (scikit-image, in Python) proposes its regions inside forward",
    "fast_rcnn": "selective search (scikit-image, in Python) proposes its regions inside forward",
    "faster_rcnn": "its RPN keeps a data-dependent number of proposals (top-k, NMS) and its RoI heads loop over "
    "images in Python",
}


@dataclass
class Exportable:
    """A checkpoint's model ready to export.

    module: what is exported, in eval mode (for YOLO v1, its network up to the activated grid).
    model: the checkpoint's model itself (its weights go into a safetensors file).
    meta: the checkpoint's metadata; kind: classification, segmentation or detection; name: the model's name.
    input_shape: (C, H, W) of one input image; output: the name of the graph's output.
    """

    module: nn.Module
    model: nn.Module
    meta: dict[str, Any]
    kind: str
    name: str
    input_shape: tuple[int, int, int]
    output: str


@dataclass
class ExportResult:
    """What `export_checkpoint` wrote and how the exported model compared with the eager one.

    Attributes:
        max_diff: the largest |exported - eager| output difference (0 for safetensors, compared bit for bit).
        scale: the eager outputs' largest magnitude (None: only tensors were compared).
        checked_with: what ran the comparison (e.g. onnxruntime, the reloaded tensors).
    """

    path: Path
    format: str
    exportable: Exportable
    max_diff: float
    scale: float | None  # the eager outputs' largest magnitude (None: only tensors were compared)
    checked_with: str

    def lines(self) -> list[str]:
        """The report printed by `dlbasic export`: what was written, then how it compared with the eager model."""
        ex = self.exportable
        c, h, w = ex.input_shape
        batch = ", dynamic batch" if self.format == "onnx" else ""
        what = (
            f"{len(ex.model.state_dict())} tensors and the checkpoint's metadata"
            if self.format == "safetensors"
            else f"images [N, {c}, {h}, {w}] -> {ex.output}{batch}"
        )
        return [
            f"wrote {self.path} ({ex.name}, {ex.kind}: {what})",
            f"{self.checked_with} equal the checkpoint's weights bit for bit"
            if self.scale is None
            else f"{self.checked_with} vs eager on random inputs of batch {' and '.join(map(str, BATCHES))}: "
            f"max |difference| {self.max_diff:.2e} (outputs up to {self.scale:.3g}; tolerance {TOLERANCE:g})",
        ]


class YOLOGrid(nn.Module):
    """YOLO v1's network: images Tensor[N, C, H, W] -> activated grid Tensor[N, S, S, 5B + C]."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        """images Tensor[N, C, H, W] -> the activated grid Tensor[N, S, S, 5B + C]."""
        return self.model.predict_grid(images)


def load_exportable(path: str | Path, fmt: str = "onnx") -> Exportable:
    """The model of a classifier, FCN or detector checkpoint, read with the project's loaders (safe: tensors and
    plain values only); `UserError` for a detector whose graph cannot be exported to `fmt`."""
    from dlbasic.training.kinds import model_from_checkpoint
    from dlbasic.training.restore import checkpoint_kind, load_checkpoint

    kind = checkpoint_kind(load_checkpoint(path))
    if kind in ("classification", "segmentation"):
        model, meta = model_from_checkpoint(path, kind, action="eval")
        size, output = meta["input_size"], "logits" if kind == "classification" else "scores"
        return Exportable(
            model, model, {"kind": kind, **meta}, kind, meta["model"], (meta["in_channels"], size, size), output
        )
    if kind == "detection":
        model, ckpt = model_from_checkpoint(path, "detection", action="eval")
        meta = {"kind": "detection", **{k: v for k, v in ckpt.items() if k != "model"}}
        name = meta["config"]["model"]
        if fmt != "safetensors" and name in NOT_EXPORTABLE:
            raise UserError(
                f"{name} cannot be exported to {fmt}: {NOT_EXPORTABLE[name]}",
                "export its weights with --format safetensors; yolo_v1 exports as a graph",
            )
        h, w = meta["image_size"]
        module = YOLOGrid(model).eval() if name == "yolo_v1" else model
        return Exportable(module, model, meta, kind, name, (meta["in_channels"], h, w), "grid")
    raise UserError(
        f"{path} has no metadata saying what it holds",
        "use a checkpoint written by dlbasic train, segment train or detect train",
    )


# --- ONNX -------------------------------------------------------------------------------------------------------


class PoolMatrices(nn.Module):
    """`AdaptiveAvgPool2d(out)` on inputs of one size (h, w), as rows @ x @ cols^T: the same averages, in ops
    that every ONNX exporter takes (the legacy one refuses output sizes that do not divide the input)."""

    def __init__(self, size: tuple[int, int], out: tuple[int, int]):
        super().__init__()
        self.register_buffer("rows", _pool_matrix(size[0], out[0]))
        self.register_buffer("cols", _pool_matrix(size[1], out[1]))

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[B, C, h, w] -> the adaptive average pool Tensor[B, C, out_h, out_w]."""
        return torch.matmul(torch.matmul(self.rows, x), self.cols.t())  # (B, C, out_h, out_w)


def _pool_matrix(n: int, out: int) -> Tensor:
    """Tensor[out, n]: row i averages inputs floor(i n / out) .. ceil((i + 1) n / out) - 1, as adaptive pooling."""
    m = torch.zeros(out, n)
    for i in range(out):
        start, end = (i * n) // out, -((-(i + 1) * n) // out)
        m[i, start:end] = 1.0 / (end - start)
    return m


def _pair(v: Any, like: tuple[int, int]) -> tuple[int, int]:
    v = (v, v) if isinstance(v, int) else tuple(v)
    return tuple(like[i] if v[i] is None else int(v[i]) for i in range(2))  # type: ignore[return-value]


@contextlib.contextmanager
def onnx_compatible(module: nn.Module, example: Tensor) -> Iterator[nn.Module]:
    """`module` with each adaptive average pool whose output does not divide its input (at `example`'s size)
    replaced by `PoolMatrices`; the original layers are put back on exit."""
    sizes: dict[str, tuple[int, int]] = {}
    hooks = [
        m.register_forward_pre_hook(lambda m, args, name=name: sizes.__setitem__(name, tuple(args[0].shape[-2:])))
        for name, m in module.named_modules()
        if isinstance(m, nn.AdaptiveAvgPool2d)
    ]
    try:
        with torch.no_grad():
            module(example)
    finally:
        for h in hooks:
            h.remove()
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    for name, size in sizes.items():
        pool = module.get_submodule(name)
        out = _pair(pool.output_size, size)
        if all(s % o == 0 for s, o in zip(size, out)):
            continue
        parent_name, _, attr = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        replacement = PoolMatrices(size, out).to(example.device)
        swapped.append((parent, attr, pool))
        setattr(parent, attr, replacement)
    try:
        yield module
    finally:
        for parent, attr, pool in swapped:
            setattr(parent, attr, pool)


def _need_onnx() -> None:
    for package in ("onnx", "onnxruntime"):
        try:
            __import__(package)
        except ImportError:
            raise UserError(f"--format onnx needs the {package} package", "pip install onnx onnxruntime") from None


def export_onnx(module: nn.Module, example: Tensor, path: Path, output: str = "output") -> None:
    """ONNX with a dynamic batch axis: the legacy exporter (dynamo=False), else torch.export's (which needs
    onnxscript)."""
    _need_onnx()
    with onnx_compatible(module, example) as m, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice, tracer warnings
        names = dict(input_names=["images"], output_names=[output])
        try:
            torch.onnx.export(
                m,
                (example,),
                str(path),
                dynamo=False,
                opset_version=OPSET,
                dynamic_axes={"images": {0: "batch"}, output: {0: "batch"}},
                **names,
            )
            return
        except TypeError as e:  # a torch without the legacy exporter
            if "dynamo" not in str(e):
                raise
        try:
            import onnxscript  # noqa: F401
        except ImportError:
            raise UserError(
                "this torch has only the dynamo ONNX exporter, which needs the onnxscript package",
                "pip install onnxscript",
            ) from None
        batch = torch.export.Dim("batch", min=1)
        torch.onnx.export(m, (example,), str(path), dynamo=True, dynamic_shapes=({0: batch},), verbose=False, **names)


def run_onnx(path: Path, x: Tensor) -> Tensor:
    """The outputs of the ONNX model at `path` on `x`, computed by onnxruntime on the CPU."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise UserError("checking an ONNX export needs onnxruntime", "pip install onnxruntime") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])


# --- TorchScript ------------------------------------------------------------------------------------------------


def export_torchscript(module: nn.Module, example: Tensor, path: Path) -> None:
    """Trace `module` on `example` with `torch.jit.trace` and save it to `path` (shapes read as numbers are fixed)."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarning: sizes read as Python numbers are fixed, as intended
        traced = torch.jit.trace(module, (example,), check_trace=False)
        torch.jit.save(traced, str(path))


def run_torchscript(path: Path, x: Tensor) -> Tensor:
    """The outputs of the TorchScript model at `path` on `x`, loaded on the CPU, without gradients."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        return torch.jit.load(str(path), map_location="cpu")(x)


# --- safetensors ------------------------------------------------------------------------------------------------


def _safetensors():
    try:
        import safetensors.torch
    except ImportError:
        raise UserError("--format safetensors needs the safetensors package", "pip install safetensors") from None
    return safetensors.torch


def safetensors_bytes(state: dict[str, Tensor], meta: dict[str, Any]) -> bytes:
    """A state dict and metadata (each entry as a JSON string) as the bytes of a .safetensors file."""
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}  # no shared storage
    metadata = {str(k): json.dumps(v, default=str) for k, v in meta.items()}
    metadata["format"] = "pt"
    return _safetensors().save(tensors, metadata)


# --- the whole export -------------------------------------------------------------------------------------------


def _inputs(shape: tuple[int, int, int], seed: int = 0) -> tuple[Tensor, list[Tensor]]:
    g = torch.Generator().manual_seed(seed)
    example = torch.randn(2, *shape, generator=g)
    return example, [torch.randn(b, *shape, generator=g) for b in BATCHES]


def _difference(eager: list[Tensor], exported: list[Tensor]) -> tuple[float, float]:
    diff = max(float((a - b.to(a.dtype)).abs().max()) for a, b in zip(eager, exported))
    scale = max(float(a.abs().max()) for a in eager)
    return diff, scale


def _rebuilt(ex: Exportable, path: Path) -> nn.Module | None:
    """For safetensors: the tensors must come back bit for bit; classifiers and FCNs are also rebuilt from the
    file alone (`create_model(name, weights=path)`), to be run against the eager model."""
    from dlbasic.models.weight_files import read_safetensors

    tensors, _ = read_safetensors(path)
    own = ex.model.state_dict()
    check(
        set(tensors) == set(own)
        and all(tensors[k].dtype == v.dtype and torch.equal(tensors[k], v.cpu()) for k, v in own.items()),
        f"the safetensors file written for {ex.name} does not hold its weights exactly",
    )
    if ex.kind == "detection":
        return None
    from dlbasic.models import create_model

    return create_model(ex.name, weights=path).eval()


def export_checkpoint(checkpoint: str | Path, fmt: str, out: str | Path, seed: int = 0) -> ExportResult:
    """Export `checkpoint` to `out` in format `fmt` ("onnx", "torchscript", "safetensors") and check it.

    The file is written next to `out` under a temporary name and renamed onto `out` only once its outputs match
    the eager model's within `TOLERANCE`; otherwise `UserError` and nothing is left behind. A detector's
    safetensors file is checked tensor by tensor only (its eager model runs selective search or NMS).
    """
    check(fmt in FORMATS, f"unknown format {fmt!r}", f"choices: {', '.join(FORMATS)}")
    out = Path(out)
    if fmt == "onnx":
        _need_onnx()
    ex = load_exportable(checkpoint, fmt)
    module = ex.module.eval()
    example, batches = _inputs(ex.input_shape, seed)
    fd, name = tempfile.mkstemp(dir=out.absolute().parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        if fmt == "safetensors":
            tmp.write_bytes(safetensors_bytes(ex.model.state_dict(), ex.meta))
            rebuilt = _rebuilt(ex, tmp)
            if rebuilt is None:
                os.replace(tmp, out)
                return ExportResult(out, fmt, ex, 0.0, None, "the reloaded tensors")
            run, checked_with = rebuilt, "a model rebuilt from the file"
        elif fmt == "onnx":
            export_onnx(module, example, tmp, ex.output)
            run, checked_with = (lambda x: run_onnx(tmp, x)), "onnxruntime"
        else:
            export_torchscript(module, example, tmp)
            run, checked_with = (lambda x: run_torchscript(tmp, x)), "torch.jit.load"
        with torch.no_grad():
            eager = [module(x) for x in batches]
            exported = [run(x) for x in batches]
        diff, scale = _difference(eager, exported)
        if not diff <= TOLERANCE * max(1.0, scale):  # also refuses NaN
            raise UserError(
                f"the {fmt} export of {ex.name} differs from eager PyTorch by {diff:.2e} (more than "
                f"{TOLERANCE:g}); nothing was written",
                "this is a bug: please report it with the model",
            )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(out, fmt, ex, diff, scale, checked_with)


__all__ = [
    "BATCHES",
    "FORMATS",
    "NOT_EXPORTABLE",
    "SUFFIXES",
    "TOLERANCE",
    "ExportResult",
    "Exportable",
    "PoolMatrices",
    "YOLOGrid",
    "export_checkpoint",
    "export_onnx",
    "export_torchscript",
    "load_exportable",
    "onnx_compatible",
    "run_onnx",
    "run_torchscript",
    "safetensors_bytes",
]
