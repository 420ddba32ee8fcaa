"""Fast R-CNN / SPP-net second stage: target assignment, the multi-task loss, post-processing."""

import torch
import torch.nn.functional as F

from dlbasic.detection.components.roi_heads import BoxHead, RoIHeads, RoIPooler, fastrcnn_loss


def _heads(**kw):
    pooler = RoIPooler("pool", 2, 1.0)
    return RoIHeads(pooler, BoxHead(pooler.out_features(3), 4), generator=torch.Generator().manual_seed(0), **kw)


def test_fastrcnn_loss_matches_manual_computation():
    g = torch.Generator().manual_seed(0)
    logits, reg = torch.randn(5, 4, generator=g), torch.randn(5, 16, generator=g)
    labels = torch.tensor([0, 2, 0, 3, 1])
    targets = torch.randn(5, 4, generator=g)
    loss_cls, loss_box = fastrcnn_loss(logits, reg, labels, targets)
    torch.testing.assert_close(loss_cls, F.cross_entropy(logits, labels))
    manual = 0.0
    for k in range(5):
        if labels[k] > 0:
            d = reg[k, 4 * labels[k] : 4 * labels[k] + 4] - targets[k]
            manual += torch.where(d.abs() < 1, 0.5 * d**2, d.abs() - 0.5).sum()
    torch.testing.assert_close(loss_box, manual / 5)


def test_assign_targets_labels_foreground_background_and_empty_images():
    heads = _heads(bg_iou_thresh=0.3)
    gt = {"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0]]), "labels": torch.tensor([2])}
    props = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 4.0], [20.0, 20.0, 30.0, 30.0]])
    labels, matched = heads.assign_targets(
        [props, props], [gt, {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}]
    )
    assert labels[0].tolist() == [3, -1, 0]  # IoU 1: class 2 + 1; IoU 0.4 in [0.3, 0.5): ignored
    assert labels[1].tolist() == [0, 0, 0]
    torch.testing.assert_close(matched[0][0], gt["boxes"][0])


def test_postprocess_keeps_the_confident_class_and_decodes_zero_deltas_to_the_roi():
    heads = _heads(score_thresh=0.5)
    rois = [torch.tensor([[4.0, 4.0, 20.0, 28.0]])]
    logits = torch.tensor([[0.0, 0.0, 0.0, 20.0, 0.0]])  # class 3 inside the head = label 2
    det = heads.postprocess(logits, torch.zeros(1, 20), rois, (32, 32))[0]
    torch.testing.assert_close(det["boxes"], rois[0])
    assert det["labels"].tolist() == [2] and det["scores"].item() > 0.99


def test_spp_pooler_length_is_independent_of_region_size():
    pooler = RoIPooler("spp", spatial_scale=0.25, levels=(1, 2, 4))
    x = torch.rand(1, 8, 16, 16)
    out = pooler(x, [torch.tensor([[0.0, 0.0, 8.0, 8.0], [0.0, 0.0, 60.0, 40.0]])])
    assert out.shape == (2, pooler.out_features(8)) == (2, 8 * 21)


def test_training_step_returns_both_losses_and_samples_ground_truth():
    heads = _heads()
    heads.train()
    feats = torch.rand(1, 3, 16, 16, requires_grad=True)
    gt = {"boxes": torch.tensor([[2.0, 2.0, 10.0, 12.0]]), "labels": torch.tensor([1])}
    _, labels, _ = heads.select_training_samples([torch.tensor([[0.0, 0.0, 16.0, 16.0]])], [gt])
    assert (labels == 2).any()  # the ground-truth box itself is always a foreground sample
    _, losses = heads(feats, [torch.tensor([[0.0, 0.0, 16.0, 16.0]])], (16, 16), [gt])
    sum(losses.values()).backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0
