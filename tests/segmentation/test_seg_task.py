"""SegmentationTask: the loss skips void pixels, summed batch confusions equal the whole set's; masks move with
augmented pixels."""

import torch
import torch.nn.functional as F

from dlbasic.data.transforms import Augment
from dlbasic.segmentation.metrics import confusion_matrix, mean_iou
from dlbasic.segmentation.task import MaskAugment, SegmentationTask


def test_loss_is_the_mean_cross_entropy_of_the_counted_pixels():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 5, 6, generator=g)
    target = torch.randint(0, 4, (3, 5, 6), generator=g)
    target[0, 0] = 255
    task = SegmentationTask(4)
    keep = target != 255
    per_pixel = -logits.log_softmax(1).gather(1, target.clamp(max=3)[:, None])[:, 0]  # literal definition
    torch.testing.assert_close(task.loss(logits, target), per_pixel[keep].mean())


def test_batch_confusions_sum_to_the_dataset_confusion():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(10, 3, 8, 8, generator=g)
    target = torch.randint(0, 3, (10, 8, 8), generator=g)
    task = SegmentationTask(3)
    sums = {}
    for i in range(0, 10, 4):
        for k, v in task.metrics(logits[i : i + 4], target[i : i + 4]).items():
            sums[k] = sums.get(k, 0.0) + v
    whole = confusion_matrix(logits.argmax(1), target, 3)
    assert torch.equal(sums["confusion"], whole)
    assert task.summarize(sums, 10)["mean_iou"] == mean_iou(whole)


def test_mask_augment_moves_masks_with_the_pixels():
    x = torch.zeros(4, 1, 16, 16)
    y = torch.zeros(4, 16, 16, dtype=torch.long)
    x[:, :, 2:6, 1:5] = 1
    y[:, 2:6, 1:5] = 3
    g = torch.Generator().manual_seed(0)
    xf, yf = MaskAugment(Augment("flip", flip_prob=1.0))(x, y, g)
    assert torch.equal(yf, y.flip(-1)) and torch.equal(xf, x.flip(-1))
    xr, yr = MaskAugment(Augment("rotate", degrees=(90.0, 90.0)), ignore_index=255)(x, y, g)
    labelled = yr == 3
    assert labelled.any() and (xr[:, 0][labelled] > 0.5).float().mean() > 0.9  # label stays on its pixels
    assert not F.one_hot(yr.clamp(max=3)).sum((0, 1, 2))[1:3].any()  # no stray classes appear
