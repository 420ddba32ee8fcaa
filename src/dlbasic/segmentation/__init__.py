"""Semantic segmentation: metrics, convolutionalization, FCN-32s/16s/8s, data, the Trainer's task.

>>> from dlbasic.segmentation import confusion_matrix, mean_iou
>>> import torch
>>> mean_iou(confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), 2))
0.5
"""

from dlbasic.models.fcn import FCN, SEGMENTATION_MODELS, bilinear_kernel, bilinear_upsampler, fcn
from dlbasic.segmentation.convolutionalize import as_layers, convolutionalize
from dlbasic.segmentation.data import load_segmentation
from dlbasic.segmentation.metrics import IGNORE_INDEX, confusion_matrix, iou_per_class, mean_iou, pixel_accuracy, scores
from dlbasic.segmentation.overlay import overlay_figure, save_overlays
from dlbasic.segmentation.task import SegmentationTask, predict_masks

__all__ = [
    "FCN",
    "IGNORE_INDEX",
    "SEGMENTATION_MODELS",
    "SegmentationTask",
    "as_layers",
    "bilinear_kernel",
    "bilinear_upsampler",
    "confusion_matrix",
    "convolutionalize",
    "fcn",
    "iou_per_class",
    "load_segmentation",
    "mean_iou",
    "overlay_figure",
    "pixel_accuracy",
    "predict_masks",
    "save_overlays",
    "scores",
]
