"""YOLO v1 (Redmon et al., "You Only Look Once: Unified, Real-Time Object Detection", CVPR 2016,
https://arxiv.org/abs/1506.02640).

One network pass: the image is divided into an S x S grid; each cell predicts B boxes
(x, y offsets of the centre within the cell, sqrt of width and height relative to the image, a
confidence) and one set of C class probabilities. The loss (equation 3) is a sum of squared errors:

    lambda_coord * sum_{i,j} 1obj_ij [(x - x^)^2 + (y - y^)^2 + (sqrt w - sqrt w^)^2 + (sqrt h - sqrt h^)^2]
  + sum_{i,j} 1obj_ij (C - IoU(pred, truth))^2 + lambda_noobj * sum_{i,j} 1noobj_ij C^2
  + sum_i 1obj_i sum_c (p(c) - p^(c))^2

with lambda_coord = 5, lambda_noobj = 0.5. A cell is responsible for the object whose centre falls
in it; of its B predictors, the one with the highest IoU with that object is "responsible" (1obj_ij),
all others are 1noobj. One object per cell (the paper's stated limitation): when two centres fall
in the same cell the larger object is kept. Test time: class-specific score = C * p(c), threshold,
NMS. Differences: a conv head on a stride-8 `SmallBackbone` (S = image size / 8) instead of 24
conv + 2 fc layers with S = 7; sigmoid on x, y, sqrt w, sqrt h, C and softmax on p(c) instead of
linear outputs (they keep every output in its range); the loss is divided by the batch size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dlbasic.detection.components.backbone import SmallBackbone, conv_bn_relu
from dlbasic.detection.ops.boxes import clip_boxes_to_image, remove_small_boxes
from dlbasic.detection.ops.nms import batched_nms


def encode_targets(
    targets: Sequence[dict[str, Tensor]], grid: int, image_size: tuple[int, int]
) -> tuple[Tensor, Tensor, Tensor]:
    """Ground truth on the grid.

    Returns:
        obj: bool Tensor[N, S, S], a centre falls in the cell; boxes: Tensor[N, S, S, 4]
        (x, y in the cell in [0, 1), w, h relative to the image); labels: int64 Tensor[N, S, S].
    """
    h, w = image_size
    n = len(targets)
    obj = torch.zeros(n, grid, grid, dtype=torch.bool)
    boxes = torch.zeros(n, grid, grid, 4)
    labels = torch.zeros(n, grid, grid, dtype=torch.long)
    for k, t in enumerate(targets):
        b = t["boxes"].float()
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        for idx in torch.argsort(area).tolist():  # smallest first, so the larger object of a cell wins
            x1, y1, x2, y2 = b[idx].tolist()
            cx, cy = (x1 + x2) / 2 / w * grid, (y1 + y2) / 2 / h * grid  # in cells
            i, j = min(int(cy), grid - 1), min(int(cx), grid - 1)
            obj[k, i, j] = True
            boxes[k, i, j] = torch.tensor([cx - j, cy - i, (x2 - x1) / w, (y2 - y1) / h])
            labels[k, i, j] = t["labels"][idx]
    return obj, boxes, labels


def cell_boxes_to_xyxy(boxes: Tensor, grid: int) -> Tensor:
    """(x, y in cell, w, h relative) Tensor[N, S, S, ..., 4] -> xyxy relative to the image, same shape."""
    rows = torch.arange(grid, dtype=boxes.dtype).view(1, grid, 1, *([1] * (boxes.dim() - 4)))
    cols = torch.arange(grid, dtype=boxes.dtype).view(1, 1, grid, *([1] * (boxes.dim() - 4)))
    cx, cy = (cols + boxes[..., 0]) / grid, (rows + boxes[..., 1]) / grid
    half_w, half_h = boxes[..., 2] / 2, boxes[..., 3] / 2
    return torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], -1)


def paired_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of corresponding xyxy boxes, Tensor[..., 4] x Tensor[..., 4] (broadcast) -> Tensor[...]."""
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / (area_a + area_b - inter).clamp(min=1e-12)


