"""Weight files for `create_model(name, weights=...)`: a state dict, a file or "torchvision".

A .pt/.pth file is read with the safe loader (a dlbasic checkpoint gives its weights and metadata); a
.safetensors file (recognized by its suffix or its header) gives its tensors and JSON metadata; "torchvision"
fetches torchvision's published ImageNet weights (needs torchvision and a network). The weights may be in our
layout or torchvision's (`dlbasic.models.interop.load_weights` translates and checks them); metadata supplies
the classes, channels, input size and model options the caller did not give.

Whatever a file holds is checked before a model is built from it: metadata of the wrong type or out of
bounds (`dlbasic.models.registry.BOUNDS`), options that are not a mapping of names, and weights that are NaN
or infinite are refused in one `UserError` naming the file and the field or tensor.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from dlbasic.checkpoint import check_finite, read_tensors
from dlbasic.errors import UserError, check
from dlbasic.models.interop import OURS_TO_TORCHVISION, load_weights, our_name
from dlbasic.models.registry import check_size
from dlbasic.parsing import loads_json

# keywords of `load_weights` and `create_model` themselves, which model options cannot name
RESERVED_OPTIONS = ("name", "state", "layout", "num_classes", "in_channels", "input_size", "what", "weights")


def torchvision_weights(name: str) -> dict[str, Tensor]:
    """torchvision's published ImageNet weights of zoo model `name` (downloaded once into torch's hub cache)."""
    tv = OURS_TO_TORCHVISION[our_name(name)]
    try:
        import torchvision
    except ImportError:
        raise UserError(
            'weights="torchvision" needs torchvision',
            "install the torchvision release that matches your torch, or pass a weight file",
        ) from None
    try:
        model = torchvision.models.get_model(tv, weights="DEFAULT")
    except Exception as e:  # no network, a proxy, a full disk: torch.hub raises many kinds
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise UserError(
            f"could not fetch torchvision's {tv} weights ({first})",
            "they are downloaded on first use: go online, or pass a downloaded file",
        ) from None
    if tv == "googlenet":
        warnings.warn(
            "torchvision's pretrained GoogLeNet expects inputs normalized with mean 0.5 and std 0.5 per "
            "channel (its transform_input step), not ImageNet's statistics",
            stacklevel=3,
        )
    return model.state_dict()


def read_safetensors(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Tensors and metadata of a .safetensors file; metadata values that are JSON are decoded."""
    path = Path(path)
    try:
        from safetensors import safe_open
    except ImportError:
        raise UserError(f"reading {path} needs the safetensors package", "pip install safetensors") from None
    check(path.is_file(), f"no such weight file: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except Exception as e:  # safetensors raises its own error types for a corrupt header
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
        raise UserError(f"{path} is not a readable safetensors file ({first})") from None
    meta: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            meta[key] = loads_json(value, f"{path}: metadata {key!r}")
        except (ValueError, TypeError):
            meta[key] = value
    return tensors, meta


def is_safetensors(path: Path) -> bool:
    """Whether `path` starts as a safetensors file does: an 8-byte little-endian header size, then a JSON object."""
    try:
        with open(path, "rb") as f:
            head = f.read(9)
            size = path.stat().st_size
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") <= size - 8


def read_weights(weights: Any, name: str) -> tuple[dict[str, Tensor], dict[str, Any] | None, str]:
    """(state dict, metadata or None, what to call it in messages) of a `weights=` argument."""
    if isinstance(weights, Mapping):
        return dict(weights), None, "the weights"
    if weights == "torchvision":
        check(
            name in OURS_TO_TORCHVISION,
            f"{name} has no torchvision weights",
            "torchvision's GoogLeNet is googlenet_tv"
            if name == "googlenet"
            else f"choices: {', '.join(sorted(OURS_TO_TORCHVISION))}",
        )
        return torchvision_weights(name), None, f"torchvision's {OURS_TO_TORCHVISION[our_name(name)]} weights"
    check(
        isinstance(weights, (str, Path)),
        f"weights must be a state dict, a file or 'torchvision', not {type(weights).__name__}",
    )
    path = Path(weights)
    if path.suffix == ".safetensors" or is_safetensors(path):
        state, meta = read_safetensors(path)
        return state, (meta if "model" in meta or "kind" in meta else None), str(path)
    obj = read_tensors(path, what="weight file")
    if isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping):  # a dlbasic checkpoint
        meta = obj.get("meta") if isinstance(obj.get("meta"), Mapping) else None
        return dict(obj["model"]), (dict(meta) if meta is not None else None), str(path)
    return obj, None, str(path)


def check_metadata(meta: Mapping[str, Any], what: str) -> dict[str, Any]:
    """The metadata fields that build a model, checked: `kind` and `model` are names, the sizes integers within
    `BOUNDS`, `model_options` a mapping of option names; a `UserError` naming the file and the field otherwise.
    A field that is absent or null is left to the caller (or the default)."""
    meta = dict(meta)
    where = f"{what}: metadata "
    for field in ("kind", "model"):
        value = meta.get(field)
        check(value is None or isinstance(value, str), f"{where}{field} must be a name, got {value!r}"[:300])
    for field in ("num_classes", "in_channels", "input_size"):
        if meta.get(field) is not None:
            meta[field] = check_size(meta[field], field, where)
    options = meta.get("model_options")
    if options is not None:
        check(
            isinstance(options, Mapping),
            f"{where}model_options must be a mapping of option names to values, got {options!r}"[:300],
        )
        for key in options:
            check(
                isinstance(key, str) and key.isidentifier() and key not in RESERVED_OPTIONS,
                f"{where}model_options has {key!r}, which is not a model option name",
                f"sizes are fields of their own; {', '.join(RESERVED_OPTIONS)} cannot be options",
            )
        meta["model_options"] = dict(options)
    return meta


def create_with_weights(
    name: str,
    weights: Any,
    num_classes: int | None = None,
    in_channels: int | None = None,
    input_size: int | None = None,
    **kw,
) -> nn.Module:
    """`create_model(name, ..., weights=weights)`: see `load_weights`; metadata (of a dlbasic checkpoint or an
    exported .safetensors) supplies the classes, channels, input size and model options not given."""
    state, meta, what = read_weights(weights, name)
    check_finite(state, what)
    if meta is not None:
        meta = check_metadata(meta, what)
        kind = meta.get("kind")
        check(
            kind in (None, "classification", "segmentation"),
            f"{what} holds a {kind} model's weights, not a zoo model's",
            "create_model builds zoo models",
        )
        if meta.get("model") is not None and meta["model"] != name:
            raise UserError(
                f"{what} holds the weights of {meta['model']!r}, not {name!r}",
                f"create_model({meta['model']!r}, weights=...)",
            )
        num_classes = num_classes or meta.get("num_classes")
        in_channels = in_channels or meta.get("in_channels")
        input_size = input_size or meta.get("input_size")
        kw = {**(meta.get("model_options") or {}), **kw}
    try:
        return load_weights(
            name, state, num_classes=num_classes, in_channels=in_channels, input_size=input_size or 224, what=what, **kw
        )
    except UserError as e:
        if meta is None or not meta.get("model_options") or what in e.message:
            raise
        raise UserError(f"{what}: metadata model_options: {e.message}", e.hint) from None


__all__ = [
    "check_metadata",
    "create_with_weights",
    "is_safetensors",
    "read_safetensors",
    "read_weights",
    "torchvision_weights",
]
