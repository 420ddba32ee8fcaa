"""Regularization: early stopping, weight penalties, noise, label smoothing, Mixup and CutMix."""

from dlbasic.regularization.early_stopping import EarlyStopping
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
from dlbasic.regularization.noise import InputNoise, WeightNoise
from dlbasic.regularization.penalties import PENALTIES, Penalty, l1_penalty, l2_penalty, param_groups
from dlbasic.regularization.smoothing import (
    LabelSmoothingCrossEntropy,
    smooth_one_hot,
    smooth_targets,
    soft_target_cross_entropy,
    to_soft_targets,
)

__all__ = [
    "PENALTIES",
    "EarlyStopping",
    "InputNoise",
    "LabelSmoothingCrossEntropy",
    "Mix",
    "MixParams",
    "Penalty",
    "WeightNoise",
    "box_lambda",
    "box_mask",
    "cutmix_images",
    "l1_penalty",
    "l2_penalty",
    "mixup_images",
    "mixup_target",
    "param_groups",
    "partner_index",
    "rand_box",
    "sample_beta",
    "smooth_one_hot",
    "smooth_targets",
    "soft_target_cross_entropy",
    "to_soft_targets",
]
