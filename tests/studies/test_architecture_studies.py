"""The architecture studies' measuring helpers against closed forms and published numbers."""

import math

import pytest
import torch
from torch import nn

from dlbasic.models import create_model
from dlbasic.models.googlenet import INCEPTION, Inception
from dlbasic.models.resnet import BasicBlock, Bottleneck
from dlbasic.studies import SUPPORTED, run_study
from dlbasic.studies.bottleneck import block_cost
from dlbasic.studies.densenet import channel_trace, expected_trace
from dlbasic.studies.inception import per_module, without_reductions
from dlbasic.studies.one_by_one import direct, googlenet_branches, reduced
from dlbasic.studies.relu import epochs_to, gain_init, grad_norms_at_init
from dlbasic.studies.vgg_3x3 import equal_field_net, stack, weights


def test_one_by_one_counts_match_the_lecture_example():
    assert direct(128, 128, 3) == 147_456
    assert reduced(128, 32, 128, 3) == 4_096 + 36_864


def test_googlenet_branches_follow_table_1():
    rows = googlenet_branches()
    assert len(rows) == 2 * len(INCEPTION)
    first = rows[0]  # 3a, 3x3 branch: 192 -> 96 -> 128
    assert (first["in"], first["reduce"], first["out"]) == (192, 96, 128)
    assert first["direct"] == 9 * 192 * 128 and first["reduced"] == 192 * 96 + 9 * 96 * 128
    # the input of 4a is 3b's output: 128 + 192 + 96 + 64 = 480 channels (Table 1)
    assert next(r["in"] for r in rows if r["module"] == "4a") == 480


def test_without_reductions_keeps_shapes_and_counts_bare_branches():
    torch.manual_seed(0)
    ours = create_model("googlenet", num_classes=10, in_channels=1, input_size=28).eval()
    bare = without_reductions(create_model("googlenet", num_classes=10, in_channels=1, input_size=28)).eval()
    x = torch.randn(2, 1, 28, 28)
    assert bare(x).shape == ours(x).shape == (2, 10)
    for name, block in bare.named_modules():
        if isinstance(block, Inception):
            c = block.branch1[0].in_channels
            n1, n3 = block.branch1[0].out_channels, block.branch3[0].out_channels
            n5, proj = block.branch5[0].out_channels, block.branch_pool[1][0].out_channels
            expected = (c + 1) * n1 + (9 * c + 1) * n3 + (25 * c + 1) * n5 + (c + 1) * proj
            assert per_module(bare)[name.removeprefix("blocks.inception")] == expected


def test_bottleneck_block_costs_match_closed_forms():
    w, side = 256, 56
    with torch.device("meta"):
        basic = block_cost(BasicBlock(w, w), w, side)
        bottle = block_cost(Bottleneck(w, w // 4), w, side)
    assert basic == (2 * 9 * w * w + 2 * 2 * w, 2 * 9 * w * w * side * side)
    r = w // 4
    assert bottle[0] == w * r + 9 * r * r + r * w + 2 * (2 * r) + 2 * w  # convs + three batch norms
    assert bottle[1] == (w * r + 9 * r * r + r * w) * side * side


def test_densenet121_trace_matches_torchvision_widths():
    trace, params = channel_trace(0.5)
    assert trace == expected_trace(0.5)
    assert [c for kind, c in trace if kind == "transition"] == [128, 256, 512]
    assert trace[-1] == ("layer", 1024 - 32)  # the last layer adds 32 maps: 1024 into the classifier
    assert params == 7_978_856  # torchvision's densenet121


def test_vgg_stacks_weights_and_equal_field_net():
    for c in (8, 64):
        assert weights(stack(2, c)) == 18 * c * c and weights(stack(0, c, 5)) == 25 * c * c
        assert weights(stack(3, c)) == 27 * c * c and weights(stack(0, c, 7)) == 49 * c * c
    for kind in ("3x3", "5x5"):
        assert equal_field_net(kind, 1, 10)(torch.zeros(3, 1, 8, 8)).shape == (3, 10)


def test_gain_init_scales_weights_by_the_activation_gain():
    layer = nn.Sequential(nn.Linear(400, 300))
    for act, gain in (("relu", math.sqrt(2)), ("tanh", 5 / 3), ("sigmoid", 1.0)):
        gain_init(layer, act, seed=0)
        std = layer[0].weight.std().item()
        assert abs(std - gain / 20) < 0.02 * gain / 20 * 3  # 120k samples: relative error of the std ~0.2 %
        assert layer[0].bias.abs().max().item() == 0


def test_grad_norms_one_per_layer_and_sigmoid_vanishes():
    relu, sigmoid = grad_norms_at_init("relu", 0), grad_norms_at_init("sigmoid", 0)
    assert len(relu) == len(sigmoid) == 11  # 10 hidden layers + the classifier
    # sigmoid'(x) <= 1/4 per layer: the first layer's gradient is orders of magnitude below the last one's
    assert sigmoid[0] / sigmoid[-1] < 1e-3 < relu[0] / relu[-1]


def test_epochs_to_target():
    history = [{"val_accuracy": a} for a in (0.5, 0.89, 0.9, 0.95)]
    assert epochs_to(history, 0.9) == 3
    assert epochs_to(history, 0.99) == 5


@pytest.mark.parametrize("study_id", ["one-by-one", "densenet"])
def test_analytic_studies_run(study_id):
    assert run_study(study_id)["verdict"] == SUPPORTED


@pytest.mark.slow
@pytest.mark.parametrize("study_id", ["inception", "bottleneck", "vgg-3x3", "relu", "resnet"])
def test_studies_run_end_to_end(study_id):
    result = run_study(study_id)
    assert result["figures"] and result["numbers"]
