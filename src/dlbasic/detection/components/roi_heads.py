"""The second stage of SPPNet, Fast R-CNN and Faster R-CNN: pool each region, classify it, refine its box.

Fast R-CNN (Girshick, ICCV 2015, https://arxiv.org/abs/1504.08083): every region of interest is
max-pooled to a fixed grid of the shared feature map (`roi_pool`; SPP-net, He et al. 2014,
https://arxiv.org/abs/1406.4729, pools a 1x1 + 2x2 + 4x4 pyramid instead), two fc layers follow,
then a softmax over K + 1 classes (0 = background) and per-class box deltas (the R-CNN box coder,
weights (10, 10, 5, 5) as in torchvision). Training samples 25 % foreground (IoU >= 0.5 with a
ground truth) of the regions, adds the ground-truth boxes to the proposals, and minimizes the
multi-task loss L = L_cls(p, u) + [u >= 1] L_loc(t^u, v) with smooth L1 for L_loc (beta = 1, as in
the paper), averaged over the sampled regions. Inference: softmax, decode each class's box, clip,
drop scores below a threshold, class-wise NMS, keep the best `detections_per_img`.

Labels: the dataset's classes 0..K-1 are 1..K inside the head and 0..K-1 again in the detections.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlbasic.detection.components.matcher import BalancedPositiveNegativeSampler, Matcher
from dlbasic.detection.ops.box_coder import BoxCoder
from dlbasic.detection.ops.boxes import box_iou, clip_boxes_to_image, remove_small_boxes
from dlbasic.detection.ops.nms import batched_nms
from dlbasic.nn.pooling import SpatialPyramidPooling, roi_align, roi_pool


class RoIPooler(nn.Module):
    """Regions of a feature map -> flat vectors, by RoI max pooling, RoI Align or a spatial pyramid.

    Args:
        mode: "pool" (Fast R-CNN), "align" (Mask R-CNN) or "spp" (SPP-net, `levels` bins per side).
        output_size: bins per side for "pool" and "align".
        spatial_scale: feature cells per image pixel (1 / backbone stride).
        levels: pyramid levels for "spp".
    """

    def __init__(
        self, mode: str = "pool", output_size: int = 4, spatial_scale: float = 0.25, levels: Sequence[int] = (1, 2, 4)
    ):
        super().__init__()
        if mode not in ("pool", "align", "spp"):
            raise ValueError(f"unknown pooling mode {mode!r}; choices: pool, align, spp")
        self.mode, self.output_size, self.spatial_scale = mode, output_size, spatial_scale
        self.spp = SpatialPyramidPooling(levels) if mode == "spp" else None

    def out_features(self, channels: int) -> int:
        """The length D of each region's pooled vector for C = `channels` feature channels: C * sum(l * l) for
        "spp", else C * output_size^2."""
        return self.spp.output_size(channels) if self.spp is not None else channels * self.output_size**2

    def forward(self, features: Tensor, rois: Sequence[Tensor]) -> Tensor:
        """features: Tensor[N, C, h, w]; rois: one Tensor[L_i, 4] xyxy per image -> Tensor[sum L_i, D]."""
        if self.spp is not None:
            return self.spp(features, list(rois), self.spatial_scale)
        if self.mode == "align":
            return roi_align(features, list(rois), self.output_size, self.spatial_scale, 2, aligned=True).flatten(1)
        return roi_pool(features, list(rois), self.output_size, self.spatial_scale).flatten(1)


class BoxHead(nn.Module):
    """Two fc layers, then class logits Tensor[K, C+1] and per-class deltas Tensor[K, 4 (C+1)]."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = 256):
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, hidden), nn.ReLU(inplace=True)
        )
        self.cls_score = nn.Linear(hidden, num_classes + 1)
        self.bbox_pred = nn.Linear(hidden, 4 * (num_classes + 1))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Class logits and box deltas of pooled regions.

        Args:
            x: pooled region features Tensor[K, in_features].

        Returns:
            (logits Tensor[K, C+1], per-class deltas Tensor[K, 4 (C+1)]); class 0 is the background.
        """
        h = self.fc(x)
        return self.cls_score(h), self.bbox_pred(h)


def fastrcnn_loss(
    class_logits: Tensor, box_regression: Tensor, labels: Tensor, regression_targets: Tensor
) -> tuple[Tensor, Tensor]:
    """Fast R-CNN's multi-task loss over sampled regions.

    Args:
        class_logits: Tensor[K, C+1].
        box_regression: Tensor[K, 4 (C+1)] deltas per class.
        labels: Tensor[K] int64, 0 = background.
        regression_targets: Tensor[K, 4] encoded deltas to each region's ground truth.

    Returns:
        (cross-entropy, smooth L1 of the true class's deltas on foreground regions, summed over the
        4 coordinates and divided by K).
    """
    loss_cls = F.cross_entropy(class_logits, labels)
    pos = torch.nonzero(labels > 0)[:, 0]
    deltas = box_regression.reshape(len(labels), -1, 4)[pos, labels[pos]]  # [P, 4]
    loss_box = F.smooth_l1_loss(deltas, regression_targets[pos], beta=1.0, reduction="sum") / max(1, len(labels))
    return loss_cls, loss_box


class RoIHeads(nn.Module):
    """Target assignment, sampling, pooling, the box head, the loss and post-processing.

    Args:
        pooler: `RoIPooler` (any module mapping (features, rois) to Tensor[K, D]).
        head: module mapping Tensor[K, D] to (class logits, per-class deltas), e.g. `BoxHead`.
        fg_iou_thresh, bg_iou_thresh: a region is foreground at IoU >= fg, background below bg.
        batch_size_per_image, positive_fraction: the sampler (Fast R-CNN: 64 of 128 per image, 25 %).
        score_thresh, nms_thresh, detections_per_img: post-processing.
        generator: randomness of the sampler.
    """

    def __init__(
        self,
        pooler: nn.Module,
        head: nn.Module,
        fg_iou_thresh: float = 0.5,
        bg_iou_thresh: float = 0.5,
        batch_size_per_image: int = 64,
        positive_fraction: float = 0.25,
        score_thresh: float = 0.05,
        nms_thresh: float = 0.5,
        detections_per_img: int = 100,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.pooler, self.head = pooler, head
        self.matcher = Matcher(fg_iou_thresh, bg_iou_thresh, allow_low_quality_matches=False)
        self.sampler = BalancedPositiveNegativeSampler(batch_size_per_image, positive_fraction, generator)
        self.box_coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
        self.score_thresh, self.nms_thresh, self.detections_per_img = score_thresh, nms_thresh, detections_per_img

    def assign_targets(
        self, proposals: Sequence[Tensor], targets: Sequence[dict[str, Tensor]]
    ) -> tuple[list[Tensor], list[Tensor]]:
        """Per image: labels Tensor[L] (1..C, 0 background, -1 ignored) and matched gt boxes Tensor[L, 4]."""
        labels, matched = [], []
        for props, t in zip(proposals, targets):
            gt = t["boxes"].to(props.dtype)
            if len(gt) == 0:
                labels.append(torch.zeros(len(props), dtype=torch.long))
                matched.append(props.clone())  # no regression target; background only
                continue
            idx = self.matcher(box_iou(gt, props))
            lab = t["labels"][idx.clamp(min=0)] + 1
            lab[idx == Matcher.BELOW_LOW_THRESHOLD] = 0
            lab[idx == Matcher.BETWEEN_THRESHOLDS] = -1
            labels.append(lab)
            matched.append(gt[idx.clamp(min=0)])
        return labels, matched

    def select_training_samples(
        self, proposals: Sequence[Tensor], targets: Sequence[dict[str, Tensor]]
    ) -> tuple[list[Tensor], Tensor, Tensor]:
        """Add ground truth to the proposals, label them and sample: (rois per image, labels, deltas)."""
        proposals = [torch.cat([p, t["boxes"].to(p.dtype)]) for p, t in zip(proposals, targets)]
        labels, matched = self.assign_targets(proposals, targets)
        pos, neg = self.sampler(labels)
        rois, out_labels, out_matched = [], [], []
        for p, lab, m, ps, ng in zip(proposals, labels, matched, pos, neg):
            keep = torch.nonzero(ps | ng)[:, 0]
            rois.append(p[keep])
            out_labels.append(lab[keep])
            out_matched.append(m[keep])
        # one call for all images (element for element the values of one image at a time)
        return rois, torch.cat(out_labels), self.box_coder.encode(torch.cat(out_matched), torch.cat(rois))

    def postprocess(
        self, class_logits: Tensor, box_regression: Tensor, rois: Sequence[Tensor], image_size: tuple[int, int]
    ) -> list[dict[str, Tensor]]:
        """Scores and per-class boxes -> one dict per image with `boxes`, `scores`, `labels` (0-based)."""
        num_classes = class_logits.shape[1]
        scores_all = F.softmax(class_logits, -1)
        boxes_all = self.box_coder.decode(box_regression, torch.cat(list(rois))).reshape(-1, num_classes, 4)
        out = []
        for scores, boxes in zip(scores_all.split([len(r) for r in rois]), boxes_all.split([len(r) for r in rois])):
            boxes = clip_boxes_to_image(boxes, image_size)[:, 1:].reshape(-1, 4)  # drop background
            labels = torch.arange(num_classes - 1).repeat(len(scores))
            scores = scores[:, 1:].reshape(-1)
            keep = torch.nonzero(scores > self.score_thresh)[:, 0]
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = remove_small_boxes(boxes, 1.0)
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = batched_nms(boxes, scores, labels, self.nms_thresh)[: self.detections_per_img]
            out.append({"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]})
        return out

    def forward(
        self,
        features: Tensor,
        proposals: Sequence[Tensor],
        image_size: tuple[int, int],
        targets: Sequence[dict[str, Tensor]] | None = None,
    ) -> tuple[list[dict[str, Tensor]], dict[str, Tensor]]:
        """Returns (detections, {}) in eval mode and ([], {"loss_classifier", "loss_box_reg"}) in training."""
        if self.training:
            if targets is None:
                raise ValueError("targets are needed in training mode")
            rois, labels, reg_targets = self.select_training_samples(proposals, targets)
            class_logits, box_regression = self.head(self.pooler(features, rois))
            loss_cls, loss_box = fastrcnn_loss(class_logits, box_regression, labels, reg_targets)
            return [], {"loss_classifier": loss_cls, "loss_box_reg": loss_box}
        class_logits, box_regression = self.head(self.pooler(features, proposals))
        return self.postprocess(class_logits, box_regression, proposals, image_size), {}
