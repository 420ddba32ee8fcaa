"""bottleneck: block costs against He et al.'s closed forms, and the exact checks of the counts."""

import copy

import pytest
import torch

from dlbasic.lab import LabContext, make_profile
from dlbasic.models.resnet import BasicBlock, Bottleneck
from dlbasic.studies import get_study
from dlbasic.studies.bottleneck import block_cost, closed_forms


def test_bottleneck_block_costs_match_closed_forms():
    w, side = 256, 56
    with torch.device("meta"):
        basic = block_cost(BasicBlock(w, w), w, side)
        bottle = block_cost(Bottleneck(w, w // 4), w, side)
    assert basic == (2 * 9 * w * w + 2 * 2 * w, 2 * 9 * w * w * side * side)
    r = w // 4
    assert bottle[0] == w * r + 9 * r * r + r * w + 2 * (2 * r) + 2 * w  # convs + three batch norms
    assert bottle[1] == (w * r + 9 * r * r + r * w) * side * side
    assert closed_forms(w, side) == {
        "basic_params": basic[0],
        "basic_macs": basic[1],
        "bottleneck_params": bottle[0],
        "bottleneck_macs": bottle[1],
    }
    assert 17 * w * w // 16 == w * r + 9 * r * r + r * w  # the paper's 17 W^2 / 16


@pytest.fixture(scope="module")
def measured():
    study = get_study("bottleneck")
    assert [r.name for r in study.plan(LabContext(make_profile("quick")), {})] == ["study"]
    return study.measure(LabContext(make_profile("quick"))).numbers


def test_measured_counts_are_checked(measured):
    assert measured["network"]["bottleneck_params"] == 25_557_032  # torchvision's resnet50
    v = get_study("bottleneck").judge(measured)
    assert v.verdict == "checked" and len(v.checks) == 3 and all(c["holds"] for c in v.checks)


@pytest.mark.parametrize(
    "change, failing",
    [
        (lambda m: m.update(matches_closed_forms=False), 0),
        (lambda m: m["blocks"][1].update(bottleneck_macs=10**12), 1),
        (lambda m: m["network"].update(bottleneck_params=4 * 10**8), 2),
    ],
)
def test_each_check_fails_on_its_own(measured, change, failing):
    m = copy.deepcopy(measured)
    change(m)
    v = get_study("bottleneck").judge(m)
    assert v.verdict == "failed" and [i for i, c in enumerate(v.checks) if not c["holds"]] == [failing]
