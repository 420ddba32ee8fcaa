"""VGG: Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR 2015 (https://arxiv.org/abs/1409.1556).

Only 3x3 convolutions (stride 1, padding 1) and 2x2 max pooling; configurations A, B, D, E of the
paper's Table 1 are vgg11, vgg13, vgg16, vgg19. The head follows torchvision (7x7 adaptive average
pool, 4096-4096 FC with dropout), so the counts are torchvision's (vgg16: 138,357,544); the `_bn`
variants put a normalization layer (batch norm unless `norm` says otherwise) after every convolution.
Small inputs (<= 64) keep the conv layout at 1/4 width with only the first three poolings
(28 -> 14 -> 7 -> 3), a 256-unit head without dropout and fan-in He init of every layer.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from dlbasic.models._layers import ActSpec, NormSpec, conv_norm_act, is_small, kaiming_init, scaled
from dlbasic.models.registry import register_model
from dlbasic.nn.activations import make_activation

M = "M"  # 2x2 max pooling in a configuration
CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M],
    "vgg13": [64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M],
    "vgg16": [64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M],
    "vgg19": [64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M],
}


def make_features(
    config: Sequence[int | str],
    in_channels: int,
    norm: NormSpec = "none",
    act: ActSpec = "relu",
    width: float = 1.0,
    max_pools: int = 5,
) -> nn.Sequential:
    """The convolutional stack: 3x3 conv (+norm) + activation per number, 2x2 max pool per "M"."""
    layers: list[nn.Module] = []
    c, pools = in_channels, 0
    for v in config:
        if v == M:
            pools += 1
            if pools <= max_pools:
                layers.append(nn.MaxPool2d(2, 2))
            continue
        w = scaled(int(v), width)
        layers += list(conv_norm_act(c, w, 3, 1, 1, norm=norm, act=act, bias=True))
        c = w
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """Args:
    config: widths and "M" pools (see CONFIGS).
    norm: normalization after each convolution ("none" for the paper's nets, "batch" for `_bn`).
    width: multiplier of every convolution's width.
    max_pools: keep only the first `max_pools` poolings (small inputs cannot be halved five times).
    pooled: side of the adaptive average pool before the classifier.
    hidden: units of the two hidden linear layers.
    init_mode: "fan_out" (torchvision) or "fan_in" He init of the convolutions.
    """

    def __init__(
        self,
        config: Sequence[int | str],
        num_classes: int = 1000,
        in_channels: int = 3,
        norm: NormSpec = "none",
        act: ActSpec = "relu",
        width: float = 1.0,
        max_pools: int = 5,
        pooled: int = 7,
        hidden: int = 4096,
        dropout: float = 0.5,
        init_mode: str = "fan_out",
    ):
        super().__init__()
        self.features = make_features(config, in_channels, norm, act, width, max_pools)
        c = scaled(512, width)
        self.avgpool = nn.AdaptiveAvgPool2d(pooled)
        self.classifier = nn.Sequential(
            nn.Linear(c * pooled * pooled, hidden),
            make_activation(act),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            make_activation(act),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        # torchvision's: He fan-out for convs, N(0, 0.01) for linears. Small variants use He fan-in for
        # every layer: the 3x3 maps of the last stages lose signal at their zero padding, and N(0, 0.01)
        # or torch's default linear init shrink it further, which stalls vgg16/19 without batch norm
        fan_in = init_mode == "fan_in"
        kaiming_init(self, linear_std=None if fan_in else 0.01, mode=init_mode, he_linear=fan_in)

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[B, in_channels, H, W] -> logits Tensor[B, num_classes]."""
        x = self.avgpool(self.features(x))  # (B, 512 * width, pooled, pooled)
        return self.classifier(x.flatten(1))  # (B, num_classes)


def _vgg(name: str, num_classes: int, in_channels: int, input_size: int, norm: NormSpec, **kw) -> VGG:
    if is_small(input_size):
        small = dict(width=0.25, max_pools=3, pooled=3, hidden=256, dropout=0.0, init_mode="fan_in")
        kw = {**small, **kw}
    return VGG(CONFIGS[name], num_classes, in_channels, norm=norm, **kw)


@register_model
def vgg11(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> VGG:
    """VGG-11 (configuration A of the paper's Table 1), without normalization; `kw` goes to `VGG`."""
    return _vgg("vgg11", num_classes, in_channels, input_size, **{"norm": "none", **kw})


@register_model
def vgg13(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> VGG:
    """VGG-13 (configuration B of the paper's Table 1), without normalization; `kw` goes to `VGG`."""
    return _vgg("vgg13", num_classes, in_channels, input_size, **{"norm": "none", **kw})


@register_model
def vgg16(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> VGG:
    """VGG-16 (configuration D of the paper's Table 1), without normalization; `kw` goes to `VGG`."""
    return _vgg("vgg16", num_classes, in_channels, input_size, **{"norm": "none", **kw})


@register_model
def vgg19(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> VGG:
    """VGG-19 (configuration E of the paper's Table 1), without normalization; `kw` goes to `VGG`."""
    return _vgg("vgg19", num_classes, in_channels, input_size, **{"norm": "none", **kw})


@register_model
def vgg11_bn(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> VGG:
    """VGG-11 (configuration A) with batch norm after every convolution (`norm=` changes it)."""
    return _vgg("vgg11", num_classes, in_channels, input_size, **{"norm": "batch", **kw})


@register_model
def vgg13_bn(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> VGG:
    """VGG-13 (configuration B) with batch norm after every convolution (`norm=` changes it)."""
    return _vgg("vgg13", num_classes, in_channels, input_size, **{"norm": "batch", **kw})


@register_model
def vgg16_bn(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> VGG:
    """VGG-16 (configuration D) with batch norm after every convolution (`norm=` changes it)."""
    return _vgg("vgg16", num_classes, in_channels, input_size, **{"norm": "batch", **kw})


@register_model
def vgg19_bn(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> VGG:
    """VGG-19 (configuration E) with batch norm after every convolution (`norm=` changes it)."""
    return _vgg("vgg19", num_classes, in_channels, input_size, **{"norm": "batch", **kw})
