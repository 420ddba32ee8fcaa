"""The detector registry: names in the lecture's order with their learning rates, known without torch; unknown
names refused with the closest ones."""

import subprocess
import sys

import pytest

from dlbasic.detection import DETECTORS as PUBLIC
from dlbasic.detection.config import DetectionConfig
from dlbasic.detection.models.registry import DEFAULT_LR, DETECTORS, build_detector, detectors
from dlbasic.errors import UserError


def test_detectors_are_listed_in_the_lectures_order_with_their_learning_rates():
    assert DETECTORS == ("rcnn", "sppnet", "fast_rcnn", "faster_rcnn", "yolo_v1") and PUBLIC is DETECTORS
    assert {name: detectors.get(name).lr for name in DETECTORS} == DEFAULT_LR
    assert list(DEFAULT_LR) == list(DETECTORS) and all(lr > 0 for lr in DEFAULT_LR.values())


def test_an_unknown_detector_is_refused_with_the_closest_names():
    with pytest.raises(UserError, match="unknown detector 'faster_rnn'") as e:
        build_detector("faster_rnn", 2)
    assert "did you mean 'faster_rcnn'" in e.value.hint
    with pytest.raises(UserError, match="unknown detector 'yolo'"):
        DetectionConfig(model="yolo").validate()


def test_names_learning_rates_and_the_config_need_no_torch():
    code = (
        "import sys\n"
        "from dlbasic.detection.config import DetectionConfig\n"
        "from dlbasic.detection.models.registry import DEFAULT_LR\n"
        "DetectionConfig().validate()\n"
        "print('torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stdout + proc.stderr
