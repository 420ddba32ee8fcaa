"""AlexNet: Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional
Neural Networks", NeurIPS 2012 (https://papers.nips.cc/paper/4824).

Two variants share one class:
- `alexnet` is torchvision's single-tower network (64-192-384-256-256 channels, no LRN; it follows
  Krizhevsky's "One weird trick", https://arxiv.org/abs/1404.5997), 61,100,840 parameters.
- `alexnet_2012` is the paper's: 96-256-384-384-256 channels, local response normalization after
  conv1 and conv2 (k=2, n=5, alpha=1e-4, beta=0.75), overlapping 3x3/2 max pooling, and the two-GPU
  split kept as grouped convolutions (conv2, conv4, conv5 see only their own GPU's half: groups=2).
Small inputs (<= 64) keep the layout with 3x3 stride-1 convolutions, narrow widths and a 256-unit head.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from dlbasic.models._layers import ActSpec, NormSpec, has_norm, is_small, kaiming_init, make_norm
from dlbasic.models.registry import register_model
from dlbasic.nn.activations import make_activation


class AlexNet(nn.Module):
    """Five convolutions with max pooling after the 1st, 2nd and 5th, then three linear layers.

    Args:
        widths: output channels of the five convolutions.
        kernels: kernel sizes of the five convolutions.
        stride1: stride of the first convolution (4 in the paper).
        groups: groups of each convolution (the paper's two-GPU split is (1, 2, 1, 2, 2)).
        lrn: local response normalization after conv1 and conv2 (the paper's).
        pool: max-pool kernel; stride 2 always, so 3 gives the paper's overlapping pooling.
        pool_padding: zero padding of the max pools (1 keeps odd small maps from shrinking too fast).
        pooled: side of the adaptive average pool before the classifier.
        hidden: units of the two hidden linear layers.
        norm: optional normalization after every convolution ("batch", "group", ... or "none").
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        widths: Sequence[int] = (64, 192, 384, 256, 256),
        kernels: Sequence[int] = (11, 5, 3, 3, 3),
        stride1: int = 4,
        groups: Sequence[int] = (1, 1, 1, 1, 1),
        lrn: bool = False,
        pool: int = 3,
        pool_padding: int = 0,
        pooled: int = 6,
        hidden: int = 4096,
        dropout: float = 0.5,
        norm: NormSpec = "none",
        act: ActSpec = "relu",
    ):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for i, (w, k, g) in enumerate(zip(widths, kernels, groups)):
            pad = 2 if i == 0 and k == 11 else k // 2  # conv1: 224 + 2*2 -> 55, as the paper's 227
            layers.append(nn.Conv2d(c, w, k, stride1 if i == 0 else 1, pad, groups=g))
            if has_norm(norm):
                layers.append(make_norm(norm, w))
            layers.append(make_activation(act))
            if lrn and i < 2:
                layers.append(nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0))
            if i in (0, 1, 4):
                layers.append(nn.MaxPool2d(pool, 2, pool_padding))
            c = w
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(pooled)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(c * pooled * pooled, hidden),
            make_activation(act),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            make_activation(act),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[B, in_channels, H, W] -> logits Tensor[B, num_classes]."""
        x = self.avgpool(self.features(x))  # (B, C, pooled, pooled)
        return self.classifier(x.flatten(1))  # (B, num_classes)


def _small(num_classes: int, in_channels: int, **kw) -> AlexNet:
    # 28 -> 14 -> 7 -> 4 with padded 3x3/2 pooling; widths about 1/4 of the paper's
    defaults = dict(
        widths=(24, 64, 96, 96, 64), kernels=(3, 3, 3, 3, 3), stride1=1, pool_padding=1, pooled=4, hidden=256
    )
    model = AlexNet(num_classes, in_channels, **{**defaults, **kw})
    kaiming_init(model, linear_std=None)
    return model


@register_model
def alexnet(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> AlexNet:
    """torchvision's single-tower AlexNet (61,100,840 parameters at 1000 classes)."""
    if is_small(input_size):
        return _small(num_classes, in_channels, **kw)
    return AlexNet(num_classes, in_channels, **kw)


@register_model
def alexnet_2012(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw) -> AlexNet:
    """The paper's AlexNet: LRN, overlapping pooling, two-GPU grouped convolutions, dropout 0.5."""
    paper = dict(groups=(1, 2, 1, 2, 2), lrn=True)
    if is_small(input_size):
        return _small(num_classes, in_channels, **{**paper, **kw})
    widths = (96, 256, 384, 384, 256)
    model = AlexNet(num_classes, in_channels, **{"widths": widths, **paper, **kw})
    # the paper's init: N(0, 0.01) weights; biases 1 in conv2, conv4, conv5 and the hidden FC layers, else 0
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.classifier if isinstance(m, nn.Linear)]
    for i, m in enumerate(convs + linears):
        nn.init.normal_(m.weight, 0.0, 0.01)
        nn.init.constant_(m.bias, 1.0 if i in (1, 3, 4, 5, 6) else 0.0)
    return model
