"""SPP-net for detection (He et al., "Spatial Pyramid Pooling in Deep Convolutional Networks for
Visual Recognition", ECCV 2014, https://arxiv.org/abs/1406.4729, section 4).

The CNN runs once per image (R-CNN ran it once per region); each selective-search window is
projected onto the last conv map and max-pooled into a 1x1 + 2x2 + 4x4 pyramid, giving a
fixed-length vector for any window size; fc layers then classify it and regress the box.
Differences from the paper: the paper froze the conv layers (pre-trained on ImageNet) and
trained only the fc layers, then SVMs; with no pre-training here the conv layers are trained with
the head, by the same multi-task loss as Fast R-CNN (`roi_heads`), so the two detectors differ
only in the pooling (pyramid vs one RoI grid) unless `freeze_backbone=True` is used on a
backbone trained elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence

from dlbasic.detection.components.backbone import SmallBackbone
from dlbasic.detection.components.roi_heads import BoxHead, RoIHeads, RoIPooler
from dlbasic.detection.models.fast_rcnn import ProposalDetector
from dlbasic.detection.models.rcnn import SelectiveSearchProposals


def sppnet(
    num_classes: int,
    in_channels: int = 1,
    proposals: SelectiveSearchProposals | None = None,
    levels: Sequence[int] = (1, 2, 4),
    freeze_backbone: bool = False,
    **roi_kwargs,
) -> ProposalDetector:
    """SPP-net detector: `SmallBackbone` (stride 4), a spatial pyramid per window, `BoxHead`."""
    backbone = SmallBackbone(in_channels)
    if freeze_backbone:
        backbone.requires_grad_(False)
    pooler = RoIPooler("spp", spatial_scale=1.0 / backbone.stride, levels=levels)
    head = BoxHead(pooler.out_features(backbone.out_channels), num_classes)
    return ProposalDetector(backbone, RoIHeads(pooler, head, **roi_kwargs), proposals or SelectiveSearchProposals())
