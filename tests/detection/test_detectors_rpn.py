"""RPN and Faster R-CNN: anchor labelling, head flattening order, loss, proposal filtering."""

import torch
import torch.nn.functional as F

from dlbasic.detection.components.rpn import RegionProposalNetwork, RPNHead, flatten_head
from dlbasic.detection.models.faster_rcnn import faster_rcnn
from dlbasic.detection.ops.anchors import AnchorGenerator

EMPTY = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}


def _rpn(**kw):
    anchors = AnchorGenerator(((8,),), ((1.0,),), offset=0.5)  # one 8x8 anchor per cell
    return RegionProposalNetwork(anchors, RPNHead(4, 1), generator=torch.Generator().manual_seed(0), **kw)


def test_box_exactly_on_an_anchor_is_positive_with_zero_regression_target():
    rpn = _rpn()
    anchors = rpn.anchor_generator((32, 32), [(4, 4)])  # stride 8: anchors [8j, 8i, 8j + 8, 8i + 8]
    gt = anchors[5:6].clone()  # row 1, column 1
    labels, matched = rpn.assign_targets_to_anchors(anchors, [{"boxes": gt, "labels": torch.tensor([0])}])
    assert labels[0][5] == 1 and (labels[0] == 1).sum() == 1
    assert (labels[0][[0, 3, 12, 15]] == 0).all()  # far anchors: background
    torch.testing.assert_close(rpn.box_coder.encode(matched[0][5:6], anchors[5:6]), torch.zeros(1, 4))


def test_image_with_no_objects_is_all_background_and_has_no_box_loss():
    rpn = _rpn()
    anchors = rpn.anchor_generator((32, 32), [(4, 4)])
    labels, matched = rpn.assign_targets_to_anchors(anchors, [EMPTY])
    assert (labels[0] == 0).all()
    obj = torch.randn(1, 16)
    loss_obj, loss_box = rpn.compute_loss(obj, torch.randn(1, 16, 4), labels, matched, anchors)
    assert loss_box == 0
    torch.testing.assert_close(loss_obj, F.binary_cross_entropy_with_logits(obj[0], torch.zeros(16)))


def test_flatten_head_follows_the_anchor_order():
    gen = AnchorGenerator(((8, 16),), ((1.0, 2.0),), offset=0.5)
    a = gen.num_anchors_per_location()[0]
    anchors = gen((24, 32), [(3, 4)])
    obj = torch.zeros(1, a, 3, 4)
    obj[0, 3, 2, 1] = 1.0  # anchor 3 of cell (row 2, column 1)
    deltas = torch.zeros(1, 4 * a, 3, 4)
    deltas[0, 4 * 3 : 4 * 3 + 4, 2, 1] = torch.tensor([1.0, 2.0, 3.0, 4.0])
    flat_obj, flat_deltas = flatten_head(obj, deltas)
    idx = int(flat_obj[0].argmax())
    assert idx == (2 * 4 + 1) * a + 3
    torch.testing.assert_close(flat_deltas[0, idx], torch.tensor([1.0, 2.0, 3.0, 4.0]))
    centre = (anchors[idx, :2] + anchors[idx, 2:]) / 2
    torch.testing.assert_close(centre, torch.tensor([12.0, 20.0]))  # (column 1 + 0.5) * 8, (row 2 + 0.5) * 8


def test_filter_proposals_with_zero_deltas_returns_top_anchors_after_nms():
    rpn = _rpn(post_nms_top_n={"training": 3, "testing": 3})
    rpn.eval()
    anchors = rpn.anchor_generator((32, 32), [(4, 4)])
    obj = torch.arange(16.0)[None]  # the last anchor is the most object-like
    props = rpn.filter_proposals(obj, torch.zeros(1, 16, 4), anchors, (32, 32))[0]
    torch.testing.assert_close(props, anchors[[15, 14, 13]])  # non-overlapping anchors: NMS keeps all


def test_faster_rcnn_returns_losses_in_training_and_detections_in_eval():
    torch.manual_seed(0)
    model = faster_rcnn(10, generator=torch.Generator().manual_seed(0))
    x = torch.rand(2, 1, 64, 64)
    t = [{"boxes": torch.tensor([[10.0, 12.0, 22.0, 30.0]]), "labels": torch.tensor([3])}, EMPTY]
    losses = model.train()(x, t)
    assert set(losses) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"}
    sum(losses.values()).backward()
    assert model.rpn.head.cls_logits.weight.grad is not None and model.backbone.body[0][0].weight.grad is not None
    dets = model.eval()(x)
    assert len(dets) == 2 and all(set(d) == {"boxes", "scores", "labels"} for d in dets)
