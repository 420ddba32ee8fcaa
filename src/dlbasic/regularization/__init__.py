"""Regularization: early stopping, weight penalties, noise, label smoothing, Mixup and CutMix."""

from dlbasic.regularization.mixing import (
    Mix,
    MixParams,
    box_lambda,
    box_mask,
    cutmix_images,
    mixup_images,
    mixup_target,
    partner_index,
    rand_box,
    sample_beta,
)
from dlbasic.regularization.smoothing import (
    LabelSmoothingCrossEntropy,
    smooth_one_hot,
    smooth_targets,
    soft_target_cross_entropy,
    to_soft_targets,
)

__all__ = [
    "LabelSmoothingCrossEntropy",
    "Mix",
    "MixParams",
    "box_lambda",
    "box_mask",
    "cutmix_images",
    "mixup_images",
    "mixup_target",
    "partner_index",
    "rand_box",
    "sample_beta",
    "smooth_one_hot",
    "smooth_targets",
    "soft_target_cross_entropy",
    "to_soft_targets",
]
