"""Normalization layers written from scratch: batch, group, layer and instance normalization.

All four compute `y = (x - mean) / sqrt(var + eps) * gamma + beta` and differ only in the axes the
statistics are taken over (for an input (N, C, H, W)):

- BatchNorm2d: over (N, H, W) per channel; running estimates for evaluation.
  Ioffe & Szegedy, "Batch Normalization", 2015, https://arxiv.org/abs/1502.03167
- GroupNorm: over (C / G, H, W) per sample and group of channels.
  Wu & He, "Group Normalization", 2018, https://arxiv.org/abs/1803.08494
- LayerNorm: over the last dims given by `normalized_shape`, per sample.
  Ba, Kiros & Hinton, "Layer Normalization", 2016, https://arxiv.org/abs/1607.06450
- InstanceNorm2d: over (H, W) per sample and channel.
  Ulyanov, Vedaldi & Lempitsky, "Instance Normalization", 2016, https://arxiv.org/abs/1607.08022

Parameter and buffer names, defaults and the running-statistics rule follow `torch.nn`, so state dicts
load in both directions and `torch.nn` is the test oracle. Backward is left to autograd.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dlbasic.errors import UserError, did_you_mean


def normalize(x: Tensor, dims: Sequence[int], eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """(x - mean) / sqrt(var + eps) with biased statistics over `dims`; also returns mean and var."""
    mean = x.mean(dim=tuple(dims), keepdim=True)
    var = x.var(dim=tuple(dims), unbiased=False, keepdim=True)  # 1/n sum (x - mean)^2, as in the paper
    return (x - mean) * torch.rsqrt(var + eps), mean, var


class _Norm(nn.Module):
    """Shared per-channel affine parameters: weight (gamma) = 1 and bias (beta) = 0 at init."""

    def _init_affine(self, shape: Sequence[int], affine: bool, bias: bool = True) -> None:
        if affine:
            self.weight = nn.Parameter(torch.ones(*shape))
            self.bias = nn.Parameter(torch.zeros(*shape)) if bias else None
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def _affine(self, y: Tensor, view: Sequence[int]) -> Tensor:
        if self.weight is not None:
            y = y * self.weight.view(*view)
        if self.bias is not None:
            y = y + self.bias.view(*view)
        return y


class _RunningStats(_Norm):
    """Running mean/variance buffers with torch's update rule.

    running <- (1 - momentum) * running + momentum * batch_statistic, where the variance statistic is the
    unbiased one (n / (n - 1) times the biased variance used to normalize). `momentum=None` gives the
    cumulative average: momentum = 1 / num_batches_tracked.
    """

    stat_dims: tuple[int, ...] = ()  # the axes of Tensor[N, C, H, W] the statistics are taken over

    def _init_running(self, num_features: int, momentum: float | None, track: bool) -> None:
        self.momentum = momentum
        self.track_running_stats = track
        if track:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1.0)
            self.num_batches_tracked.zero_()

    @torch.no_grad()
    def _update_running(self, mean: Tensor, var: Tensor, n: int, count: bool = True) -> None:
        """mean, var: Tensor[C] batch statistics (biased var) from n values per channel."""
        if count:
            self.num_batches_tracked.add_(1)
        m = 1.0 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
        unbiased = var * (n / max(n - 1, 1))  # Bessel's correction for the running estimate
        self.running_mean.mul_(1 - m).add_(m * mean.to(self.running_mean))
        self.running_var.mul_(1 - m).add_(m * unbiased.to(self.running_var))

    def _use_batch_stats(self) -> bool:
        return self.training or not self.track_running_stats

    def _track(self, x: Tensor, mean: Tensor, var: Tensor) -> None:
        """Update the running estimates from the statistics `normalize` took of `x` over `stat_dims`."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[N, C, H, W] -> the normalized (and affine-transformed) Tensor[N, C, H, W]."""
        if x.dim() != 4:
            raise ValueError(f"{type(self).__name__} expects (N, C, H, W), got shape {tuple(x.shape)}")
        if self._use_batch_stats():
            y, mean, var = normalize(x, self.stat_dims, self.eps)
            if self.training and self.track_running_stats:
                self._track(x, mean, var)
        else:
            mean = self.running_mean.view(1, -1, 1, 1)
            var = self.running_var.view(1, -1, 1, 1)
            y = (x - mean) * torch.rsqrt(var + self.eps)
        return self._affine(y, (1, -1, 1, 1))


