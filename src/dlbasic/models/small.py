"""`tiny_cnn`: a small configurable CNN for regularization and normalization experiments on small images.

Two stages of conv3x3 (padding 1) -> norm -> activation -> 2x2 max pool, then dropout -> linear -> activation
-> dropout -> linear. The normalization layer is chosen by name through `dlbasic.nn.make_norm` (the layers
written from scratch: batch, group, layer, instance, none), so the same network can be trained with batch
norm (Ioffe & Szegedy 2015, https://arxiv.org/abs/1502.03167) or group norm (Wu & He 2018,
https://arxiv.org/abs/1803.08494) and nothing else changes. With 16 and 32 channels and a 64-unit hidden
layer it has about 110k parameters at 28x28 and trains at thousands of images per second on one CPU core.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from dlbasic.errors import check
from dlbasic.models.registry import register_model
from dlbasic.nn.activations import make_activation
from dlbasic.nn.norm import make_norm

MAX_SIDE = 7  # the features are average-pooled to at most 7x7 before the classifier, whatever the input size


class TinyCNN(nn.Module):
    """Conv-norm-act-pool stages and a two-layer classifier.

    Args:
        num_classes, in_channels, input_size: the data (input Tensor[B, in_channels, S, S]).
        channels: output channels of each conv stage.
        hidden: width of the hidden linear layer (0: none).
        norm: "batch", "group", "layer", "instance" or "none", after every convolution.
        groups: number of groups for group norm (reduced to a divisor of the width).
        dropout: drop probability before each linear layer.
        act: activation name.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int = 28,
        channels: Sequence[int] = (16, 32),
        hidden: int = 64,
        norm: str = "none",
        groups: int = 8,
        dropout: float = 0.0,
        act: str = "relu",
    ):
        super().__init__()
        check(len(channels) >= 1, "tiny_cnn needs at least one conv stage")
        check(
            input_size >= 2 ** len(channels),
            f"tiny_cnn with {len(channels)} pooling stages needs inputs of "
            f"at least {2 ** len(channels)} pixels, got {input_size}",
        )
        check(0.0 <= dropout < 1.0, f"dropout must be in [0, 1), got {dropout}")
        layers: list[nn.Module] = []
        width, side = in_channels, input_size
        for c in channels:
            layers += [
                nn.Conv2d(width, c, 3, padding=1, bias=norm == "none"),
                make_norm(norm, c, groups),
                make_activation(act),
                nn.MaxPool2d(2),
            ]
            width, side = c, side // 2
        side = min(side, MAX_SIDE)
        layers.append(nn.AdaptiveAvgPool2d(side))
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = [nn.Flatten(), nn.Dropout(dropout)]
        features = width * side * side
        if hidden:
            head += [nn.Linear(features, hidden), make_activation(act), nn.Dropout(dropout)]
            features = hidden
        head.append(nn.Linear(features, num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[B, in_channels, S, S] -> logits Tensor[B, num_classes]."""
        return self.classifier(self.features(x))  # (B, C, S, S) -> (B, num_classes)


@register_model
def tiny_cnn(num_classes: int = 10, in_channels: int = 1, input_size: int = 28, **kw) -> TinyCNN:
    """Registry factory of `TinyCNN`; `kw` (channels, norm, dropout, ...) goes to its constructor."""
    return TinyCNN(num_classes, in_channels, input_size, **kw)


__all__ = ["MAX_SIDE", "TinyCNN", "tiny_cnn"]
