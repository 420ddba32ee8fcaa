"""DenseNet: Huang, Liu, van der Maaten & Weinberger, "Densely Connected Convolutional Networks",
CVPR 2017 (https://arxiv.org/abs/1608.06993), laid out as torchvision's `densenet.py`.

In a dense block every layer sees the concatenation of all earlier feature maps and adds `growth`
new ones; a layer is the bottleneck BN-ReLU-1x1 conv (to `bn_size * growth`) then BN-ReLU-3x3 conv
(DenseNet-B). Between blocks a transition halves the channels (compression 0.5, DenseNet-C) and the
resolution: BN, ReLU, 1x1 conv, 2x2 average pooling. densenet121 has 7,978,856 parameters.
Small inputs (<= 64) use a 3x3 stride-1 stem with 2x2 pooling, growth 12 and 24 stem channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dlbasic.models._layers import ActSpec, NormSpec, conv_norm_act, is_small, make_norm
from dlbasic.models.registry import register_model
from dlbasic.nn.activations import make_activation


def norm_act_conv(in_ch: int, out_ch: int, kernel: int, norm: NormSpec, act: ActSpec) -> nn.Sequential:
    """The pre-activation order of DenseNet: norm -> activation -> conv (no bias)."""
    return nn.Sequential(
        make_norm(norm, in_ch), make_activation(act), nn.Conv2d(in_ch, out_ch, kernel, 1, kernel // 2, bias=False)
    )


class DenseLayer(nn.Module):
    """Tensor[B, C, H, W] -> Tensor[B, growth, H, W], the new maps appended by the block."""

    def __init__(self, in_ch: int, growth: int, bn_size: int, norm: NormSpec, act: ActSpec, dropout: float = 0.0):
        super().__init__()
        self.bottleneck = norm_act_conv(in_ch, bn_size * growth, 1, norm, act)  # (B, bn_size * k, H, W)
        self.conv = norm_act_conv(bn_size * growth, growth, 3, norm, act)  # (B, k, H, W)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[B, C, H, W] -> the layer's new maps Tensor[B, growth, H, W]."""
        return self.dropout(self.conv(self.bottleneck(x)))


class DenseBlock(nn.Module):
    """`n` dense layers; the output concatenates the input and every layer's maps."""

    def __init__(
        self, n: int, in_ch: int, growth: int, bn_size: int, norm: NormSpec, act: ActSpec, dropout: float = 0.0
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            DenseLayer(in_ch + i * growth, growth, bn_size, norm, act, dropout) for i in range(n)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[B, C, H, W] -> Tensor[B, C + n * growth, H, W], the input and every layer's maps."""
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, 1)))  # input: (B, C + i * growth, H, W)
        return torch.cat(features, 1)  # (B, C + n * growth, H, W)


class Transition(nn.Sequential):
    """BN, ReLU, 1x1 conv to `out_ch`, 2x2 average pooling: halves the resolution."""

    def __init__(self, in_ch: int, out_ch: int, norm: NormSpec, act: ActSpec):
        super().__init__(*norm_act_conv(in_ch, out_ch, 1, norm, act), nn.AvgPool2d(2, 2))


class DenseNet(nn.Module):
    """Stem, dense blocks joined by transitions, final norm + activation, global pool, linear.

    Args:
        growth: new maps per dense layer (k).
        block_config: layers per dense block, (6, 12, 24, 16) for DenseNet-121.
        init_features: channels of the stem.
        bn_size: bottleneck width as a multiple of `growth`.
        compression: channel ratio kept by a transition (theta).
        small_stem: 3x3 stride-1 stem with 2x2 max pooling, for 28-64 pixel inputs.
    """

    def __init__(
        self,
        growth: int = 32,
        block_config: Sequence[int] = (6, 12, 24, 16),
        num_classes: int = 1000,
        in_channels: int = 3,
        init_features: int = 64,
        bn_size: int = 4,
        compression: float = 0.5,
        dropout: float = 0.0,
        norm: NormSpec = "batch",
        act: ActSpec = "relu",
        small_stem: bool = False,
    ):
        super().__init__()
        c = init_features
        if small_stem:
            stem: list[nn.Module] = [
                *conv_norm_act(in_channels, c, 3, 1, 1, norm=norm, act=act, bias=False),
                nn.MaxPool2d(2, 2),
            ]  # (B, 24, 14, 14) at 28
        else:
            stem = [
                *conv_norm_act(in_channels, c, 7, 2, 3, norm=norm, act=act, bias=False),
                nn.MaxPool2d(3, 2, 1),
            ]  # (B, 64, 56, 56) at 224
        blocks: list[nn.Module] = []
        for i, n in enumerate(block_config):
            blocks.append(DenseBlock(n, c, growth, bn_size, norm, act, dropout))
            c += n * growth
            if i < len(block_config) - 1:
                out = int(c * compression)
                blocks.append(Transition(c, out, norm, act))
                c = out
        self.features = nn.Sequential(*stem, *blocks, make_norm(norm, c), make_activation(act))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)
        for m in self.modules():  # torchvision's init: He for convs, unit norms, zero linear bias
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[B, in_channels, H, W] -> logits Tensor[B, num_classes]."""
        x = self.avgpool(self.features(x))  # (B, C, 1, 1)
        return self.classifier(x.flatten(1))  # (B, num_classes)


def _densenet(
    block_config: Sequence[int],
    num_classes: int,
    in_channels: int,
    input_size: int,
    growth: int | None = None,
    init_features: int | None = None,
    **kw,
) -> DenseNet:
    small = is_small(input_size)
    growth = growth or (12 if small else 32)
    init_features = init_features or (24 if small else 64)
    kw = {"small_stem": small, **kw}
    return DenseNet(growth, block_config, num_classes, in_channels, init_features, **kw)


@register_model
def densenet121(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> DenseNet:
    """DenseNet-121: dense blocks of (6, 12, 24, 16) layers, growth 32 (12 for small inputs); `kw`: `DenseNet`."""
    return _densenet((6, 12, 24, 16), num_classes, in_channels, input_size, **kw)


@register_model
def densenet169(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> DenseNet:
    """DenseNet-169: dense blocks of (6, 12, 32, 32) layers, growth 32 (12 for small inputs); `kw`: `DenseNet`."""
    return _densenet((6, 12, 32, 32), num_classes, in_channels, input_size, **kw)


@register_model
def densenet201(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> DenseNet:
    """DenseNet-201: dense blocks of (6, 12, 48, 32) layers, growth 32 (12 for small inputs); `kw`: `DenseNet`."""
    return _densenet((6, 12, 48, 32), num_classes, in_channels, input_size, **kw)
