"""BoxCoder, AnchorGenerator, Matcher and BalancedPositiveNegativeSampler."""

from __future__ import annotations

import math

import pytest
import torch

from dlbasic.detection.components.matcher import BalancedPositiveNegativeSampler, Matcher
from dlbasic.detection.ops.anchors import AnchorGenerator, base_anchors
from dlbasic.detection.ops.box_coder import BoxCoder
from dlbasic.detection.ops.boxes import box_area, box_iou


def rand_boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 100
    return torch.cat([xy, xy + 2 + torch.rand(n, 2, generator=g, dtype=torch.float64) * 50], 1)


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_box_coder_round_trip_and_formula(weights):
    coder = BoxCoder(weights)
    gt, anchors = rand_boxes(30, 0), rand_boxes(30, 1)
    deltas = coder.encode(gt, anchors)
    torch.testing.assert_close(coder.decode(deltas, anchors), gt)
    a, b = anchors[0].tolist(), gt[0].tolist()
    aw, ah, bw, bh = a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1]
    expected = [
        weights[0] * ((b[0] + bw / 2) - (a[0] + aw / 2)) / aw,
        weights[1] * ((b[1] + bh / 2) - (a[1] + ah / 2)) / ah,
        weights[2] * math.log(bw / aw),
        weights[3] * math.log(bh / ah),
    ]
    assert deltas[0].tolist() == pytest.approx(expected, rel=1e-12)


def test_box_coder_per_class_deltas_and_clamp():
    coder = BoxCoder()
    anchors = torch.tensor([[0.0, 0.0, 10.0, 10.0], [10.0, 10.0, 30.0, 20.0]])
    deltas = torch.zeros(2, 8)
    deltas[:, 6] = 100.0  # class 1 dw: exp(100) would overflow, clamped to log(1000/16)
    out = coder.decode(deltas, anchors)
    assert out.shape == (2, 8)
    torch.testing.assert_close(out[:, :4], anchors)
    widths = out[:, 6] - out[:, 4]
    torch.testing.assert_close(widths, (anchors[:, 2] - anchors[:, 0]) * 1000 / 16)


def test_base_anchors_area_and_ratio():
    anchors = base_anchors([32, 64], [0.5, 1.0, 2.0]).double()
    w, h = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    sizes = torch.tensor([32.0, 64.0] * 3, dtype=torch.float64)
    ratios = torch.tensor([0.5, 0.5, 1.0, 1.0, 2.0, 2.0], dtype=torch.float64)
    ones = torch.ones(6, dtype=torch.float64)
    torch.testing.assert_close(w * h / sizes**2, ones, atol=0.1, rtol=0)  # base anchors are rounded
    torch.testing.assert_close(h / w, ratios, atol=0.1, rtol=0)
    torch.testing.assert_close(anchors[:, :2], -anchors[:, 2:])  # centred


def test_anchor_generator_grid():
    gen = AnchorGenerator(sizes=((16,), (32, 64)), aspect_ratios=((1.0, 2.0),))
    assert gen.num_anchors_per_location() == [2, 4]
    anchors = gen((64, 96), [(4, 6), (2, 3)])
    assert anchors.shape == (4 * 6 * 2 + 2 * 3 * 4, 4)
    # cell (row 1, column 2) of level 0, ratio 1: stride 16, base [-8, -8, 8, 8]
    assert anchors[(1 * 6 + 2) * 2].tolist() == [24.0, 8.0, 40.0, 24.0]
    centred = AnchorGenerator(((16,),), ((1.0,),), offset=0.5)((32, 32), [(2, 2)])
    assert centred.tolist() == [
        [0.0, 0.0, 16.0, 16.0],
        [16.0, 0.0, 32.0, 16.0],
        [0.0, 16.0, 16.0, 32.0],
        [16.0, 16.0, 32.0, 32.0],
    ]
    torch.testing.assert_close(box_area(centred), torch.full((4,), 256.0))
    with pytest.raises(ValueError):
        gen((64, 96), [(4, 6)])


def test_matcher_thresholds_and_low_quality():
    quality = torch.tensor([[0.9, 0.65, 0.2, 0.1, 0.55], [0.0, 0.1, 0.3, 0.29, 0.55]])
    plain = Matcher(0.7, 0.3)(quality)
    assert plain.tolist() == [0, -2, -2, -1, -2]
    low = Matcher(0.7, 0.3, allow_low_quality_matches=True)(quality)
    # ground truth 1's best IoU is 0.55, reached by prediction 4 (tied with ground truth 0: first index wins)
    assert low.tolist() == [0, -2, -2, -1, 0]
    assert Matcher(0.5, 0.5)(torch.zeros(0, 3)).tolist() == [-1, -1, -1]


def test_matcher_on_boxes_gives_every_object_an_anchor():
    anchors = AnchorGenerator(((16,),), ((1.0,),), offset=0.5)((64, 64), [(4, 4)])
    gt = torch.tensor([[3.0, 3.0, 14.0, 30.0], [40.0, 40.0, 50.0, 50.0]])
    matches = Matcher(0.7, 0.3, allow_low_quality_matches=True)(box_iou(gt, anchors))
    assert set(matches[matches >= 0].tolist()) == {0, 1}


def test_sampler_counts_and_reproducibility():
    labels = torch.tensor([1] * 40 + [0] * 300 + [-1] * 50)
    sampler = BalancedPositiveNegativeSampler(128, 0.25, torch.Generator().manual_seed(0))
    (pos,), (neg,) = sampler([labels])
    assert int(pos.sum()) == 32 and int(neg.sum()) == 96
    assert (labels[pos] >= 1).all() and (labels[neg] == 0).all() and not (pos & neg).any()
    few = torch.tensor([1] * 5 + [0] * 10)
    (pos,), (neg,) = sampler([few])
    assert int(pos.sum()) == 5 and int(neg.sum()) == 10  # not enough of either: take all
    again = BalancedPositiveNegativeSampler(128, 0.25, torch.Generator().manual_seed(0))([labels])
    first = BalancedPositiveNegativeSampler(128, 0.25, torch.Generator().manual_seed(0))([labels])
    assert torch.equal(again[0][0], first[0][0]) and torch.equal(again[1][0], first[1][0])
