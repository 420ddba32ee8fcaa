from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED

_MAP = {"rcnn": 0.5, "sppnet": 0.4, "fast_rcnn": 0.4, "faster_rcnn": 0.3, "yolo_v1": 0.2}


def _numbers(seconds):
    return {"seconds_per_image": seconds, "map": _MAP, "map_50": _MAP, "train_images": 96, "test_images": 24,
            "timed_images": 8}


FAKES = {
    "detection-speed": [
        (_numbers({"rcnn": [0.30, 0.31, 0.29], "sppnet": [0.10, 0.11, 0.10], "fast_rcnn": [0.10, 0.10, 0.11],
                   "faster_rcnn": [0.02, 0.021, 0.02], "yolo_v1": [0.005, 0.006, 0.005]}), SUPPORTED),
        (_numbers({"rcnn": [0.08, 0.09, 0.08], "sppnet": [0.10, 0.11, 0.10], "fast_rcnn": [0.10, 0.10, 0.11],
                   "faster_rcnn": [0.02, 0.021, 0.02], "yolo_v1": [0.005, 0.006, 0.005]}), CONTRADICTED),
        (_numbers({"rcnn": [0.10, 0.13, 0.09], "sppnet": [0.10, 0.11, 0.10], "fast_rcnn": [0.10, 0.10, 0.11],
                   "faster_rcnn": [0.02, 0.021, 0.02], "yolo_v1": [0.005, 0.006, 0.005]}), INCONCLUSIVE),
    ],
}
