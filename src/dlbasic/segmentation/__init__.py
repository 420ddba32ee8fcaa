"""Semantic segmentation: metrics, convolutionalization, FCN-32s/16s/8s, data, the Trainer's task, the run's
defaults (`config`) and the run itself (`train`).

The names below are imported when first used, so `dlbasic.segmentation.config` (and the CLI's help) needs no torch.

>>> from dlbasic.segmentation import confusion_matrix, mean_iou
>>> import torch
>>> mean_iou(confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), 2))
0.5
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> the module that defines it
_HOMES = {
    **dict.fromkeys(
        ("FCN", "SEGMENTATION_MODELS", "bilinear_kernel", "bilinear_upsampler", "fcn"), "dlbasic.models.fcn"
    ),
    **dict.fromkeys(("as_layers", "convolutionalize"), "dlbasic.segmentation.convolutionalization"),
    "load_segmentation": "dlbasic.segmentation.data",
    **dict.fromkeys(
        ("IGNORE_INDEX", "confusion_matrix", "iou_per_class", "mean_iou", "pixel_accuracy", "scores"),
        "dlbasic.segmentation.metrics",
    ),
    **dict.fromkeys(("overlay_figure", "save_overlays"), "dlbasic.segmentation.overlay"),
    **dict.fromkeys(("SegmentationTask", "predict_masks"), "dlbasic.segmentation.task"),
    **dict.fromkeys(("SEGMENTATION_DEFAULTS", "segmentation_config"), "dlbasic.segmentation.config"),
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
