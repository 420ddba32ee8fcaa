"""inception: the network without 1x1 reductions, and the two exact checks of the parameter counts."""

import pytest
import torch

from dlbasic.lab import LabContext, make_profile
from dlbasic.models import create_model
from dlbasic.models.googlenet import Inception
from dlbasic.studies import get_study
from dlbasic.studies.inception import per_module, without_reductions


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


@pytest.fixture(scope="module")
def measured():
    study = get_study("inception")
    assert [r.name for r in study.plan(LabContext(make_profile("quick")), {})] == ["study"]
    return study.measure(LabContext(make_profile("quick"))).numbers


def test_measured_counts_are_checked(measured):
    assert measured["params_with"] == 6_998_552  # GoogLeNet without auxiliary heads, 1000 classes
    v = get_study("inception").judge(measured)
    assert v.verdict == "checked" and [c["holds"] for c in v.checks] == [True, True]


def test_a_larger_total_or_module_fails():
    study = get_study("inception")
    m = {"params_with": 26_000_000, "params_without": 25_305_944, "macs_with": 1.6e9, "macs_without": 4.4e9}
    m |= {"modules_with": {"3a": 1}, "modules_without": {"3a": 2}}
    v = study.judge(m)
    assert v.verdict == "failed" and [c["holds"] for c in v.checks] == [False, True]
    v = study.judge(m | {"params_with": 7_000_000, "modules_with": {"3a": 3}})
    assert v.verdict == "failed" and [c["holds"] for c in v.checks] == [True, False]
