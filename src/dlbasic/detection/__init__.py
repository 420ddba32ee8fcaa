"""Detection toolkit: box ops, NMS, box coder, anchors, matching, RoI pooling, proposals, mAP, datasets.

Layered as torchvision layers it, one folder per floor: `ops` (parameter-free tensor ops: `boxes`, `nms`,
`box_coder`, `anchors`; RoI pooling in `dlbasic.nn.pooling`), then `components` (one-job parts: `Matcher`,
`BalancedPositiveNegativeSampler`, `selective_search`, the RPN, the RoI heads, the backbones), then `models`
(the detectors `RCNN`, `sppnet`, `fast_rcnn`, `FasterRCNN`, `YOLOv1` and their registry, `build_detector`).
`data` reads VOC, COCO, YOLO and scenes and picks the images a run trains and tests on; `metrics` is mAP;
`config`, `task` and `train` run a detector on the Trainer.

The names below are imported when first used, so `import dlbasic.detection` (and the CLI's help) needs no torch.
"""

from __future__ import annotations

from dlbasic.lazy import lazy_names

# public name -> the module that defines it
_HOMES = {
    "AnchorGenerator": "dlbasic.detection.ops.anchors",
    "BoxCoder": "dlbasic.detection.ops.box_coder",
    **dict.fromkeys(
        (
            "box_area",
            "box_convert",
            "box_iou",
            "clip_boxes_to_image",
            "generalized_box_iou",
            "remove_small_boxes",
        ),
        "dlbasic.detection.ops.boxes",
    ),
    **dict.fromkeys(("batched_nms", "nms"), "dlbasic.detection.ops.nms"),
    **dict.fromkeys(("BalancedPositiveNegativeSampler", "Matcher"), "dlbasic.detection.components.matcher"),
    "selective_search": "dlbasic.detection.components.proposals",
    **dict.fromkeys(("ProposalDetector", "fast_rcnn"), "dlbasic.detection.models.fast_rcnn"),
    **dict.fromkeys(("FasterRCNN", "faster_rcnn"), "dlbasic.detection.models.faster_rcnn"),
    "RCNN": "dlbasic.detection.models.rcnn",
    "sppnet": "dlbasic.detection.models.sppnet",
    **dict.fromkeys(("YOLOv1", "yolo_v1_loss"), "dlbasic.detection.models.yolo_v1"),
    **dict.fromkeys(("DETECTORS", "build_detector"), "dlbasic.detection.models.registry"),
    "DetectionConfig": "dlbasic.detection.config",
    "evaluate_detections": "dlbasic.detection.metrics",
    **dict.fromkeys(("load_detector", "train_detector"), "dlbasic.detection.train"),
    **dict.fromkeys(("SpatialPyramidPooling", "roi_align", "roi_pool"), "dlbasic.nn.pooling"),
}

__all__ = sorted(_HOMES)


__getattr__, __dir__ = lazy_names(__name__, _HOMES)
