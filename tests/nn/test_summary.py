"""summarize(): parameters, MACs and receptive fields against closed forms and published numbers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dlbasic.models import create_model
from dlbasic.nn.conv import receptive_field
from dlbasic.nn.summary import summarize


def meta(name: str, **kw) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, num_classes=1000, in_channels=3, input_size=224, **kw)


def test_resnet50_macs_and_params() -> None:
    s = summarize(meta("resnet50"), 224)
    assert s.params == 25_557_032
    assert s.macs == 4_089_184_256  # torchvision reports 4.09 GFLOPS (= multiply-adds) for ResNet50_Weights
    assert round(s.macs / 1e9, 1) == 4.1


def test_vgg16_rows_match_closed_forms() -> None:
    s = summarize(meta("vgg16"), 224)
    convs = [r for r in s.rows if r.type == "Conv2d"]
    assert len(convs) == 13
    # conv1_2: 224x224x64 outputs, each 64 * 3 * 3 MACs; its params 64 * 64 * 9 + 64
    assert convs[1].macs == 224 * 224 * 64 * 64 * 9 and convs[1].params == 64 * 64 * 9 + 64
    assert convs[1].output_shape == (1, 64, 224, 224)
    # receptive fields of the conv stack equal receptive_field() over (kernel, stride) per layer
    layers = [(3, 1) if r.type == "Conv2d" else (2, 2) for r in s.rows if r.type in ("Conv2d", "MaxPool2d")]
    fields = [r.receptive_field for r in s.rows if r.type in ("Conv2d", "MaxPool2d")]
    assert fields == [r for r, _ in receptive_field(layers)]
    assert fields[-2:] == [196, 212]  # conv5_3 and pool5
    assert s.params == sum(r.params for r in s.rows) == 138_357_544
    assert round(s.macs / 1e9, 2) == 15.47  # the usual 15.5 G multiply-adds


def test_resnet_field_takes_the_longest_path() -> None:
    s = summarize(meta("resnet18"), 224)
    rows = {r.name: r for r in s.rows}
    # stem: 7x7/2 conv (7), 3x3/2 pool (7 + 2 * 2 = 11); a basic block adds two 3x3 at jump 4: 11 + 16
    assert rows["stem.0"].receptive_field == 7 and rows["stem.3"].receptive_field == 11
    assert rows["layer1.0.conv2.0"].receptive_field == 27
    # the block's output (after the residual sum) keeps the main path's field, not the identity's
    assert rows["layer1.0.act"].receptive_field == 27


def test_inception_concat_takes_the_largest_branch() -> None:
    s = summarize(meta("googlenet"), 224)
    rows = {r.name: r for r in s.rows}
    before = rows["stem.6"].receptive_field  # the stem's last max pool
    jump = 8  # stride of the 28x28 map
    branch5 = rows["blocks.inception3a.branch5.1.1"].receptive_field  # 5x5 conv's ReLU
    assert branch5 == before + 4 * jump
    assert rows["blocks.inception3b.branch1.0"].receptive_field == branch5  # 1x1 after the concat


def test_global_pool_sees_the_whole_map() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3))
    s = summarize(net, 8, in_channels=1)
    assert [r.receptive_field for r in s.rows] == [3, 3 + 7, 10, 10]
    assert [r.macs for r in s.rows] == [8 * 8 * 2 * 9, 0, 0, 6]
    assert s.output_shape == (1, 3)


def test_real_device_matches_meta_and_restores_training_mode() -> None:
    model = create_model("resnet18", num_classes=10, in_channels=1, input_size=28).train()
    s = summarize(model, 28, in_channels=1)
    assert model.training
    with torch.device("meta"):
        m = create_model("resnet18", num_classes=10, in_channels=1, input_size=28)
    t = summarize(m, 28, in_channels=1)
    assert [(r.name, r.output_shape, r.params, r.macs, r.receptive_field) for r in s.rows] == [
        (r.name, r.output_shape, r.params, r.macs, r.receptive_field) for r in t.rows
    ]


def test_table_prints_every_row_and_totals() -> None:
    s = summarize(meta("alexnet"), 224)
    text = s.table()
    assert len(text.splitlines()) == len(s.rows) + 4  # header, rule, rows, rule, totals
    assert "61,100,840 parameters" in text and "0.714 GMACs" in text and "features.0" in text


@pytest.mark.parametrize("name", ["densenet121", "googlenet_tv", "alexnet_2012"])
def test_totals_equal_parameter_count(name: str) -> None:
    m = meta(name)
    assert summarize(m, 224).params == sum(p.numel() for p in m.parameters())


def test_upsampling_adaptive_pool_adds_no_positions() -> None:
    # VGG-16 at 65: pool5 leaves 2x2 (field 212, jump 32); the 7x7 adaptive pool copies those 2x2
    # positions, so the classifier sees 212 + (2 - 1) * 32, not 212 + 6 * 32
    s = summarize(meta("vgg16"), 65)
    assert [r.receptive_field for r in s.rows if r.type == "MaxPool2d"][-1] == 212
    assert s.rows[-1].receptive_field == 244
