"""Regularization: early stopping, weight penalties, noise, label smoothing, Mixup and CutMix.

How a training loop uses them (each is also usable alone):
- batch transforms `t(x, y, generator) -> (x, y)` on Tensor[B, C, H, W] in [0, 1] before normalization:
  `dlbasic.data.transforms.Augment`, `InputNoise`, `Mix` (last: it turns labels into soft targets);
  chain them with `dlbasic.data.transforms.Compose`.
- the loss: `soft_target_cross_entropy(logits, target)` takes labels or soft targets; with label smoothing
  and no `Mix`, `LabelSmoothingCrossEntropy(eps)`; with `Mix`, pass `label_smoothing=eps` to `Mix` instead.
- weight decay: `param_groups(model, wd)` for the optimizer (coupled with SGD/Adam, decoupled with AdamW),
  or an explicit term `loss + Penalty("l1" | "l2", strength)(model)`.
- callbacks: `EarlyStopping(monitor, patience, min_delta, mode, restore_best)`, `WeightNoise(sigma)`.
"""

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
