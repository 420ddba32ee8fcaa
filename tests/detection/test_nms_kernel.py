"""The compiled NMS kernel (`_nms_kernel.py`) against the torch version it replaces, decision for decision, and
nms / batched_nms / the RPN's proposals against torchvision's (CI runs those in its torchvision environment).

torchvision's CPU kernel compares IoU > threshold in double precision, ours (like torch's `iou > thr`) in the
boxes' dtype, and its sort is not promised stable: the comparisons with torchvision use distinct scores and
either continuous boxes or thresholds exact in float32 (0.25, 0.5), where the two agree by definition.
"""

from __future__ import annotations

import importlib

import pytest
import torch

from dlbasic.detection.components.rpn import RegionProposalNetwork, RPNHead, flatten_head
from dlbasic.detection.ops import _nms_kernel
from dlbasic.detection.ops.anchors import AnchorGenerator
from dlbasic.detection.ops.nms import batched_nms, nms

nms_module = importlib.import_module("dlbasic.detection.ops.nms")
rpn_module = importlib.import_module("dlbasic.detection.components.rpn")
native = pytest.mark.skipif(not _nms_kernel.available(), reason="no C++ compiler here: no NMS kernel")


def boxes_with_specials(n: int, g: torch.Generator, integer: bool) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 40], 1)
    return boxes.round() if integer else boxes


def torch_keep(boxes, classes, thr):
    return ~nms_module._greedy_blocked(boxes, classes, thr)


@native
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", range(6))
def test_kernel_equals_torch_version(seed, dtype):
    """Continuous and whole-pixel boxes (exact IoU ties at the threshold), with and without classes, thresholds
    that float32 rounds up (0.3) or down (0.7) or keeps (0.5), NaN and infinite coordinates."""
    g = torch.Generator().manual_seed(seed)
    n = 1 + 150 * seed
    for integer in (False, True):
        boxes = boxes_with_specials(n, g, integer).to(dtype)
        if n > 20:
            boxes[torch.randint(0, n, (3,), generator=g)] = float("nan")
            boxes[torch.randint(0, n, (2,), generator=g), 2] = float("inf")
            boxes[torch.randint(0, n, (2,), generator=g), 1] = float("-inf")
            boxes[7] = boxes[8]  # a duplicate: IoU 1
            boxes[9, 2] = boxes[9, 0]  # zero width
        for classes in (None, torch.randint(0, 3, (n,), generator=g), torch.randint(0, 2, (n,), generator=g).int()):
            for thr in (0.0, 0.3, 1 / 3, 0.5, 0.7, 1.0):
                got = _nms_kernel.keep_mask(boxes, classes, thr)
                assert got is not None
                assert torch.equal(got, torch_keep(boxes, classes, thr)), (integer, classes is None, thr)


@native
def test_kernel_declines_what_it_does_not_compute():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0]])
    assert _nms_kernel.keep_mask(boxes.half(), None, 0.5) is None  # torch's float16 rounding: the torch version
    assert _nms_kernel.keep_mask(boxes, torch.tensor([0.2, 0.7]), 0.5) is None  # float classes
    scores = torch.tensor([0.9, 0.8])
    assert nms(boxes.half(), scores, 0.5).tolist() == [0]  # the torch version runs
    assert batched_nms(boxes, scores, torch.tensor([0.2, 0.7]), 0.5).tolist() == [0, 1]


# ---- against torchvision -------------------------------------------------------------------------------------


@pytest.fixture
def tv_ops():
    return pytest.importorskip("torchvision.ops", reason="torchvision is not installed here; CI runs it there")


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [1, 40, 600, 3000])
def test_nms_equals_torchvisions(tv_ops, seed, n):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randperm(n, generator=g).float() / n  # distinct
    for integer, thresholds in ((False, (0.0, 0.3, 0.5, 0.7, 0.9)), (True, (0.25, 0.5))):
        boxes = boxes_with_specials(n, g, integer)
        for thr in thresholds:
            expected = tv_ops.nms(boxes, scores, thr)
            torch.testing.assert_close(nms(boxes, scores, thr), expected, rtol=0, atol=0)
            torch.testing.assert_close(nms(boxes.double(), scores.double(), thr), expected, rtol=0, atol=0)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [300, 1500])  # torchvision: coordinate offsets (exact on whole pixels), per class
def test_batched_nms_equals_torchvisions(tv_ops, seed, n):
    g = torch.Generator().manual_seed(seed)
    boxes = boxes_with_specials(n, g, integer=True)
    scores = torch.randperm(n, generator=g).float()
    classes = torch.randint(0, 5, (n,), generator=g)
    for thr in (0.25, 0.5):
        expected = tv_ops.batched_nms(boxes, scores, classes, thr)
        torch.testing.assert_close(batched_nms(boxes, scores, classes, thr), expected, rtol=0, atol=0)


@pytest.mark.parametrize("training", [True, False])
def test_rpn_proposals_equal_those_with_torchvisions_nms(tv_ops, training, monkeypatch):
    """A 16-image batch of RPN proposals (600 / 300 boxes per image before NMS at 0.7, as in the Faster R-CNN
    benchmark) equal to the same RPN's with torchvision's nms in place of ours."""
    torch.manual_seed(0)
    gen = AnchorGenerator(((12, 20, 32),), ((1.0, 2.0),), offset=0.5)
    rpn = RegionProposalNetwork(gen, RPNHead(8, gen.num_anchors_per_location()[0])).train(training)
    for conv in (rpn.head.cls_logits, rpn.head.bbox_pred):
        torch.nn.init.normal_(conv.weight, std=0.3)  # spread out scores and deltas: boxes of all overlaps
    features = torch.randn(16, 8, 24, 24)
    objectness, deltas = flatten_head(*rpn.head(features))
    anchors = gen((96, 96), [(24, 24)])
    with torch.no_grad():
        ours = rpn.filter_proposals(objectness, deltas, anchors, (96, 96))
        monkeypatch.setattr(rpn_module, "nms", tv_ops.nms)
        theirs = rpn.filter_proposals(objectness, deltas, anchors, (96, 96))
    assert sum(len(p) for p in ours) > 16 * 20
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
