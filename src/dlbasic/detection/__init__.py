"""Detection toolkit: box ops, NMS, box coder, anchors, matching, RoI pooling, proposals, mAP, datasets.

Layered as torchvision layers it: parameter-free ops (`boxes`, `nms`, RoI pooling in
`dlbasic.nn.pooling`), then one-job components (`BoxCoder`, `AnchorGenerator`, `Matcher`,
`BalancedPositiveNegativeSampler`, `selective_search`), then metrics and dataset formats.
"""

from dlbasic.detection.anchors import AnchorGenerator
from dlbasic.detection.box_coder import BoxCoder
from dlbasic.detection.boxes import (
    box_area,
    box_convert,
    box_iou,
    clip_boxes_to_image,
    generalized_box_iou,
    remove_small_boxes,
)
from dlbasic.detection.matcher import BalancedPositiveNegativeSampler, Matcher
from dlbasic.detection.metrics import evaluate_detections
from dlbasic.detection.nms import batched_nms, nms
from dlbasic.detection.proposals import selective_search
from dlbasic.nn.pooling import SpatialPyramidPooling, roi_align, roi_pool

__all__ = [
    "AnchorGenerator",
    "BalancedPositiveNegativeSampler",
    "BoxCoder",
    "Matcher",
    "SpatialPyramidPooling",
    "batched_nms",
    "box_area",
    "box_convert",
    "box_iou",
    "clip_boxes_to_image",
    "evaluate_detections",
    "generalized_box_iou",
    "nms",
    "remove_small_boxes",
    "roi_align",
    "roi_pool",
    "selective_search",
]
