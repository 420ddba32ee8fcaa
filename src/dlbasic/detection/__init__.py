"""Detection toolkit: box ops, NMS, box coder, anchors, matching, RoI pooling, proposals, mAP, datasets.

Layered as torchvision layers it: parameter-free ops (`boxes`, `nms`, RoI pooling in
`dlbasic.nn.pooling`), then one-job components (`BoxCoder`, `AnchorGenerator`, `Matcher`,
`BalancedPositiveNegativeSampler`, `selective_search`), then metrics and dataset formats, then
the detectors assembled from them (`RCNN`, `sppnet`, `fast_rcnn`, `FasterRCNN`, `YOLOv1`), the images a run
trains and tests on (`dlbasic.detection.splits`) and their training loop (`dlbasic.detection.train`).
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
from dlbasic.detection.fast_rcnn import ProposalDetector, fast_rcnn
from dlbasic.detection.faster_rcnn import FasterRCNN, faster_rcnn
from dlbasic.detection.matcher import BalancedPositiveNegativeSampler, Matcher
from dlbasic.detection.metrics import evaluate_detections
from dlbasic.detection.nms import batched_nms, nms
from dlbasic.detection.proposals import selective_search
from dlbasic.detection.rcnn import RCNN
from dlbasic.detection.sppnet import sppnet
from dlbasic.detection.train import DETECTORS, DetectionConfig, build_detector, load_detector, train_detector
from dlbasic.detection.yolo_v1 import YOLOv1, yolo_v1_loss
from dlbasic.nn.pooling import SpatialPyramidPooling, roi_align, roi_pool

__all__ = [
    "DETECTORS",
    "RCNN",
    "AnchorGenerator",
    "BalancedPositiveNegativeSampler",
    "BoxCoder",
    "DetectionConfig",
    "FasterRCNN",
    "Matcher",
    "ProposalDetector",
    "SpatialPyramidPooling",
    "YOLOv1",
    "batched_nms",
    "box_area",
    "box_convert",
    "box_iou",
    "build_detector",
    "clip_boxes_to_image",
    "evaluate_detections",
    "fast_rcnn",
    "faster_rcnn",
    "generalized_box_iou",
    "load_detector",
    "nms",
    "remove_small_boxes",
    "roi_align",
    "roi_pool",
    "selective_search",
    "sppnet",
    "train_detector",
    "yolo_v1_loss",
]
