"""Small classifiers for MNIST-sized images.

`simple_cnn` is the classic network of pytorch/examples' MNIST example
(https://github.com/pytorch/examples/blob/main/mnist/main.py): two 3x3 convolutions (32, 64),
2x2 max pooling, dropout 0.25, a 128-unit hidden layer, dropout 0.5. `mlp` is a multilayer perceptron.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from dlbasic.errors import check
from dlbasic.models.registry import register_model
from dlbasic.nn.activations import make_activation


class SimpleCNN(nn.Module):
    """The pytorch/examples MNIST network: two valid 3x3 convolutions (32, 64), 2x2 max pooling, a 128-unit layer.

    `dropout` is applied after the pooling and twice that rate before the last layer (0.25 and 0.5 by default);
    `act` names the activation. Inputs must be at least 6x6.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int = 28,
        dropout: float = 0.25,
        act: str = "relu",
    ):
        super().__init__()
        check(input_size >= 6, f"simple_cnn needs inputs of at least 6x6, got {input_size}")
        side = (input_size - 4) // 2  # two valid 3x3 convolutions, then 2x2 pooling
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3),
            make_activation(act),
            nn.Conv2d(32, 64, 3),
            make_activation(act),
            nn.MaxPool2d(2),
            nn.Dropout(dropout),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * side * side, 128),
            make_activation(act),
            nn.Dropout(2 * dropout),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[B, in_channels, S, S] -> logits Tensor[B, num_classes]."""
        return self.classifier(self.features(x))  # (B, num_classes)


class MLP(nn.Module):
    """A multilayer perceptron on the flattened image: Linear -> activation (-> dropout) per hidden width, then Linear.

    Args:
        hidden: the widths of the hidden layers, e.g. (256, 128).
        dropout: dropout after every hidden activation (0: none).
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int = 28,
        hidden: Sequence[int] = (256, 128),
        dropout: float = 0.0,
        act: str = "relu",
    ):
        super().__init__()
        check(
            isinstance(hidden, Sequence)
            and not isinstance(hidden, str)
            and all(isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in hidden),
            f"mlp hidden must be a list of positive layer widths, got {hidden!r}",
            "e.g. hidden=[256,128]",
        )
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_channels * input_size * input_size
        for h in hidden:
            layers += [nn.Linear(width, h), make_activation(act)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[B, in_channels, S, S] -> logits Tensor[B, num_classes]."""
        return self.net(x)


@register_model
def simple_cnn(num_classes: int = 10, in_channels: int = 1, input_size: int = 28, **kw) -> SimpleCNN:
    """Registry factory of `SimpleCNN` (the pytorch/examples MNIST network); `kw` goes to its constructor."""
    return SimpleCNN(num_classes, in_channels, input_size, **kw)


@register_model
def mlp(num_classes: int = 10, in_channels: int = 1, input_size: int = 28, **kw) -> MLP:
    """Registry factory of `MLP`; `kw` (hidden, dropout, act) goes to its constructor."""
    return MLP(num_classes, in_channels, input_size, **kw)


def count_parameters(model: nn.Module) -> int:
    """The number of scalars in all of `model`'s parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


__all__ = ["MLP", "SimpleCNN", "count_parameters", "mlp", "simple_cnn"]
