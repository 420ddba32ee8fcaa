"""Box operations: format conversion, area, pairwise IoU and GIoU, clipping, small-box removal.

Boxes are `Tensor[N, 4]`; the default format is xyxy in pixels, `(x1, y1, x2, y2)` with
`x1 <= x2` and `y1 <= y2`. The other formats are xywh `(x, y, width, height)` (COCO) and
cxcywh `(centre x, centre y, width, height)` (YOLO, DETR).

References: torchvision.ops.boxes (the function names and contracts follow it);
Rezatofighi et al., "Generalized Intersection over Union", CVPR 2019, https://arxiv.org/abs/1902.09630.
"""

from __future__ import annotations

import torch
from torch import Tensor

FORMATS = ("xyxy", "xywh", "cxcywh")


def box_convert(boxes: Tensor, in_fmt: str, out_fmt: str) -> Tensor:
    """Convert boxes between the xyxy, xywh and cxcywh formats.

    Args:
        boxes: Tensor[N, 4] in `in_fmt`.
        in_fmt: "xyxy", "xywh" or "cxcywh".
        out_fmt: one of the same.

    Returns:
        Tensor[N, 4] in `out_fmt`.

    >>> box_convert(torch.tensor([[10.0, 20.0, 30.0, 60.0]]), "xyxy", "cxcywh")
    tensor([[20., 40., 20., 40.]])
    >>> box_convert(torch.tensor([[10.0, 20.0, 20.0, 40.0]]), "xywh", "xyxy")
    tensor([[10., 20., 30., 60.]])
    """
    for fmt in (in_fmt, out_fmt):
        if fmt not in FORMATS:
            raise ValueError(f"unknown box format {fmt!r}; choices: {', '.join(FORMATS)}")
    if in_fmt == out_fmt:
        return boxes.clone()
    a, b, c, d = boxes.unbind(-1)
    if in_fmt == "xywh":
        a, b, c, d = a, b, a + c, b + d
    elif in_fmt == "cxcywh":
        a, b, c, d = a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d
    # now (a, b, c, d) is xyxy
    if out_fmt == "xywh":
        return torch.stack([a, b, c - a, d - b], dim=-1)
    if out_fmt == "cxcywh":
        return torch.stack([(a + c) / 2, (b + d) / 2, c - a, d - b], dim=-1)
    return torch.stack([a, b, c, d], dim=-1)


def box_area(boxes: Tensor) -> Tensor:
    """Area of xyxy boxes: Tensor[N, 4] -> Tensor[N] (negative for inverted boxes, as torchvision).

    >>> box_area(torch.tensor([[0.0, 0.0, 2.0, 3.0], [1.0, 1.0, 1.0, 5.0]]))
    tensor([6., 0.])
    """
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def pairwise_inter_union(boxes1: Tensor, boxes2: Tensor) -> tuple[Tensor, Tensor]:
    """Intersection and union areas of every pair: Tensor[N, 4], Tensor[M, 4] (xyxy) -> two Tensor[N, M].

    The arithmetic order (`inter = w * h`, `union = (a1 + a2) - inter`) is fixed: `nms` relies on
    every code path computing bit-identical IoUs.
    """
    area1, area2 = box_area(boxes1), box_area(boxes2)
    lt = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])  # [N, M, 2]
    rb = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])  # [N, M, 2]
    wh = (rb - lt).clamp(min=0)  # [N, M, 2]
    inter = wh[..., 0] * wh[..., 1]  # [N, M]
    union = area1[:, None] + area2[None, :] - inter
    return inter, union


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise intersection over union of xyxy boxes.

    Args:
        boxes1: Tensor[N, 4] xyxy.
        boxes2: Tensor[M, 4] xyxy.

    Returns:
        Tensor[N, M] of IoU values; a pair whose union is empty (two zero-area boxes) gets 0.

    >>> a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    >>> b = torch.tensor([[1.0, 0.0, 3.0, 2.0], [5.0, 5.0, 6.0, 6.0]])
    >>> box_iou(a, b)
    tensor([[0.3333, 0.0000]])
    """
    inter, union = pairwise_inter_union(boxes1, boxes2)
    iou = inter / union
    return torch.where(union > 0, iou, torch.zeros_like(iou))


def generalized_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise generalized IoU (Rezatofighi et al. 2019): IoU - (C - union) / C, C the enclosing box area.

    Args:
        boxes1: Tensor[N, 4] xyxy with x1 <= x2, y1 <= y2.
        boxes2: Tensor[M, 4] xyxy.

    Returns:
        Tensor[N, M] in [-1, 1].

    >>> generalized_box_iou(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[2.0, 0.0, 3.0, 1.0]]))
    tensor([[-0.3333]])
    """
    inter, union = pairwise_inter_union(boxes1, boxes2)
    iou = inter / union
    lt = torch.minimum(boxes1[:, None, :2], boxes2[None, :, :2])  # [N, M, 2]
    rb = torch.maximum(boxes1[:, None, 2:], boxes2[None, :, 2:])  # [N, M, 2]
    wh = (rb - lt).clamp(min=0)
    enclosing = wh[..., 0] * wh[..., 1]  # [N, M]
    return iou - (enclosing - union) / enclosing


def clip_boxes_to_image(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """Clip xyxy boxes (Tensor[N, 4]) to an image of `size = (height, width)`.

    >>> clip_boxes_to_image(torch.tensor([[-5.0, 2.0, 40.0, 50.0]]), (30, 20))
    tensor([[ 0.,  2., 20., 30.]])
    """
    height, width = size
    x = boxes[..., 0::2].clamp(min=0, max=width)
    y = boxes[..., 1::2].clamp(min=0, max=height)
    return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], dim=-1)


def remove_small_boxes(boxes: Tensor, min_size: float) -> Tensor:
    """Indices of xyxy boxes (Tensor[N, 4]) whose width and height are both >= min_size: Tensor[K] int64.

    >>> remove_small_boxes(torch.tensor([[0.0, 0.0, 5.0, 5.0], [0.0, 0.0, 1.0, 9.0]]), 2.0)
    tensor([0])
    """
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return torch.where((w >= min_size) & (h >= min_size))[0]