class BatchNorm2d(_RunningStats):
    """Batch normalization over (N, H, W) for each of `num_features` channels.

    Training: normalize with the batch mean and biased variance, update the running estimates.
    Evaluation: normalize with the running estimates (batch statistics if `track_running_stats=False`).
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
    ):
        super().__init__()
        self.num_features, self.eps = num_features, eps
        self._init_affine((num_features,), affine)
        self._init_running(num_features, momentum, track_running_stats)

    stat_dims = (0, 2, 3)

    def _track(self, x: Tensor, mean: Tensor, var: Tensor) -> None:
        """The batch's per-channel statistics (mean, var: (1, C, 1, 1)) from N * H * W values each."""
        self._update_running(mean.flatten(), var.flatten(), x.numel() // x.shape[1])

    def extra_repr(self) -> str:
        """The settings shown in the module's repr."""
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class InstanceNorm2d(_RunningStats):
    """Instance normalization over (H, W) for each sample and channel; torch's defaults (no affine, no
    running statistics). With `track_running_stats` the running estimates are updated with the batch
    average of the per-instance statistics and used in evaluation mode, as `torch.nn.InstanceNorm2d` does
    (which also leaves `num_batches_tracked` at 0). torch silently never updates the estimates when
    `momentum=None`; here that combination is refused instead.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
    ):
        super().__init__()
        self.num_features, self.eps = num_features, eps
        if track_running_stats and momentum is None:
            raise ValueError("InstanceNorm2d with track_running_stats needs a momentum (not None)")
        self._init_affine((num_features,), affine)
        self._init_running(num_features, momentum, track_running_stats)

    stat_dims = (2, 3)

    def _track(self, x: Tensor, mean: Tensor, var: Tensor) -> None:
        """The batch average of the per-instance statistics (mean, var: (N, C, 1, 1)) of H * W values each."""
        self._update_running(mean.mean((0, 2, 3)), var.mean((0, 2, 3)), x.shape[2] * x.shape[3], count=False)

    def extra_repr(self) -> str:
        """The settings shown in the module's repr."""
        return f"{self.num_features}, eps={self.eps}, affine={self.weight is not None}"


class GroupNorm(_Norm):
    """Group normalization: channels split into `num_groups` groups, statistics per sample and group
    over (C / G, *spatial); per-channel affine. Identical in training and evaluation."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True):
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps = num_groups, num_channels, eps
        self._init_affine((num_channels,), affine)

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[N, C, *] -> the normalized (and affine-transformed) tensor of the same shape."""
        n, c = x.shape[:2]
        g = x.reshape(n, self.num_groups, -1)  # (N, G, C/G * H * W)
        y, _, _ = normalize(g, (2,), self.eps)
        return self._affine(y.view_as(x), (1, c) + (1,) * (x.dim() - 2))

    def extra_repr(self) -> str:
        """The settings shown in the module's repr."""
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}"


class LayerNorm(_Norm):
    """Layer normalization over the trailing `normalized_shape` dims, with elementwise affine
    parameters of that shape. Identical in training and evaluation."""

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
    ):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self._init_affine(shape, elementwise_affine, bias)

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[*, *normalized_shape] -> the normalized (and affine-transformed) tensor of the same shape."""
        if tuple(x.shape[-len(self.normalized_shape) :]) != self.normalized_shape:
            raise ValueError(f"LayerNorm{self.normalized_shape} got input of shape {tuple(x.shape)}")
        y, _, _ = normalize(x, tuple(range(-len(self.normalized_shape), 0)), self.eps)
        return self._affine(y, self.normalized_shape)

    def extra_repr(self) -> str:
        """The settings shown in the module's repr."""
        return f"{self.normalized_shape}, eps={self.eps}"


NORMS = ("batch", "group", "layer", "instance", "none")


def make_norm(name: str, channels: int, num_groups: int = 32) -> nn.Module:
    """A normalization layer for (N, channels, H, W) feature maps, chosen by name (`--norm`).

    - "batch": BatchNorm2d(channels).
    - "group": GroupNorm(g, channels) with g = gcd(num_groups, channels) so any width works.
    - "layer": statistics over (C, H, W) per sample with per-channel affine, i.e. GroupNorm(1, channels);
      a LayerNorm with an elementwise (C, H, W) affine would tie the layer to one input size.
    - "instance": InstanceNorm2d(channels, affine=True), with learnable per-channel affine like the others.
    - "none": identity.
    """
    if name == "batch":
        return BatchNorm2d(channels)
    if name == "group":
        return GroupNorm(math.gcd(num_groups, channels), channels)
    if name == "layer":
        return GroupNorm(1, channels)
    if name == "instance":
        return InstanceNorm2d(channels, affine=True)
    if name == "none":
        return nn.Identity()
    raise UserError(f"unknown normalization {name!r}", did_you_mean(name, NORMS))


__all__ = ["NORMS", "BatchNorm2d", "GroupNorm", "InstanceNorm2d", "LayerNorm", "make_norm", "normalize"]
