"""Confusion matrix, IoU and pixel accuracy against scikit-learn on random label maps."""

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, jaccard_score
from sklearn.metrics import confusion_matrix as sk_confusion

from dlbasic.segmentation.metrics import confusion_matrix, iou_per_class, mean_iou, pixel_accuracy, scores


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_confusion_iou_and_accuracy_equal_sklearn(seed):
    g = torch.Generator().manual_seed(seed)
    k = 6
    target = torch.randint(0, k, (4, 17, 23), generator=g)
    pred = torch.where(
        torch.rand(target.shape, generator=g) < 0.6, target, torch.randint(0, k, target.shape, generator=g)
    )
    cm = confusion_matrix(pred, target, k)
    y, p = target.flatten().numpy(), pred.flatten().numpy()
    np.testing.assert_array_equal(cm.numpy(), sk_confusion(y, p, labels=list(range(k))))
    np.testing.assert_allclose(
        iou_per_class(cm).numpy(), jaccard_score(y, p, labels=list(range(k)), average=None), rtol=1e-12
    )
    assert mean_iou(cm) == pytest.approx(jaccard_score(y, p, labels=list(range(k)), average="macro"), rel=1e-12)
    assert pixel_accuracy(cm) == pytest.approx(accuracy_score(y, p), rel=1e-12)


def test_ignore_index_pixels_are_skipped_like_sklearn_on_the_rest():
    g = torch.Generator().manual_seed(3)
    target = torch.randint(0, 4, (500,), generator=g)
    target[torch.rand(500, generator=g) < 0.2] = 255
    pred = torch.randint(0, 4, (500,), generator=g)
    keep = target != 255
    cm = confusion_matrix(pred, target, 4, ignore_index=255)
    assert cm.sum() == keep.sum()
    np.testing.assert_array_equal(cm.numpy(), sk_confusion(target[keep], pred[keep], labels=[0, 1, 2, 3]))


def test_class_absent_from_truth_and_prediction_is_nan_and_left_out_of_the_mean():
    target = torch.tensor([0, 0, 1, 1])
    pred = torch.tensor([0, 1, 1, 1])
    cm = confusion_matrix(pred, target, 3)
    iou = iou_per_class(cm)
    assert iou[:2].tolist() == [0.5, 2 / 3] and iou[2].isnan()
    assert mean_iou(cm) == pytest.approx((0.5 + 2 / 3) / 2)
    assert scores(cm, ["a", "b", "c"])["iou"]["b"] == pytest.approx(2 / 3)