def yolo_v1_loss(
    pred: Tensor,
    targets: Sequence[dict[str, Tensor]],
    num_boxes: int,
    image_size: tuple[int, int],
    lambda_coord: float = 5.0,
    lambda_noobj: float = 0.5,
) -> dict[str, Tensor]:
    """The paper's loss (module docstring) on activated outputs.

    Args:
        pred: Tensor[N, S, S, 5B + C]: per predictor (x, y, sqrt w, sqrt h, confidence), then p(c).
        targets: per image `boxes` Tensor[K, 4] xyxy pixels, `labels` Tensor[K].

    Returns:
        {"loss_coord", "loss_obj", "loss_noobj", "loss_class"}, each summed over the batch / N.
    """
    n, s = pred.shape[:2]
    obj, gt, labels = encode_targets(targets, s, image_size)
    boxes = pred[..., : 5 * num_boxes].reshape(n, s, s, num_boxes, 5)
    probs = pred[..., 5 * num_boxes :]  # [N, S, S, C]
    pred_xywh = torch.cat([boxes[..., :2], boxes[..., 2:4] ** 2], -1)  # [N, S, S, B, 4]
    with torch.no_grad():
        iou = paired_iou(cell_boxes_to_xyxy(pred_xywh, s), cell_boxes_to_xyxy(gt[..., None, :], s))  # [N, S, S, B]
        best = iou.argmax(-1)  # [N, S, S]
        resp = torch.nn.functional.one_hot(best, num_boxes).bool() & obj[..., None]  # 1obj_ij [N, S, S, B]
    target_coords = torch.cat([gt[..., :2], gt[..., 2:].sqrt()], -1)[..., None, :].expand_as(boxes[..., :4])
    loss_coord = ((boxes[..., :4] - target_coords) ** 2).sum(-1)[resp].sum()
    conf = boxes[..., 4]
    loss_obj = ((conf - iou) ** 2)[resp].sum()
    loss_noobj = (conf**2)[~resp].sum()
    one_hot = torch.nn.functional.one_hot(labels, probs.shape[-1]).to(probs.dtype)
    loss_class = ((probs - one_hot) ** 2).sum(-1)[obj].sum()
    return {
        "loss_coord": lambda_coord * loss_coord / n,
        "loss_obj": loss_obj / n,
        "loss_noobj": lambda_noobj * loss_noobj / n,
        "loss_class": loss_class / n,
    }


class YOLOv1(nn.Module):
    """YOLO v1 on a stride-8 `SmallBackbone`: S = image side / 8, B boxes and C classes per cell.

    Args:
        num_classes: C.
        in_channels: image channels.
        num_boxes: B (paper: 2).
        score_thresh, nms_thresh, detections_per_img: post-processing.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        num_boxes: int = 2,
        widths: Sequence[int] = (16, 32, 64, 128),
        score_thresh: float = 0.01,
        nms_thresh: float = 0.5,
        detections_per_img: int = 100,
        lambda_coord: float = 5.0,
        lambda_noobj: float = 0.5,
    ):
        super().__init__()
        self.num_classes, self.num_boxes = num_classes, num_boxes
        self.backbone = SmallBackbone(in_channels, widths, downsamples=3)
        self.head = nn.Sequential(
            conv_bn_relu(self.backbone.out_channels, self.backbone.out_channels),
            nn.Conv2d(self.backbone.out_channels, 5 * num_boxes + num_classes, 1),
        )
        self.score_thresh, self.nms_thresh, self.detections_per_img = score_thresh, nms_thresh, detections_per_img
        self.lambda_coord, self.lambda_noobj = lambda_coord, lambda_noobj

    def predict_grid(self, images: Tensor) -> Tensor:
        """Tensor[N, C, H, W] -> activated outputs Tensor[N, S, S, 5B + C]."""
        raw = self.head(self.backbone(images)).permute(0, 2, 3, 1)  # [N, S, S, 5B + C]
        b = 5 * self.num_boxes
        return torch.cat([torch.sigmoid(raw[..., :b]), raw[..., b:].softmax(-1)], -1)

    def decode(self, pred: Tensor, image_size: tuple[int, int]) -> list[dict[str, Tensor]]:
        """Activated outputs -> detections per image: best class per box, score C * p(c), threshold, NMS."""
        n, s = pred.shape[:2]
        h, w = image_size
        boxes = pred[..., : 5 * self.num_boxes].reshape(n, s, s, self.num_boxes, 5)
        xyxy = cell_boxes_to_xyxy(torch.cat([boxes[..., :2], boxes[..., 2:4] ** 2], -1), s)
        xyxy = (xyxy * torch.tensor([w, h, w, h], dtype=xyxy.dtype)).reshape(n, -1, 4)  # [N, S*S*B, 4] pixels
        cls_prob, cls = pred[..., 5 * self.num_boxes :].max(-1)  # [N, S, S]
        scores = (boxes[..., 4] * cls_prob[..., None]).reshape(n, -1)
        labels = cls[..., None].expand(n, s, s, self.num_boxes).reshape(n, -1)
        out = []
        for bx, sc, lb in zip(xyxy, scores, labels):
            bx = clip_boxes_to_image(bx, image_size)
            keep = torch.nonzero(sc > self.score_thresh)[:, 0]
            keep = keep[remove_small_boxes(bx[keep], 1.0)]
            bx, sc, lb = bx[keep], sc[keep], lb[keep]
            keep = batched_nms(bx, sc, lb, self.nms_thresh)[: self.detections_per_img]
            out.append({"boxes": bx[keep], "scores": sc[keep], "labels": lb[keep]})
        return out

    def forward(self, images: Tensor, targets: Sequence[dict[str, Tensor]] | None = None):
        """Losses (training) or detections per image (eval), from one pass of the network."""
        pred = self.predict_grid(images)
        image_size = tuple(images.shape[-2:])
        if self.training:
            if targets is None:
                raise ValueError("targets are needed in training mode")
            return yolo_v1_loss(pred, targets, self.num_boxes, image_size, self.lambda_coord, self.lambda_noobj)
        return self.decode(pred, image_size)
