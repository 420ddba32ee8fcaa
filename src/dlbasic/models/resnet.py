"""ResNet: He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016
(https://arxiv.org/abs/1512.03385), laid out as torchvision's `resnet.py`.

A block learns a residual F(x) and outputs act(F(x) + shortcut(x)). Shortcuts (the paper's section 3.3):
"A" identity with zero-padding for extra channels (and subsampling for stride), no parameters;
"B" identity where shapes match, 1x1 projection (+norm) where they change (torchvision's; the bars
use it: resnet50 has 25,557,032 parameters); "C" projections on every shortcut; "none" drops the
skip, giving the plain networks of the degradation study (`plain18`, `plain34`). Bottleneck blocks
stride in the 3x3 convolution (torchvision's "v1.5"). Small inputs (<= 64) use a 3x3 stride-1 stem
without max pooling, 1/4 widths (1/8 for bottleneck blocks) and zero-initialized residual branches
(`zero_init_residual`, on by default there: the 50-152-layer nets then train in a few hundred steps).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from dlbasic.errors import UserError, did_you_mean
from dlbasic.models._layers import ActSpec, NormSpec, conv_norm_act, is_small, scaled
from dlbasic.models.registry import register_model
from dlbasic.nn.activations import make_activation

SHORTCUTS = ("A", "B", "C", "none")


class ZeroPadShortcut(nn.Module):
    """Option A: subsample by `stride`, then append zero channels up to `out_ch`."""

    def __init__(self, out_ch: int, stride: int):
        super().__init__()
        self.out_ch, self.stride = out_ch, stride

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[B, C, H, W] -> Tensor[B, out_ch, H / stride, W / stride], the new channels zero."""
        x = x[:, :, :: self.stride, :: self.stride]  # (B, C, H / s, W / s)
        return F.pad(x, (0, 0, 0, 0, 0, self.out_ch - x.shape[1]))  # (B, out_ch, H / s, W / s)


def make_shortcut(in_ch: int, out_ch: int, stride: int, kind: str, norm: NormSpec) -> nn.Module | None:
    """The shortcut branch of a block; None means no skip connection at all (plain networks)."""
    if kind not in SHORTCUTS:
        raise UserError(f"unknown shortcut {kind!r}", did_you_mean(kind, SHORTCUTS))
    if kind == "none":
        return None
    same = stride == 1 and in_ch == out_ch
    if kind == "C" or (kind == "B" and not same):
        return conv_norm_act(in_ch, out_ch, 1, stride, norm=norm, act=None)
    return nn.Identity() if same else ZeroPadShortcut(out_ch, stride)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions (ResNet-18/34)."""

    expansion = 1

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        shortcut: str = "B",
        norm: NormSpec = "batch",
        act: ActSpec = "relu",
    ):
        super().__init__()
        self.conv1 = conv_norm_act(in_ch, planes, 3, stride, 1, norm=norm, act=act)
        self.conv2 = conv_norm_act(planes, planes, 3, 1, 1, norm=norm, act=None)
        self.shortcut = make_shortcut(in_ch, planes, stride, shortcut, norm)
        self.act = make_activation(act)

    def forward(self, x: Tensor) -> Tensor:
        """act(F(x) + shortcut(x)): Tensor[B, in_ch, H, W] -> Tensor[B, planes, H / stride, W / stride]."""
        out = self.conv2(self.conv1(x))  # (B, planes, H / s, W / s)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.act(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand to 4 * planes (ResNet-50/101/152)."""

    expansion = 4

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        shortcut: str = "B",
        norm: NormSpec = "batch",
        act: ActSpec = "relu",
    ):
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = conv_norm_act(in_ch, planes, 1, norm=norm, act=act)
        self.conv2 = conv_norm_act(planes, planes, 3, stride, 1, norm=norm, act=act)
        self.conv3 = conv_norm_act(planes, out_ch, 1, norm=norm, act=None)
        self.shortcut = make_shortcut(in_ch, out_ch, stride, shortcut, norm)
        self.act = make_activation(act)

    def forward(self, x: Tensor) -> Tensor:
        """act(F(x) + shortcut(x)): Tensor[B, in_ch, H, W] -> Tensor[B, 4 * planes, H / stride, W / stride]."""
        out = self.conv3(self.conv2(self.conv1(x)))  # (B, 4 * planes, H / s, W / s)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.act(out)


