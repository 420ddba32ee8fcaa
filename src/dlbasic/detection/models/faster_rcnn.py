"""Faster R-CNN (Ren et al., NeurIPS 2015, https://arxiv.org/abs/1506.01497): an RPN on the shared
feature map proposes the regions that the Fast R-CNN head classifies, so proposals cost one
small conv head instead of seconds of selective search.

Trained by the paper's "approximate joint training": one backward pass through the sum of the RPN
and Fast R-CNN losses, with the proposals treated as constants. `forward` is GeneralizedRCNN's
short list of steps (torchvision): backbone, RPN, RoI heads; losses in training, detections in eval.
Differences from the paper: a small backbone from scratch at stride 4 with anchors sized for
digits (12, 20, 32 pixels; ratios 1 and 2) instead of VGG16 at stride 16 with 128-512 pixel anchors.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from dlbasic.detection.components.backbone import SmallBackbone
from dlbasic.detection.components.roi_heads import BoxHead, RoIHeads, RoIPooler
from dlbasic.detection.components.rpn import RegionProposalNetwork, RPNHead
from dlbasic.detection.ops.anchors import AnchorGenerator


class FasterRCNN(nn.Module):
    """backbone -> RPN -> RoI heads (see the module docstring)."""

    def __init__(self, backbone: nn.Module, rpn: RegionProposalNetwork, roi_heads: RoIHeads):
        super().__init__()
        self.backbone, self.rpn, self.roi_heads = backbone, rpn, roi_heads

    def forward(self, images: Tensor, targets: Sequence[dict[str, Tensor]] | None = None):
        """Tensor[N, C, H, W] -> losses (training) or one dict of boxes, scores, labels per image (eval)."""
        features = self.backbone(images)  # 1. the CNN once
        proposals, rpn_losses = self.rpn(images, features, targets)  # 2. learned proposals
        detections, det_losses = self.roi_heads(features, proposals, tuple(images.shape[-2:]), targets)  # 3.
        return {**rpn_losses, **det_losses} if self.training else detections


def faster_rcnn(
    num_classes: int,
    in_channels: int = 1,
    anchor_sizes: Sequence[float] = (12, 20, 32),
    aspect_ratios: Sequence[float] = (1.0, 2.0),
    pool_size: int = 4,
    **roi_kwargs,
) -> FasterRCNN:
    """Faster R-CNN with `SmallBackbone` (stride 4), one anchor level, RoI max pooling and `BoxHead`."""
    backbone = SmallBackbone(in_channels)
    anchors = AnchorGenerator((tuple(anchor_sizes),), (tuple(aspect_ratios),), offset=0.5)
    rpn = RegionProposalNetwork(anchors, RPNHead(backbone.out_channels, anchors.num_anchors_per_location()[0]))
    pooler = RoIPooler("pool", pool_size, 1.0 / backbone.stride)
    head = BoxHead(pooler.out_features(backbone.out_channels), num_classes)
    return FasterRCNN(backbone, rpn, RoIHeads(pooler, head, **roi_kwargs))
