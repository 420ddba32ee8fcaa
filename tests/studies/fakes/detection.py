"""Fake measurements for the detection-speed study: MACs per test image, proposals, average recall."""

from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED

N = 6  # test images
_CONV = {"rcnn": 4.9e9, "sppnet": 1.0e7, "fast_rcnn": 1.0e7, "faster_rcnn": 1.95e7, "yolo_v1": 2.4e7}
_TOTAL = {"rcnn": 5.2e9, "sppnet": 8.6e8, "fast_rcnn": 6.9e8, "faster_rcnn": 3.7e7, "yolo_v1": 2.4e7}
_TRAINED = [0.30, 0.25, 0.20, 0.35, 0.28, 0.22]
_UNTRAINED = [0.05, 0.02, 0.04, 0.03, 0.06, 0.01]


def _numbers(conv=None, total=None, trained=_TRAINED, untrained=_UNTRAINED):
    conv, total = {**_CONV, **(conv or {})}, {**_TOTAL, **(total or {})}
    return {
        "regions": 2000,
        "macs": {
            "conv": {d: [v] * N for d, v in conv.items()},
            "total": {d: [v] * N for d, v in total.items()},
            "cnn_runs": {d: [2000 if d == "rcnn" else 1] * N for d in conv},
        },
        "proposals": {"selective_search": [8, 12, 5, 20, 9, 11], "rpn": [50] * N},
        "average_recall": {
            "rpn_trained": list(trained),
            "rpn_untrained": list(untrained),
            "selective_search": [0.4] * N,
        },
        "seconds_per_image": {d: 0.01 for d in conv},
    }


FAKES = {
    "detection-speed": [
        (_numbers(), SUPPORTED),
        # YOLO needs more work than Faster R-CNN
        (_numbers(total={"yolo_v1": 6e7}), CONTRADICTED),
        # R-CNN's CNN no costlier than Fast R-CNN's (it ran on a handful of regions)
        (_numbers(conv={"rcnn": 5e6}), CONTRADICTED),
        # YOLO and Faster R-CNN within the margin
        (_numbers(total={"yolo_v1": 3.4e7}), INCONCLUSIVE),
        # the proposal network did not learn visibly
        (_numbers(trained=[0.05, 0.03, 0.04, 0.02, 0.07, 0.02]), INCONCLUSIVE),
    ],
}
