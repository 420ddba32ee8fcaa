"""FCN-32s, FCN-16s and FCN-8s: Long, Shelhamer & Darrell, "Fully Convolutional Networks for Semantic
Segmentation", CVPR 2015 (https://arxiv.org/abs/1411.4038).

A classification backbone is cut into three parts ending at strides 8, 16 and 32 (VGG: after pool3,
pool4, pool5; ResNet: after layer2, layer3, layer4). Its fully connected head becomes convolutions
(fc6 as a 3x3 here instead of the paper's 7x7, because small inputs leave a 3x3 map at stride 32, and
fc7 as a 1x1), and a 1x1 convolution scores every class at stride 32. Then (section 4.2):

    FCN-32s: upsample the stride-32 scores 32x.
    FCN-16s: upsample them 2x, add 1x1 scores of the stride-16 features, upsample 16x.
    FCN-8s:  as 16s, then upsample 2x, add scores of the stride-8 features, upsample 8x.

`stride=8` builds the same three networks on the zoo's small-input layout of the backbone (VGG with three
poolings, ResNet with the 3x3 stride-1 stem): the parts end at strides 2, 4, 8 and FCN-8s predicts at stride 2,
which thin structures (pen strokes, membranes) need; every stride below is then divided by 4.

Upsampling is a transposed convolution (kernel 2f, stride f, padding f/2) initialized to bilinear
interpolation; the 2x layers are learned and the last one is fixed, as in the paper. The skip scorers
start at zero, so each net starts as the coarser one. Unlike the paper (padding 100, then crops), the
backbone keeps sizes with 'same' padding and the input is padded to a multiple of 32.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlbasic.errors import check
from dlbasic.models._layers import scaled
from dlbasic.models.registry import create_model, register_model

VARIANTS = ("32s", "16s", "8s")


def bilinear_kernel(channels: int, factor: int, depthwise: bool = False) -> Tensor:
    """Weight Tensor[C, C, 2f, 2f] of a transposed convolution that upsamples each channel f times bilinearly.

    w(i, j) = (1 - |i - c| / f)(1 - |j - c| / f) with c = f - 1/2, on the diagonal channel pairs only
    (the paper's `upsample_filt`); Tensor[C, 1, 2f, 2f] for a depthwise (groups=C) convolution. With
    stride f and padding f/2 it equals `F.interpolate(scale_factor=f, mode="bilinear", align_corners=False)`
    away from the borders.
    """
    k = 2 * factor
    center = factor - 0.5
    og = torch.arange(k, dtype=torch.float64)
    filt = torch.outer(1 - (og - center).abs() / factor, 1 - (og - center).abs() / factor)  # (k, k)
    if depthwise:
        return filt.expand(channels, 1, k, k).clone()
    weight = torch.zeros(channels, channels, k, k, dtype=torch.float64)
    weight[range(channels), range(channels)] = filt
    return weight


class DepthwiseUpsample(nn.ConvTranspose2d):
    """A per-channel (groups = C) transposed convolution that runs as a dense one on channels-last input.

    oneDNN has no fast grouped transposed convolution in NHWC: with channels-last bf16 activations on a CPU the
    dense form with a diagonal weight takes 0.31x the grouped one's time, forward and backward
    (`benchmarks/fcn_upsample.py`). The weights stay Tensor[C, 1, k, k]; the dense Tensor[C, C, k, k] is built
    per call.
    """

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[B, C, H, W] -> the upsampled Tensor[B, C, H', W'] (dense, diagonal weight, on channels-last input)."""
        nhwc = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        if not nhwc or self.groups == 1:
            return super().forward(x)
        c = self.in_channels
        dense = torch.eye(c, dtype=self.weight.dtype, device=self.weight.device)[:, :, None, None] * self.weight
        return F.conv_transpose2d(x, dense, self.bias, self.stride, self.padding, self.output_padding, 1, self.dilation)


def bilinear_upsampler(channels: int, factor: int, learnable: bool = True) -> nn.ConvTranspose2d:
    """`ConvTranspose2d(C, C, 2f, stride=f, padding=f/2)`: exactly f times the input size, bilinear at init.

    A fixed (not learnable) one is depthwise: the same map with C times fewer weights and MACs
    (`DepthwiseUpsample`, dense on channels-last input, where that is the fast kernel).
    """
    check(factor >= 2 and factor % 2 == 0, f"upsampling factor must be even, got {factor}")
    kind = nn.ConvTranspose2d if learnable else DepthwiseUpsample
    up = kind(
        channels,
        channels,
        2 * factor,
        stride=factor,
        padding=factor // 2,
        groups=1 if learnable else channels,
        bias=False,
    )
    with torch.no_grad():
        up.weight.copy_(bilinear_kernel(channels, factor, depthwise=not learnable))
    up.weight.requires_grad_(learnable)
    return up


class FCN(nn.Module):
    """FCN over a backbone given as three parts (input -> stride 8 -> stride 16 -> stride 32).

    Args:
        parts: modules producing the stride-8, stride-16 and stride-32 feature maps, applied in sequence.
        channels: their output channels.
        num_classes: classes scored per pixel (background included).
        variant: "32s", "16s" or "8s".
        head: channels of the convolutionalized fc6/fc7.
        dropout: dropout after fc6 and fc7 (the paper's 0.5 with VGG-16).
        learn_final: also learn the last upsampling (fixed bilinear in the paper).
    """

    def __init__(
        self,
        parts: tuple[nn.Module, nn.Module, nn.Module],
        channels: tuple[int, int, int],
        num_classes: int,
        variant: str = "8s",
        head: int = 256,
        dropout: float = 0.0,
        learn_final: bool = False,
        stride: int = 32,
    ):
        super().__init__()
        check(variant in VARIANTS, f"unknown FCN variant {variant!r}", "choices: 32s, 16s, 8s")
        check(
            isinstance(stride, int) and not isinstance(stride, bool) and stride in (8, 16, 32),
            f"backbone stride must be 8, 16 or 32, got {stride!r}",
            "choices: 8, 16, 32",
        )
        self.variant, self.stride = variant, stride
        self.to8, self.to16, self.to32 = parts
        c8, c16, c32 = channels
        self.head = nn.Sequential(  # fc6, fc7 as convolutions
            nn.Conv2d(c32, head, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout),
            nn.Conv2d(head, head, 1),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout),
        )
        self.score32 = nn.Conv2d(head, num_classes, 1)
        final = {"32s": stride, "16s": stride // 2, "8s": stride // 4}[variant]
        if variant in ("16s", "8s"):
            self.score16 = _zero(nn.Conv2d(c16, num_classes, 1))
            self.up32to16 = bilinear_upsampler(num_classes, 2)
        if variant == "8s":
            self.score8 = _zero(nn.Conv2d(c8, num_classes, 1))
            self.up16to8 = bilinear_upsampler(num_classes, 2)
        self.upsample = bilinear_upsampler(num_classes, final, learnable=learn_final)

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[B, in_channels, H, W] -> per-pixel class scores Tensor[B, num_classes, H, W]."""
        h, w = x.shape[-2:]
        x = F.pad(x, (0, -w % self.stride, 0, -h % self.stride))  # (B, C, 32a, 32b)
        f8 = self.to8(x)  # (B, c8, H/8, W/8) with the paper's strides (S = 32)
        f16 = self.to16(f8)  # (B, c16, H/16, W/16)
        s = self.score32(self.head(self.to32(f16)))  # (B, K, H/32, W/32)
        if self.variant != "32s":
            s = self.up32to16(s) + self.score16(f16)  # (B, K, H/16, W/16)
        if self.variant == "8s":
            s = self.up16to8(s) + self.score8(f8)  # (B, K, H/8, W/8)
        return self.upsample(s)[..., :h, :w]  # (B, K, H, W)


def _zero(conv: nn.Conv2d) -> nn.Conv2d:
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def _channels(parts: tuple[nn.Module, ...], in_channels: int) -> tuple[int, ...]:
    x, out = torch.zeros(1, in_channels, 64, 64), []
    with torch.no_grad():
        for p in parts:
            p.eval()
            x = p(x)
            out.append(x.shape[1])
            p.train()
    return tuple(out)


def _split_at_pools(layers: list[nn.Module]) -> tuple[nn.Module, nn.Module, nn.Module]:
    """Cut a conv stack after its third-to-last and second-to-last poolings (pool3 and pool4 of a 5-pool VGG)."""
    pools = [i for i, m in enumerate(layers) if isinstance(m, nn.MaxPool2d)]
    check(len(pools) >= 3, "an FCN backbone needs at least three poolings")
    a, b = pools[-3] + 1, pools[-2] + 1
    return nn.Sequential(*layers[:a]), nn.Sequential(*layers[a:b]), nn.Sequential(*layers[b:])


# the total strides each backbone family is built with: VGG keeps 3, 4 or 5 of its poolings; ResNet has the
# small-input stem (stride 8) or the ImageNet one (stride 32)
STRIDES = {"vgg": (8, 16, 32), "resnet": (8, 32)}


def check_stride(backbone: str, stride: Any) -> int:
    """`stride` if `backbone` ("vgg11", "resnet18", ...) can be built with it; a one-line `UserError` listing
    the strides it takes otherwise."""
    family = "resnet" if backbone.startswith("resnet") else "vgg"
    allowed = STRIDES[family]
    choices = ", ".join(map(str, allowed))
    check(
        isinstance(stride, int) and not isinstance(stride, bool) and stride in allowed,
        f"FCN on {backbone}: stride {stride!r} is not a value it takes",
        f"choices: {choices}, e.g. --model-option stride=8",
    )
    return stride


def vgg_parts(
    in_channels: int, width: float = 0.25, norm: str = "batch", config: str = "vgg11", stride: int = 32
) -> tuple[nn.Module, nn.Module, nn.Module]:
    """The zoo's VGG convolutions split after the last three of its poolings (stride 32: pool3, pool4, pool5;
    stride 8, the small-input layout with three poolings: pool1, pool2, and the rest)."""
    pools = {32: 5, 16: 4, 8: 3}[check_stride(config, stride)]
    backbone = create_model(
        config,
        num_classes=1,
        in_channels=in_channels,
        input_size=224,
        width=width,
        norm=norm,
        hidden=8,
        max_pools=pools,
    )
    return _split_at_pools(list(backbone.features))


def resnet_parts(
    in_channels: int, width: float = 0.25, depth: int = 18, stride: int = 32
) -> tuple[nn.Module, nn.Module, nn.Module]:
    """The zoo's ResNet split after layer2, layer3 and layer4; stride 32 with the ImageNet stem (stride 4),
    stride 8 with the small-input stem (3x3, stride 1)."""
    check_stride(f"resnet{depth}", stride)
    widths = tuple(scaled(w, width) for w in (64, 128, 256, 512))
    r = create_model(
        f"resnet{depth}", num_classes=1, in_channels=in_channels, input_size=224, widths=widths, small_stem=stride == 8
    )
    return nn.Sequential(r.stem, r.layer1, r.layer2), r.layer3, r.layer4


def fcn(
    backbone: str,
    variant: str,
    num_classes: int,
    in_channels: int,
    width: float = 0.25,
    head: int = 128,
    dropout: float = 0.0,
    learn_final: bool = False,
    stride: int = 32,
) -> FCN:
    """An FCN on a zoo backbone ("vgg11", "vgg16", "resnet18", "resnet34") of total stride 32 (the paper's) or 8
    (the zoo's small-input layout: the skips come from strides 2 and 4 and FCN-8s predicts at stride 2); VGG
    also takes 16. Any other `stride` is one `UserError` listing the backbone's strides."""
    check_stride(backbone, stride)
    if backbone.startswith("vgg"):
        parts = vgg_parts(in_channels, width, config=backbone, stride=stride)
    else:
        parts = resnet_parts(in_channels, width, depth=int(backbone.removeprefix("resnet")), stride=stride)
    return FCN(parts, _channels(parts, in_channels), num_classes, variant, head, dropout, learn_final, stride)


def _factory(backbone: str, variant: str):
    def factory(num_classes: int = 21, in_channels: int = 3, input_size: int = 224, **kw) -> FCN:
        return fcn(backbone, variant, num_classes, in_channels, **kw)

    factory.__name__ = f"fcn{variant}_{backbone}"
    factory.__doc__ = f"FCN-{variant} on {backbone} (1/4 width): Tensor[B, C, H, W] -> scores Tensor[B, K, H, W]."
    return factory


SEGMENTATION_MODELS = [f"fcn{v}_{b}" for b in ("vgg11", "vgg16", "resnet18") for v in VARIANTS]
for _name in SEGMENTATION_MODELS:
    _v, _b = _name.removeprefix("fcn").split("_")
    register_model(_factory(_b, _v))

__all__ = [
    "FCN",
    "SEGMENTATION_MODELS",
    "STRIDES",
    "VARIANTS",
    "bilinear_kernel",
    "bilinear_upsampler",
    "check_stride",
    "fcn",
    "resnet_parts",
    "vgg_parts",
]
