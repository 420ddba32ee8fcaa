"""Semantic segmentation: metrics, convolutionalization, FCN-32s/16s/8s, data, the Trainer's task, the run's
defaults (`config`) and the run itself (`train`).

The names below are imported when first used, so `dlbasic.segmentation.config` (and the CLI's help) needs no torch.

>>> from dlbasic.segmentation import confusion_matrix, mean_iou
>>> import torch
>>> mean_iou(confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), 2))
0.5
"""

from __future__ import annotations

from dlbasic.lazy import lazy_names

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


__getattr__, __dir__ = lazy_names(__name__, _HOMES)
