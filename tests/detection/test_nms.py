"""nms and batched_nms against a slow, literal greedy reference (torchvision's test pattern), by both paths: the
compiled kernel (`_nms_kernel.py`) and the torch version it falls back to."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from dlbasic.detection.ops import _nms_kernel
from dlbasic.detection.ops.nms import batched_nms, nms

nms_module = importlib.import_module("dlbasic.detection.ops.nms")  # the package re-exports a function `nms`


@pytest.fixture(autouse=True, params=["kernel", "torch"])
def path(request, monkeypatch):
    """Every test runs twice: through the compiled kernel (skipped without a compiler) and the torch version."""
    if request.param == "kernel":
        if not _nms_kernel.available():
            pytest.skip("no C++ compiler here: no NMS kernel")
    else:
        monkeypatch.setattr(_nms_kernel, "keep_mask", lambda *args: None)
    return request.param


def iou_pair(a, b) -> np.float32:
    """IoU of two float32 boxes with the same IEEE operations, in the same order, as box_iou."""
    zero = np.float32(0)
    w = max(np.minimum(a[2], b[2]) - np.maximum(a[0], b[0]), zero)
    h = max(np.minimum(a[3], b[3]) - np.maximum(a[1], b[1]), zero)
    inter = w * h
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / (area_a + area_b - inter)


def reference_nms(boxes, scores, iou_threshold, classes=None):
    """The greedy definition, one pair at a time: visit by score (ties by index), keep unless suppressed."""
    rows = list(boxes.numpy().astype(np.float32))
    classes = None if classes is None else classes.tolist()
    order = sorted(range(len(boxes)), key=lambda i: (-float(scores[i]), i))
    keep = []
    for i in order:
        if all(
            (classes is not None and classes[i] != classes[k]) or not iou_pair(rows[i], rows[k]) > iou_threshold
            for k in keep
        ):
            keep.append(i)
    return torch.tensor(keep, dtype=torch.long)


def random_boxes(n, g, degenerate=True):
    xy = torch.rand(n, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 40], 1)
    if degenerate and n > 6:
        boxes[:3, 2] = boxes[:3, 0]  # zero width
        boxes[3:5, 2:] = boxes[3:5, :2] - 1  # inverted
        boxes[5] = boxes[6]  # exact duplicate: IoU 1
    return boxes


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.9])
def test_nms_equals_greedy_reference(seed, threshold):
    g = torch.Generator().manual_seed(seed)
    n = 60 + 40 * seed
    boxes = random_boxes(n, g)
    scores = (torch.rand(n, generator=g) * 8).floor()  # many ties
    expected = reference_nms(boxes, scores, threshold)
    torch.testing.assert_close(nms(boxes, scores, threshold), expected, rtol=0, atol=0)


@pytest.mark.parametrize("seed", range(4))
def test_blocks_smaller_than_input(seed, monkeypatch):
    """The torch version's blocks (the kernel has none: it runs the same inputs)."""
    monkeypatch.setattr(nms_module, "BLOCK", 7)  # many blocks, suppression across block borders
    g = torch.Generator().manual_seed(seed)
    boxes = random_boxes(150, g)
    scores = torch.rand(150, generator=g)
    classes = torch.randint(0, 3, (150,), generator=g)
    torch.testing.assert_close(nms(boxes, scores, 0.4), reference_nms(boxes, scores, 0.4), rtol=0, atol=0)
    torch.testing.assert_close(
        batched_nms(boxes, scores, classes, 0.4), reference_nms(boxes, scores, 0.4, classes), rtol=0, atol=0
    )


@pytest.mark.parametrize("seed", range(6))
def test_batched_nms_equals_per_class_reference(seed):
    g = torch.Generator().manual_seed(100 + seed)
    n = 300
    boxes = random_boxes(n, g)
    scores = (torch.rand(n, generator=g) * 10).floor()
    classes = torch.randint(0, 4, (n,), generator=g)
    expected = reference_nms(boxes, scores, 0.5, classes)
    torch.testing.assert_close(batched_nms(boxes, scores, classes, 0.5), expected, rtol=0, atol=0)
    # the same classes in one class-agnostic call keep fewer boxes
    assert len(nms(boxes, scores, 0.5)) < len(expected)


def test_known_output_and_edge_cases():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 5.0]])
    scores = torch.tensor([0.5, 0.5, 0.9])
    # visit 2 (0.9), then 0 (IoU 0.5 with box 2: kept at threshold 0.5), then 1 (duplicate of 0)
    assert nms(boxes, scores, 0.5).tolist() == [2, 0]
    assert nms(boxes, scores, 0.49).tolist() == [2]
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).dtype == torch.long
    with pytest.raises(ValueError):
        nms(boxes, scores[:2], 0.5)
    with pytest.raises(ValueError):
        nms(boxes, scores, -0.1)
