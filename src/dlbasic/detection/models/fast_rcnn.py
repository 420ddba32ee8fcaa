"""Fast R-CNN (Girshick, "Fast R-CNN", ICCV 2015, https://arxiv.org/abs/1504.08083).

The CNN runs once per image; each selective-search proposal is RoI-max-pooled from the shared
feature map and a joint head classifies it and regresses its box, trained end to end with the
multi-task loss (see `roi_heads`). Unlike SPP-net, the convolutional layers are fine-tuned too,
since the RoI pooling layer passes gradients to them. Differences from the paper: a small
backbone trained from scratch (stride 4, 4x4 RoI bins instead of VGG16's stride 16 and 7x7), and
minibatches of whole images rather than 2 images x 64 RoIs.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from dlbasic.detection.components.backbone import SmallBackbone
from dlbasic.detection.components.roi_heads import BoxHead, RoIHeads, RoIPooler
from dlbasic.detection.models.rcnn import SelectiveSearchProposals


class ProposalDetector(nn.Module):
    """A detector on fixed proposals: backbone once per image, then `RoIHeads` (Fast R-CNN, SPP-net).

    Args:
        backbone: module with `out_channels` and `stride`.
        roi_heads: the second stage.
        proposals: a callable giving one Tensor[L, 4] of boxes per image (selective search).
    """

    def __init__(self, backbone: nn.Module, roi_heads: RoIHeads, proposals: SelectiveSearchProposals):
        super().__init__()
        self.backbone, self.roi_heads, self.proposals = backbone, roi_heads, proposals

    def forward(self, images: Tensor, targets: Sequence[dict[str, Tensor]] | None = None):
        """Losses {"loss_classifier", "loss_box_reg"} in training, detections per image in eval."""
        proposals = self.proposals(images)  # 1. selective search (cached for training images)
        features = self.backbone(images)  # 2. the CNN, once per image
        detections, losses = self.roi_heads(features, proposals, tuple(images.shape[-2:]), targets)  # 3. per RoI
        return losses if self.training else detections


def fast_rcnn(
    num_classes: int,
    in_channels: int = 1,
    proposals: SelectiveSearchProposals | None = None,
    pool_size: int = 4,
    **roi_kwargs,
) -> ProposalDetector:
    """Fast R-CNN with `SmallBackbone` (stride 4), RoI max pooling to pool_size x pool_size, `BoxHead`."""
    backbone = SmallBackbone(in_channels)
    pooler = RoIPooler("pool", pool_size, 1.0 / backbone.stride)
    head = BoxHead(pooler.out_features(backbone.out_channels), num_classes)
    return ProposalDetector(backbone, RoIHeads(pooler, head, **roi_kwargs), proposals or SelectiveSearchProposals())
