"""The regularization studies' pieces: tiny_cnn, the measurement helpers, and the analytic cutmix-ratio study."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dlbasic.data import ImageDataset
from dlbasic.models import create_model
from dlbasic.nn import BatchNorm2d, GroupNorm
from dlbasic.studies.dropout import accuracy, max_norm_
from dlbasic.studies.noise import noisy_input_accuracy, noisy_weight_accuracy, robust_accuracy
from dlbasic.studies.weight_decay import jacobian_norm, weight_norm


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(("size", "side"), [(28, 7), (8, 2), (64, 7)])
def test_tiny_cnn_parameter_count_closed_form(size, side):
    m = create_model("tiny_cnn", num_classes=10, in_channels=1, input_size=size)
    convs = (1 * 16 * 9 + 16) + (16 * 32 * 9 + 32)  # biases: no norm layer
    head = (32 * side * side * 64 + 64) + (64 * 10 + 10)
    assert n_params(m) == convs + head
    assert m(torch.randn(3, 1, size, size)).shape == (3, 10)


def test_tiny_cnn_norm_layers_are_the_librarys():
    bn = create_model("tiny_cnn", input_size=28, in_channels=1, norm="batch")
    gn = create_model("tiny_cnn", input_size=28, in_channels=1, norm="group", groups=8)
    assert sum(isinstance(x, BatchNorm2d) for x in bn.modules()) == 2
    groups = [x.num_groups for x in gn.modules() if isinstance(x, GroupNorm)]
    assert groups == [8, 8]
    assert not any(isinstance(x, nn.Conv2d) and x.bias is not None for x in bn.modules())  # norm has the shift
    # two norm layers of 16 and 32 channels add gamma and beta, and remove the conv biases
    plain = create_model("tiny_cnn", input_size=28, in_channels=1)
    assert n_params(bn) == n_params(plain) + 2 * (16 + 32) - (16 + 32)


def test_tiny_cnn_dropout_is_active_only_in_training():
    m = create_model("tiny_cnn", input_size=8, in_channels=1, dropout=0.5)
    x = torch.randn(4, 1, 8, 8)
    m.eval()
    assert torch.equal(m(x), m(x))
    m.train()
    torch.manual_seed(0)
    assert not torch.equal(m(x), m(x))


def test_weight_norm_counts_weight_matrices_only():
    lin = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2), nn.Linear(2, 1))
    w1, w2 = (lin[k].weight.detach().double() for k in (0, 2))
    expected = math.sqrt(sum(float(x) ** 2 for x in [*w1.flatten(), *w2.flatten()]))  # a literal sum of squares
    assert weight_norm(lin.state_dict()) == pytest.approx(expected, rel=1e-12)


def test_jacobian_norm_of_a_linear_map_is_its_frobenius_norm():
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))
    x = torch.randn(40_000, 1, 3, 4)
    # Hutchinson: E ||W^T v||^2 = ||W||_F^2; 40,000 probes give about 0.5 % standard error on the root
    assert jacobian_norm(lin, x) == pytest.approx(float(lin[1].weight.norm()), rel=0.02)


def _toy_data() -> tuple[nn.Module, ImageDataset]:
    g = torch.Generator().manual_seed(1)
    images = torch.rand(200, 1, 4, 4, generator=g)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    with torch.no_grad():
        labels = model(images).argmax(1)  # the model is right on every clean image
    data = ImageDataset(images, labels, ["a", "b", "c"], torch.zeros(1), torch.ones(1))
    return model, data


def test_noise_helpers_are_clean_accuracy_at_zero_noise_and_restore_the_weights():
    model, data = _toy_data()
    before = [p.detach().clone() for p in model.parameters()]
    assert accuracy(model, data) == 1.0
    assert noisy_input_accuracy(model, data, 0.0, seed=0) == 1.0
    assert noisy_weight_accuracy(model, data, 0.0, seed=0) == 1.0
    assert noisy_weight_accuracy(model, data, 5.0, seed=0) < 0.9  # large noise breaks it ...
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # ... and is taken back
    assert noisy_input_accuracy(model, data, 2.0, seed=0) < 1.0


def test_robust_accuracy_averages_the_judged_levels_per_seed():
    curve = {"0": [1.0, 1.0], "0.5": [0.9, 0.8], "1": [0.5, 0.5], "2": [0.7, 0.4]}
    assert robust_accuracy(curve, (0.5, 2.0)) == pytest.approx([0.8, 0.6])
    assert robust_accuracy(curve, (1.0,)) == pytest.approx([0.5, 0.5])


def test_max_norm_clips_hidden_rows_only_and_keeps_short_ones():
    net = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[3.0, 4.0, 0.0], [0.3, 0.4, 0.0]]))  # norms 5 and 0.5
        net[2].weight.fill_(10.0)
    max_norm_(net, 2.0)
    torch.testing.assert_close(net[0].weight, torch.tensor([[1.2, 1.6, 0.0], [0.3, 0.4, 0.0]]))
    torch.testing.assert_close(net[2].weight, torch.full((2, 2), 10.0))  # the output layer has no hidden units
