"""The detectors (`rcnn`, `sppnet`, `fast_rcnn`, `faster_rcnn`, `yolo_v1`), assembled from `detection.components`,
and their registry (`registry.build_detector`, `DETECTORS`, `DEFAULT_LR`)."""
