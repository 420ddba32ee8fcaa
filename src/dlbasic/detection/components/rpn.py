"""Region proposal network (Ren et al., "Faster R-CNN", NeurIPS 2015, https://arxiv.org/abs/1506.01497).

A 3x3 conv slides over the shared feature map; at each cell two 1x1 convs predict, for each of the
A anchors there, an objectness logit and (dx, dy, dw, dh) deltas. Training (section 3.1.2):
anchors with IoU >= 0.7 with a ground truth (or the best anchor of each ground truth) are
positive, IoU < 0.3 negative, others ignored; 256 anchors per image are sampled with at most half
positive; L = BCE(objectness) + smooth L1(deltas of positives), both averaged over the sampled
anchors (torchvision's normalization; the paper weights the box term by lambda = 10 over ~2400
anchor locations, about the same balance). Proposals: decode the deltas, keep the top
`pre_nms_top_n` by objectness, clip, drop tiny boxes, NMS at 0.7, keep `post_nms_top_n`. They are
detached: the "approximate joint training" of the paper (no gradient through box coordinates).
The structure (one method per step) follows torchvision's `RegionProposalNetwork`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlbasic.detection.components.matcher import BalancedPositiveNegativeSampler, Matcher
from dlbasic.detection.ops.anchors import AnchorGenerator
from dlbasic.detection.ops.box_coder import BoxCoder
from dlbasic.detection.ops.boxes import box_iou, clip_boxes_to_image, remove_small_boxes
from dlbasic.detection.ops.nms import nms


class RPNHead(nn.Module):
    """3x3 conv + ReLU, then objectness Tensor[N, A, h, w] and deltas Tensor[N, 4A, h, w]."""

    def __init__(self, in_channels: int, num_anchors: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.cls_logits = nn.Conv2d(in_channels, num_anchors, 1)
        self.bbox_pred = nn.Conv2d(in_channels, 4 * num_anchors, 1)
        for layer in (self.conv, self.cls_logits, self.bbox_pred):
            nn.init.normal_(layer.weight, std=0.01)  # as in the paper (zero-mean Gaussian, std 0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The objectness logits and box deltas of every anchor at every cell of a feature map.

        Args:
            x: feature map Tensor[N, C, h, w].

        Returns:
            (objectness Tensor[N, A, h, w], deltas Tensor[N, 4A, h, w], the 4 deltas of anchor a in channels
            4a to 4a + 3); `flatten_head` puts them in the anchors' order.
        """
        h = F.relu(self.conv(x))
        return self.cls_logits(h), self.bbox_pred(h)


def flatten_head(objectness: Tensor, deltas: Tensor) -> tuple[Tensor, Tensor]:
    """[N, A, h, w] and [N, 4A, h, w] -> [N, h*w*A] and [N, h*w*A, 4] in the anchors' order (cell, then anchor)."""
    n, a, h, w = objectness.shape
    obj = objectness.permute(0, 2, 3, 1).reshape(n, -1)
    d = deltas.reshape(n, a, 4, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, 4)
    return obj, d