class ResNet(nn.Module):
    """Stem, four stages of residual blocks, global average pool, linear.

    Args:
        block: BasicBlock or Bottleneck.
        layers: blocks per stage, e.g. (3, 4, 6, 3) for ResNet-50.
        widths: planes of the four stages.
        shortcut: "A", "B", "C" or "none" (see the module docstring).
        small_stem: a 3x3 stride-1 stem without max pooling, for 28-64 pixel inputs.
        zero_init_residual: zero the last norm's scale in each block with a shortcut (Goyal et al. 2017,
            https://arxiv.org/abs/1706.02677), so every residual block starts as the identity.
    """

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: Sequence[int],
        num_classes: int = 1000,
        in_channels: int = 3,
        widths: Sequence[int] = (64, 128, 256, 512),
        shortcut: str = "B",
        norm: NormSpec = "batch",
        act: ActSpec = "relu",
        small_stem: bool = False,
        zero_init_residual: bool = False,
    ):
        super().__init__()
        c = widths[0]
        if small_stem:
            self.stem = conv_norm_act(in_channels, c, 3, 1, 1, norm=norm, act=act)
        else:
            self.stem = nn.Sequential(
                *conv_norm_act(in_channels, c, 7, 2, 3, norm=norm, act=act), nn.MaxPool2d(3, 2, 1)
            )  # (B, 64, 56, 56) at 224
        stages = []
        for i, (planes, n) in enumerate(zip(widths, layers)):
            blocks = []
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(block(c, planes, stride, shortcut, norm, act))
                c = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)
        self._init(zero_init_residual)

    def _init(self, zero_init_residual: bool) -> None:
        # torchvision's: He fan-out for convolutions, unit-scale norms, torch's default for the FC layer
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)) and m.shortcut is not None:
                    last = m.conv3 if isinstance(m, Bottleneck) else m.conv2
                    if len(last) > 1 and getattr(last[1], "weight", None) is not None:
                        nn.init.zeros_(last[1].weight)

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[B, in_channels, H, W] -> logits Tensor[B, num_classes]."""
        x = self.stem(x)  # (B, 64, H / 4, W / 4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 512 * expansion, H / 32, W / 32)
        return self.fc(self.avgpool(x).flatten(1))  # (B, num_classes)


def _resnet(
    block: type[BasicBlock | Bottleneck],
    layers: Sequence[int],
    num_classes: int,
    in_channels: int,
    input_size: int,
    **kw,
) -> ResNet:
    if is_small(input_size):
        width = kw.pop("width", 0.25 / block.expansion**0.5)  # bottlenecks: 1/8, their outputs are 4x wider
        kw = {
            "small_stem": True,
            "widths": tuple(scaled(w, width) for w in (64, 128, 256, 512)),
            "zero_init_residual": True,
            **kw,
        }
    elif "width" in kw:
        width = kw.pop("width")
        kw["widths"] = tuple(scaled(w, width) for w in (64, 128, 256, 512))
    return ResNet(block, layers, num_classes, in_channels, **kw)


@register_model
def resnet18(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> ResNet:
    """ResNet-18: (2, 2, 2, 2) `BasicBlock`s per stage; `kw` (shortcut, norm, width, ...) goes to `ResNet`."""
    return _resnet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels, input_size, **kw)


@register_model
def resnet34(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> ResNet:
    """ResNet-34: (3, 4, 6, 3) `BasicBlock`s per stage; `kw` (shortcut, norm, width, ...) goes to `ResNet`."""
    return _resnet(BasicBlock, (3, 4, 6, 3), num_classes, in_channels, input_size, **kw)


@register_model
def resnet50(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> ResNet:
    """ResNet-50: (3, 4, 6, 3) `Bottleneck`s per stage; `kw` (shortcut, norm, width, ...) goes to `ResNet`."""
    return _resnet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels, input_size, **kw)


@register_model
def resnet101(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> ResNet:
    """ResNet-101: (3, 4, 23, 3) `Bottleneck`s per stage; `kw` (shortcut, norm, width, ...) goes to `ResNet`."""
    return _resnet(Bottleneck, (3, 4, 23, 3), num_classes, in_channels, input_size, **kw)


@register_model
def resnet152(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> ResNet:
    """ResNet-152: (3, 8, 36, 3) `Bottleneck`s per stage; `kw` (shortcut, norm, width, ...) goes to `ResNet`."""
    return _resnet(Bottleneck, (3, 8, 36, 3), num_classes, in_channels, input_size, **kw)


@register_model
def plain18(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> ResNet:
    """ResNet-18 without shortcuts (the paper's Figure 4 baseline)."""
    return _resnet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels, input_size, shortcut="none", **kw)


@register_model
def plain34(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> ResNet:
    """ResNet-34 without shortcuts (the paper's Figure 4 baseline)."""
    return _resnet(BasicBlock, (3, 4, 6, 3), num_classes, in_channels, input_size, shortcut="none", **kw)


__all__ = ["SHORTCUTS", "BasicBlock", "Bottleneck", "ResNet", "ZeroPadShortcut"]
