from dlbasic.studies import CONTRADICTED, INCONCLUSIVE, SUPPORTED

_MAP = {"rcnn": 0.5, "sppnet": 0.4, "fast_rcnn": 0.4, "faster_rcnn": 0.3, "yolo_v1": 0.2}
_TOTAL = {"rcnn": [0.30, 0.31, 0.29], "sppnet": [0.10, 0.11, 0.10], "fast_rcnn": [0.10, 0.10, 0.11],
          "faster_rcnn": [0.02, 0.021, 0.02], "yolo_v1": [0.005, 0.006, 0.005]}
_NETWORK = {"rcnn": [0.020, 0.021, 0.020], "sppnet": [0.004, 0.004, 0.005], "fast_rcnn": [0.004, 0.005, 0.004],
            "faster_rcnn": [0.02, 0.021, 0.02], "yolo_v1": [0.005, 0.006, 0.005]}


def _numbers(total=_TOTAL, network=_NETWORK):
    return {"seconds_per_image": total, "network_seconds_per_image": network, "map": _MAP, "map_50": _MAP,
            "train_images": 96, "test_images": 24, "timed_images": 8}


FAKES = {
    "detection-speed": [
        (_numbers(), SUPPORTED),
        # R-CNN's total time no slower (search dominates) is not what decides R-CNN vs SPP-net: network time does
        (_numbers(total={**_TOTAL, "rcnn": [0.10, 0.11, 0.10]}), SUPPORTED),
        (_numbers(network={**_NETWORK, "rcnn": [0.002, 0.002, 0.002]}), CONTRADICTED),
        (_numbers(network={**_NETWORK, "rcnn": [0.004, 0.006, 0.003]}), INCONCLUSIVE),
        (_numbers(total={**_TOTAL, "yolo_v1": [0.05, 0.05, 0.05]}), CONTRADICTED),
    ],
}