class RegionProposalNetwork(nn.Module):
    """Anchors, objectness and deltas, target assignment and sampling, the loss and proposal filtering.

    Args:
        anchor_generator: `AnchorGenerator` with one level.
        head: `RPNHead`.
        fg_iou_thresh, bg_iou_thresh: anchor labelling thresholds (0.7, 0.3).
        batch_size_per_image, positive_fraction: anchor sampling (256, 0.5).
        pre_nms_top_n, post_nms_top_n: {"training": n, "testing": n} boxes kept before and after NMS.
        nms_thresh: proposal NMS IoU (0.7).
        generator: randomness of the sampler.
    """

    def __init__(
        self,
        anchor_generator: AnchorGenerator,
        head: RPNHead,
        fg_iou_thresh: float = 0.7,
        bg_iou_thresh: float = 0.3,
        batch_size_per_image: int = 256,
        positive_fraction: float = 0.5,
        pre_nms_top_n: dict[str, int] | None = None,
        post_nms_top_n: dict[str, int] | None = None,
        nms_thresh: float = 0.7,
        min_size: float = 1.0,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.anchor_generator, self.head = anchor_generator, head
        self.box_coder = BoxCoder((1.0, 1.0, 1.0, 1.0))
        self.matcher = Matcher(fg_iou_thresh, bg_iou_thresh, allow_low_quality_matches=True)
        self.sampler = BalancedPositiveNegativeSampler(batch_size_per_image, positive_fraction, generator)
        self.pre_nms_top_n = pre_nms_top_n or {"training": 600, "testing": 300}
        self.post_nms_top_n = post_nms_top_n or {"training": 150, "testing": 50}
        self.nms_thresh, self.min_size = nms_thresh, min_size

    def _mode(self) -> str:
        return "training" if self.training else "testing"

    def assign_targets_to_anchors(
        self, anchors: Tensor, targets: Sequence[dict[str, Tensor]]
    ) -> tuple[list[Tensor], list[Tensor]]:
        """Per image: labels Tensor[A] (1 object, 0 background, -1 ignored) and matched boxes Tensor[A, 4]."""
        labels, matched = [], []
        for t in targets:
            gt = t["boxes"].to(anchors.dtype)
            if len(gt) == 0:  # an image with no objects: every anchor is background
                labels.append(torch.zeros(len(anchors)))
                matched.append(torch.zeros_like(anchors))
                continue
            idx = self.matcher(box_iou(gt, anchors))
            lab = (idx >= 0).to(anchors.dtype)
            lab[idx == Matcher.BETWEEN_THRESHOLDS] = -1.0
            labels.append(lab)
            matched.append(gt[idx.clamp(min=0)])
        return labels, matched

    def compute_loss(
        self, objectness: Tensor, deltas: Tensor, labels: Sequence[Tensor], matched: Sequence[Tensor], anchors: Tensor
    ) -> tuple[Tensor, Tensor]:
        """objectness [N, A], deltas [N, A, 4] -> (objectness BCE, smooth L1 of positives), per sampled anchor."""
        pos, neg = self.sampler(labels)
        pos, neg = torch.stack(pos), torch.stack(neg)  # [N, A]
        sampled = pos | neg
        # the positives' targets only, in one call (element for element the values of encoding every anchor)
        targets = self.box_coder.encode(torch.stack(list(matched))[pos], anchors.expand(len(pos), -1, -1)[pos])
        count = max(1, int(sampled.sum()))
        loss_box = F.smooth_l1_loss(deltas[pos], targets, beta=1 / 9, reduction="sum") / count
        loss_obj = F.binary_cross_entropy_with_logits(objectness[sampled], torch.stack(list(labels))[sampled])
        return loss_obj, loss_box

    @torch.no_grad()
    def filter_proposals(
        self, objectness: Tensor, deltas: Tensor, anchors: Tensor, image_size: tuple[int, int]
    ) -> list[Tensor]:
        """Decode, top-k by objectness, clip, drop tiny boxes, NMS, top-k again: one Tensor[L, 4] per image."""
        objectness, deltas = objectness.detach(), deltas.detach()
        if len(objectness) == 0:
            return []
        n, k = objectness.shape[0], min(self.pre_nms_top_n[self._mode()], objectness.shape[1])
        top = torch.stack([obj.topk(k).indices for obj in objectness])  # [N, k]
        # every image's top-k decoded and clipped in one call (element for element as one image at a time)
        rows = torch.arange(n)[:, None].expand(n, k)
        decoded = self.box_coder.decode(deltas[rows, top].reshape(-1, 4), anchors[top].reshape(-1, 4))
        all_boxes = clip_boxes_to_image(decoded, image_size).reshape(n, k, 4)
        out = []
        for boxes, scores in zip(all_boxes, objectness.gather(1, top)):
            keep = remove_small_boxes(boxes, self.min_size)
            boxes, scores = boxes[keep], scores[keep]
            keep = nms(boxes, scores, self.nms_thresh)[: self.post_nms_top_n[self._mode()]]
            out.append(boxes[keep])
        return out

    def forward(
        self, images: Tensor, features: Tensor, targets: Sequence[dict[str, Tensor]] | None = None
    ) -> tuple[list[Tensor], dict[str, Tensor]]:
        """Proposals (one detached Tensor[L, 4] per image); in training also {"loss_objectness", "loss_rpn_box_reg"}."""
        image_size = tuple(images.shape[-2:])
        objectness, deltas = flatten_head(*self.head(features))  # [N, A], [N, A, 4]
        anchors = self.anchor_generator(image_size, [tuple(features.shape[-2:])])  # [A, 4]
        proposals = self.filter_proposals(objectness, deltas, anchors, image_size)
        losses = {}
        if self.training:
            if targets is None:
                raise ValueError("targets are needed in training mode")
            labels, matched = self.assign_targets_to_anchors(anchors, targets)
            loss_obj, loss_box = self.compute_loss(objectness, deltas, labels, matched, anchors)
            losses = {"loss_objectness": loss_obj, "loss_rpn_box_reg": loss_box}
        return proposals, losses
