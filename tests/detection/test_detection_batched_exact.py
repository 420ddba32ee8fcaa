"""The RPN's and the RoI heads' batched steps against their one-image-at-a-time forms, bit for bit.

Box coding and decoding, clipping and the proposals' top-k run once for all images of a batch; their values must
be those of running each image alone (elementwise arithmetic, and torch's log and exp, give each element the
same value wherever it sits in a tensor). The references below are the per-image code these steps replaced.
Anchor counts that are not multiples of a vector width (5 x 7 cells x 3 anchors) put elements in loop tails.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dlbasic.detection.components.roi_heads import BoxHead, RoIHeads, RoIPooler
from dlbasic.detection.components.rpn import RegionProposalNetwork, RPNHead, flatten_head
from dlbasic.detection.ops.anchors import AnchorGenerator
from dlbasic.detection.ops.boxes import clip_boxes_to_image, remove_small_boxes
from dlbasic.detection.ops.nms import nms


def _targets(n: int, g: torch.Generator, size: int) -> list[dict[str, torch.Tensor]]:
    out = []
    for i in range(n):
        k = 0 if i == 1 else int(torch.randint(1, 5, (), generator=g))  # image 1 has no objects
        xy = torch.rand(k, 2, generator=g) * (size - 16)
        boxes = torch.cat([xy, xy + 6 + torch.rand(k, 2, generator=g) * 20], 1)
        out.append({"boxes": boxes, "labels": torch.randint(0, 3, (k,), generator=g)})
    return out


def _rpn(seed: int) -> tuple[RegionProposalNetwork, AnchorGenerator]:
    torch.manual_seed(seed)
    gen = AnchorGenerator(((10, 20, 30),), ((1.0,),), offset=0.5)
    rpn = RegionProposalNetwork(
        gen,
        RPNHead(8, 3),
        pre_nms_top_n={"training": 70, "testing": 50},
        post_nms_top_n={"training": 30, "testing": 20},
        generator=torch.Generator().manual_seed(seed),
    )
    for conv in (rpn.head.cls_logits, rpn.head.bbox_pred):
        torch.nn.init.normal_(conv.weight, std=0.3)
    return rpn, gen


def reference_filter_proposals(rpn, objectness, deltas, anchors, image_size):
    out = []
    for obj, d in zip(objectness.detach(), deltas.detach()):
        top = obj.topk(min(rpn.pre_nms_top_n[rpn._mode()], len(obj))).indices
        boxes = clip_boxes_to_image(rpn.box_coder.decode(d[top], anchors[top]), image_size)
        scores = obj[top]
        keep = remove_small_boxes(boxes, rpn.min_size)
        boxes, scores = boxes[keep], scores[keep]
        keep = nms(boxes, scores, rpn.nms_thresh)[: rpn.post_nms_top_n[rpn._mode()]]
        out.append(boxes[keep])
    return out


def reference_rpn_box_loss(rpn, deltas, matched, anchors, pos, sampled):
    targets = torch.stack([rpn.box_coder.encode(m, anchors) for m in matched])  # every anchor of every image
    count = max(1, int(sampled.sum()))
    return F.smooth_l1_loss(deltas[pos], targets[pos], beta=1 / 9, reduction="sum") / count


def test_rpn_proposals_and_losses_equal_the_per_image_computation():
    for seed in range(3):
        for training in (True, False):
            rpn, gen = _rpn(seed)
            rpn.train(training)
            g = torch.Generator().manual_seed(seed)
            features = torch.randn(4, 8, 5, 7, generator=g)
            image_size = (40, 56)
            objectness, deltas = flatten_head(*rpn.head(features))
            anchors = gen(image_size, [(5, 7)])
            got = rpn.filter_proposals(objectness, deltas, anchors, image_size)
            expected = reference_filter_proposals(rpn, objectness, deltas, anchors, image_size)
            assert [len(p) for p in got] == [len(p) for p in expected] and sum(len(p) for p in got) > 20
            for a, b in zip(got, expected):
                assert torch.equal(a, b)
            if training:
                targets = _targets(4, g, 40)
                labels, matched = rpn.assign_targets_to_anchors(anchors, targets)
                state = rpn.sampler.generator.get_state()
                loss_obj, loss_box = rpn.compute_loss(objectness, deltas, labels, matched, anchors)
                rpn.sampler.generator.set_state(state)  # the same samples again
                pos, neg = (torch.stack(m) for m in rpn.sampler(labels))
                assert pos.sum() > 0
                expected_box = reference_rpn_box_loss(rpn, deltas, matched, anchors, pos, pos | neg)
                assert torch.equal(loss_box, expected_box)
                sampled = pos | neg
                expected_obj = F.binary_cross_entropy_with_logits(objectness[sampled], torch.stack(labels)[sampled])
                assert torch.equal(loss_obj, expected_obj)


def test_roi_heads_training_samples_equal_the_per_image_computation():
    g = torch.Generator().manual_seed(0)
    heads = RoIHeads(
        RoIPooler("pool", 2, 0.25),
        BoxHead(8 * 4, 3, hidden=16),
        batch_size_per_image=24,
        generator=torch.Generator().manual_seed(1),
    )
    targets = _targets(5, g, 64)
    proposals = []
    for t in targets:  # proposals near the objects (foreground) and elsewhere (background)
        near = t["boxes"].repeat(6, 1) + torch.randn(6 * len(t["boxes"]), 4, generator=g) * 3
        xy = torch.rand(17, 2, generator=g) * 48
        proposals.append(torch.cat([near, torch.cat([xy, xy + 4 + torch.rand(17, 2, generator=g) * 12], 1)]))
    state = heads.sampler.generator.get_state()
    rois, labels, reg = heads.select_training_samples(proposals, targets)
    heads.sampler.generator.set_state(state)
    full = [torch.cat([p, t["boxes"]]) for p, t in zip(proposals, targets)]
    lab, matched = heads.assign_targets(full, targets)
    pos, neg = heads.sampler(lab)
    expected, expected_rois = [], []
    for p, m, ps, ng in zip(full, matched, pos, neg):
        keep = torch.nonzero(ps | ng)[:, 0]
        expected.append(heads.box_coder.encode(m[keep], p[keep]))  # one image at a time
        expected_rois.append(p[keep])
    assert all(torch.equal(a, b) for a, b in zip(rois, expected_rois))
    assert (labels > 0).sum() > 5
    assert torch.equal(reg, torch.cat(expected))
