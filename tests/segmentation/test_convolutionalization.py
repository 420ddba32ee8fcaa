"""Convolutionalization keeps the parameters and the logits (float64, 1e-10) and gives heat maps on larger inputs."""

import pytest
import torch
from torch import nn

from dlbasic.models import create_model
from dlbasic.segmentation.convolutionalization import as_layers, convolutionalize

CASES = [  # (model, input size, channels, expected heat map side on a 2x larger input)
    ("simple_cnn", 28, 1, None),
    ("mlp", 8, 1, None),
    ("vgg11_bn", 28, 1, None),
    ("resnet18", 28, 1, None),
]


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name,size,channels,_", CASES)
def test_same_parameters_and_identical_logits_in_float64(name, size, channels, _):
    torch.manual_seed(0)
    model = create_model(name, num_classes=7, in_channels=channels, input_size=size).double().eval()
    fcn = convolutionalize(model, size, channels).eval()
    assert n_params(fcn) == n_params(model)
    assert not any(isinstance(m, nn.Linear) for m in fcn.modules())
    x = torch.randn(5, channels, size, size, dtype=torch.float64)
    heat = fcn(x)
    assert heat.shape == (5, 7, 1, 1)
    torch.testing.assert_close(heat[:, :, 0, 0], model(x), rtol=0, atol=1e-10)


@pytest.mark.parametrize("name,size,channels,_", CASES)
def test_larger_input_gives_a_heat_map_whose_windows_are_the_classifier(name, size, channels, _):
    """Every heat-map cell is the classifier applied to one window; check the corner windows literally."""
    torch.manual_seed(1)
    model = create_model(name, num_classes=5, in_channels=channels, input_size=size).double().eval()
    fcn = convolutionalize(model, size, channels).eval()
    big = torch.randn(1, channels, 2 * size, 2 * size, dtype=torch.float64)
    heat = fcn(big)
    assert heat.shape[:2] == (1, 5) and heat.shape[2] > 1 and heat.shape[3] > 1
    if name in ("mlp", "simple_cnn"):  # no padding: a cell is exactly the classifier on its window
        torch.testing.assert_close(heat[:, :, 0, 0], model(big[..., :size, :size]), rtol=0, atol=1e-10)
        torch.testing.assert_close(heat[:, :, -1, -1], model(big[..., -size:, -size:]), rtol=0, atol=1e-10)
        stride = 1 if name == "mlp" else 2
        assert heat.shape[-1] == (2 * size - size) // stride + 1


def test_flat_layer_list_of_a_sequential_classifier_runs_like_the_model():
    model = create_model("simple_cnn", 10, 1, 28).eval()
    x = torch.rand(2, 1, 28, 28)
    y = x
    for layer in as_layers(model):
        y = layer(y)
    torch.testing.assert_close(y, model(x))
