"""A small convolutional backbone for the 64-128 pixel `scenes` (and resized VOC/COCO images).

The detectors of the notebook ran on ImageNet-pretrained AlexNet/VGG/GoogLeNet-like networks at
224-600 pixels; here every detector trains from scratch on small images on a CPU, so they share a
few conv-BN-ReLU stages (VGG-style 3x3 convolutions, Simonyan and Zisserman 2014,
https://arxiv.org/abs/1409.1556) with 2x2 max pooling after the first `downsamples` stages. The
output stride is `2 ** downsamples`: 4 for the RoI detectors (a 20-pixel digit covers 5 cells),
8 for YOLO (its S x S grid is the feature map).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


def conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    """3x3 convolution (padding 1, no bias) -> batch norm -> ReLU: Tensor[N, cin, H, W] -> Tensor[N, cout, H, W]."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallBackbone(nn.Module):
    """conv-BN-ReLU stages; 2x2 max pooling after each of the first `downsamples` stages.

    Args:
        in_channels: image channels (1 for scenes, 3 for photos).
        widths: output channels of each stage.
        downsamples: how many stages halve the resolution (output stride 2 ** downsamples).

    Attributes:
        out_channels: channels of the output map.
        stride: image pixels per output cell.
    """

    def __init__(self, in_channels: int = 1, widths: Sequence[int] = (16, 32, 64), downsamples: int = 2):
        super().__init__()
        if not 0 <= downsamples <= len(widths):
            raise ValueError(f"downsamples must be in [0, {len(widths)}], got {downsamples}")
        layers: list[nn.Module] = []
        cin = in_channels
        for i, w in enumerate(widths):
            layers.append(conv_bn_relu(cin, w))
            if i < downsamples:
                layers.append(nn.MaxPool2d(2))
            cin = w
        self.body = nn.Sequential(*layers)
        self.out_channels = cin
        self.stride = 2**downsamples

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[N, C, H, W] in [0, 1] -> Tensor[N, out_channels, H / stride, W / stride]."""
        return self.body(x)


class RegionClassifier(nn.Module):
    """R-CNN's per-region network: backbone, 2x2 average pooling, one fc layer ("fc7"), a classifier.

    `features(x)` gives the fc vector the SVMs and box regressors use; `forward(x)` the logits of
    `num_classes + 1` classes (0 = background) used to fine-tune the network on warped regions.
    """

    def __init__(self, in_channels: int, num_classes: int, widths: Sequence[int] = (16, 32, 64), hidden: int = 128):
        super().__init__()
        self.backbone = SmallBackbone(in_channels, widths, downsamples=len(widths))
        self.fc = nn.Sequential(
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(4 * self.backbone.out_channels, hidden),
            nn.ReLU(inplace=True),
        )
        self.cls = nn.Linear(hidden, num_classes + 1)
        self.feature_dim = hidden

    def features(self, x: Tensor) -> Tensor:
        """Tensor[K, C, h, w] warped regions -> Tensor[K, hidden]."""
        return self.fc(self.backbone(x))

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[K, C, h, w] warped regions -> logits Tensor[K, num_classes + 1] (class 0: background)."""
        return self.cls(self.features(x))
