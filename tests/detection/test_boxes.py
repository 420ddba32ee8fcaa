"""Box conversions, areas, IoU/GIoU against literal formulas, clipping and small-box removal."""

from __future__ import annotations

import itertools

import pytest
import torch

from dlbasic.detection.ops.boxes import (
    box_area,
    box_convert,
    box_iou,
    clip_boxes_to_image,
    generalized_box_iou,
    remove_small_boxes,
)


def rand_boxes(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 50
    return torch.cat([xy, xy + 1 + torch.rand(n, 2, generator=g) * 30], 1).double()


@pytest.mark.parametrize(("a", "b"), list(itertools.permutations(["xyxy", "xywh", "cxcywh"], 2)))
def test_convert_round_trip(a, b):
    boxes = box_convert(rand_boxes(20), "xyxy", a)
    torch.testing.assert_close(box_convert(box_convert(boxes, a, b), b, a), boxes)


def test_convert_values_and_errors():
    xyxy = torch.tensor([[1.0, 2.0, 5.0, 10.0]])
    assert box_convert(xyxy, "xyxy", "xywh").tolist() == [[1.0, 2.0, 4.0, 8.0]]
    assert box_convert(xyxy, "xyxy", "cxcywh").tolist() == [[3.0, 6.0, 4.0, 8.0]]
    with pytest.raises(ValueError, match="unknown box format"):
        box_convert(xyxy, "xyxy", "yolo")


def test_iou_and_giou_match_literal_formulas():
    b1, b2 = rand_boxes(7, 1), rand_boxes(9, 2)
    iou, giou = box_iou(b1, b2), generalized_box_iou(b1, b2)
    for i in range(7):
        for j in range(9):
            (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = b1[i].tolist(), b2[j].tolist()
            inter = max(0, min(ax2, bx2) - max(ax1, bx1)) * max(0, min(ay2, by2) - max(ay1, by1))
            union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
            hull = (max(ax2, bx2) - min(ax1, bx1)) * (max(ay2, by2) - min(ay1, by1))
            assert iou[i, j].item() == pytest.approx(inter / union, abs=1e-12)
            assert giou[i, j].item() == pytest.approx(inter / union - (hull - union) / hull, abs=1e-12)
    assert torch.allclose(box_iou(b1, b1).diagonal(), torch.ones(7, dtype=torch.float64))
    assert box_iou(torch.zeros(2, 4), torch.zeros(3, 4)).eq(0).all()  # empty unions give 0, not nan


def test_area_clip_remove_small():
    boxes = torch.tensor([[-5.0, -5.0, 5.0, 5.0], [90.0, 10.0, 130.0, 12.0], [1.0, 1.0, 1.5, 40.0]])
    assert box_area(boxes).tolist() == [100.0, 80.0, 19.5]
    assert clip_boxes_to_image(boxes, (20, 100)).tolist() == [
        [0.0, 0.0, 5.0, 5.0],
        [90.0, 10.0, 100.0, 12.0],
        [1.0, 1.0, 1.5, 20.0],
    ]
    assert remove_small_boxes(boxes, 2.0).tolist() == [0, 1]
