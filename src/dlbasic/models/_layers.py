"""Shared zoo helpers: normalization and activation chosen by name, conv-norm-act stacks, init.

`norm` is one of "batch", "group", "layer", "instance", "none" or an `nn.Module` class called
as `cls(channels)`; the layers are torch.nn's (GroupNorm with 32 groups as in Wu & He 2018,
https://arxiv.org/abs/1803.08494; "layer" is GroupNorm with one group, i.e. LayerNorm over C, H, W).
"""

from __future__ import annotations

import math

from torch import nn

from dlbasic.errors import UserError, did_you_mean
from dlbasic.nn.activations import make_activation

NormSpec = str | type[nn.Module] | None
ActSpec = str | type[nn.Module]
NORMS = ("batch", "group", "layer", "instance", "none")
SMALL_INPUT = 64  # input sides up to this pick the small-input variant of a family


def is_small(input_size: int) -> bool:
    """Whether `input_size` selects the small-input (MNIST/CIFAR-sized) variant."""
    return input_size <= SMALL_INPUT


def _group_count(channels: int, groups: int = 32) -> int:
    # the largest divisor of `channels` not above `groups`, so any width works
    return max(g for g in range(1, min(groups, channels) + 1) if channels % g == 0)


def make_norm(norm: NormSpec, channels: int, eps: float = 1e-5) -> nn.Module:
    """A normalization layer over `channels` feature maps, chosen by name or class."""
    if norm is None or norm == "none":
        return nn.Identity()
    if not isinstance(norm, str):
        return norm(channels)
    if norm == "batch":
        return nn.BatchNorm2d(channels, eps=eps)
    if norm == "group":
        return nn.GroupNorm(_group_count(channels), channels, eps=eps)
    if norm == "layer":
        return nn.GroupNorm(1, channels, eps=eps)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, eps=eps, affine=True)
    raise UserError(f"unknown norm {norm!r}", did_you_mean(norm, NORMS))


def has_norm(norm: NormSpec) -> bool:
    return norm is not None and norm != "none"


def conv_norm_act(
    in_ch: int,
    out_ch: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    norm: NormSpec = "batch",
    act: ActSpec | None = "relu",
    groups: int = 1,
    bias: bool | None = None,
    eps: float = 1e-5,
) -> nn.Sequential:
    """Conv2d -> norm -> activation; the convolution has a bias only when there is no norm."""
    bias = not has_norm(norm) if bias is None else bias
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel, stride, padding, groups=groups, bias=bias)]
    if has_norm(norm):
        layers.append(make_norm(norm, out_ch, eps))
    if act is not None:
        layers.append(make_activation(act))
    return nn.Sequential(*layers)


def kaiming_init(
    model: nn.Module, linear_std: float | None = 0.01, mode: str = "fan_out", he_linear: bool = False
) -> None:
    """He et al. 2015 init for convolutions (https://arxiv.org/abs/1502.01852), unit norms, zero biases.

    Linear layers get N(0, linear_std) when given (torchvision's VGG/AlexNet), He's fan-in init with
    `he_linear`, else torch's default.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and he_linear:
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0.0, linear_std)
            nn.init.zeros_(m.bias)


def scaled(width: int, factor: float, minimum: int = 4) -> int:
    """A channel width scaled by `factor`, at least `minimum`."""
    return max(minimum, math.ceil(width * factor))
