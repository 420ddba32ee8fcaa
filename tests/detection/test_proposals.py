"""Selective search finds solid objects on a textured background, within its box budget."""

from __future__ import annotations

import pytest
import torch

from dlbasic.detection.components.proposals import selective_search
from dlbasic.detection.ops.boxes import box_iou

OBJECTS = torch.tensor([[15.0, 10.0, 45.0, 40.0], [55.0, 45.0, 95.0, 75.0]])


def scene() -> torch.Tensor:
    image = torch.full((3, 80, 100), 0.3)
    image[:, 10:40, 15:45] = torch.tensor([0.9, 0.1, 0.1])[:, None, None]
    image[:, 45:75, 55:95] = torch.tensor([0.1, 0.2, 0.9])[:, None, None]
    noise = torch.rand(image.shape, generator=torch.Generator().manual_seed(0)) * 0.1
    return (image + noise).clamp(0, 1)


@pytest.mark.parametrize("mode", ["single", "fast"])
def test_recovers_objects(mode):
    boxes = selective_search(scene(), mode)
    assert boxes.dtype == torch.float32 and boxes.shape[1] == 4
    assert box_iou(OBJECTS, boxes).max(1).values.min() > 0.9
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 100).all() and (boxes[:, 3] <= 80).all()
    assert len(torch.unique(boxes, dim=0)) == len(boxes)  # no duplicates
    assert [0.0, 0.0, 100.0, 80.0] in boxes.tolist()  # the last merge covers the image


def test_budget_seed_and_errors():
    image = scene()
    few = selective_search(image, "fast", max_boxes=5)
    assert len(few) == 5
    torch.testing.assert_close(selective_search(image, "fast", max_boxes=5), few)
    large = selective_search(image, "single", min_size=20)
    assert ((large[:, 2:] - large[:, :2]) >= 20).all()
    gray = selective_search(image.mean(0, keepdim=True), "single")
    assert len(gray) > 0
    with pytest.raises(ValueError, match="unknown selective search mode"):
        selective_search(image, "best")
