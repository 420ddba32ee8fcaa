"""From a checkpoint back to a model: which command wrote it, its metadata checked, its weights loaded
(`dlbasic.training.kinds.model_from_checkpoint` puts these steps together for each kind of run).

Every failure is one `UserError` naming the file: a checkpoint of another kind names the command that
reads it, and missing or inconsistent metadata or weights say what is wrong.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from dlbasic.checkpoint import check_finite, read_tensors
from dlbasic.errors import UserError, check
from dlbasic.models import create_model
from dlbasic.models.registry import check_size

# the command that takes each kind of checkpoint, by action ("eval" or "predict")
KIND_COMMANDS = {"classification": "dlbasic {}", "segmentation": "dlbasic segment {}", "detection": "dlbasic detect {}"}
_META_KEYS = ("model", "num_classes", "in_channels", "input_size", "classes", "mean", "std")
# the detectors whose checkpoints may predate `kind` (those written since say their kind): a fixed, historical
# list, so this module needs nothing from `dlbasic.detection`, which stands above training
PRE_KIND_DETECTORS = ("rcnn", "sppnet", "fast_rcnn", "faster_rcnn", "yolo_v1")


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by dlbasic; `UserError` for a missing, unreadable or unsafe file, model sizes in
    its metadata that are not integers within `dlbasic.models.registry.BOUNDS`, or weights that are not finite
    (a checkpoint is only written while they are)."""
    ckpt = read_tensors(path)
    check(isinstance(ckpt, dict) and "model" in ckpt, f"{path} is not a dlbasic checkpoint")
    meta = ckpt.get("meta")
    for field in ("num_classes", "in_channels", "input_size"):
        if isinstance(meta, dict) and meta.get(field) is not None:
            check_size(meta[field], field, f"{path}: metadata ")
    check_finite(ckpt["model"], path)
    return ckpt


def checkpoint_kind(ckpt: dict[str, Any]) -> str:
    """'classification', 'segmentation' or 'detection' ('unknown' when nothing tells).

    Checkpoints written before `kind` existed are recognized by their layout: detection ones hold a
    top-level `config` and no `meta`; segmentation ones name an FCN model (or `task: segmentation`).
    """
    meta = ckpt.get("meta")
    kind = ckpt.get("kind") or (meta.get("kind") if isinstance(meta, dict) else None)
    if kind:
        return str(kind)
    if not isinstance(meta, dict):
        return "detection" if isinstance(ckpt.get("config"), dict) else "unknown"
    if isinstance(meta.get("config"), dict) and meta["config"].get("model") in PRE_KIND_DETECTORS:
        return "detection"
    from dlbasic.models.fcn import SEGMENTATION_MODELS

    if meta.get("task") == "segmentation" or meta.get("model") in SEGMENTATION_MODELS:
        return "segmentation"
    return "classification"


def require_kind(ckpt: dict[str, Any], path: str | Path, kind: str, action: str = "eval") -> None:
    """Refuse, in one line naming the right command, a checkpoint of another kind than `kind`."""
    found = checkpoint_kind(ckpt)
    if found == kind:
        return
    if found in KIND_COMMANDS:
        raise UserError(f"{path} is a {found} checkpoint", f"use '{KIND_COMMANDS[found].format(action)}'")
    if found == "unknown":
        raise UserError(
            f"{path} has no metadata saying what it holds",
            f"use a checkpoint written by '{KIND_COMMANDS[kind].format('train')}'",
        )
    raise UserError(f"{path} is a checkpoint of kind {found!r}, not {kind}")


def check_meta(meta: Any, path: str | Path, writer: str) -> dict[str, Any]:
    """The metadata of a classification or segmentation checkpoint, refused in one line if incomplete."""
    check(isinstance(meta, dict), f"{path} has no metadata", f"use a best.pt written by {writer}")
    missing = [k for k in _META_KEYS if k not in meta]
    check(not missing, f"{path} lacks {', '.join(missing)} in its metadata", f"use a best.pt written by {writer}")

    def count(k: str) -> bool:
        return isinstance(meta[k], int) and not isinstance(meta[k], bool) and meta[k] > 0

    def stats(k: str) -> bool:  # finite per-channel numbers; a standard deviation must be positive
        values = meta[k]
        return (
            isinstance(values, list)
            and len(values) == meta["in_channels"]
            and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values)
            and (k != "std" or all(v > 0 for v in values))
        )

    ok = (
        isinstance(meta["model"], str)
        and all(count(k) for k in ("num_classes", "in_channels", "input_size"))
        and isinstance(meta["classes"], list)
        and all(isinstance(c, str) for c in meta["classes"])
        and len(meta["classes"]) == meta["num_classes"]
        and stats("mean")
        and stats("std")
        and isinstance(meta.get("model_options", {}), dict)
    )
    check(
        ok,
        f"{path} has inconsistent metadata (model, classes, channels or statistics)",
        f"use a best.pt written by {writer}",
    )
    return meta


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:300]


def build_from_meta(meta: dict[str, Any], path: str | Path) -> torch.nn.Module:
    """The model a checkpoint's metadata names (weights not loaded)."""
    try:
        return create_model(
            meta["model"],
            num_classes=meta["num_classes"],
            in_channels=meta["in_channels"],
            input_size=meta["input_size"],
            **meta.get("model_options", {}),
        )
    except (TypeError, ValueError) as e:
        raise UserError(f"{path}: cannot build model {meta['model']!r} from its metadata ({_one_line(e)})") from None


def load_model_state(model: torch.nn.Module, state: Any, path: str | Path, name: str) -> None:
    """`model.load_state_dict(state)`, refused in one line when the weights do not fit the model."""
    check(isinstance(state, dict), f"{path} holds no weights")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    other = [k for k in own if k in state and torch.is_tensor(state[k]) and state[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if other:
        k = other[0]
        problems.append(
            f"{len(other)} of another shape (e.g. {k}: {list(state[k].shape)} in the file, "
            f"{list(own[k].shape)} in the model)"
        )
    hint = "the file was not written for this model, or was changed"
    check(not problems, f"the weights in {path} do not fit model {name!r}: {', '.join(problems)}", hint)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError) as e:
        raise UserError(f"cannot load the weights in {path} into model {name!r} ({_one_line(e)})", hint) from None


__all__ = ["build_from_meta", "check_meta", "checkpoint_kind", "load_checkpoint", "load_model_state", "require_kind"]
