"""YOLO v1: target encoding, the paper's loss against a literal per-cell loop, decoding."""

import math

import pytest
import torch

from dlbasic.detection.models.yolo_v1 import YOLOv1, cell_boxes_to_xyxy, encode_targets, yolo_v1_loss


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def reference_loss(pred, targets, B, size, lc=5.0, ln=0.5):
    """Equation 3 of the paper written out cell by cell (one object per cell: the larger one)."""
    n, s = pred.shape[:2]
    h, w = size
    total = 0.0
    for k in range(n):
        cell_obj = {}
        for box, lab in zip(targets[k]["boxes"].tolist(), targets[k]["labels"].tolist()):
            cx, cy = (box[0] + box[2]) / 2 / w * s, (box[1] + box[3]) / 2 / h * s
            key = (min(int(cy), s - 1), min(int(cx), s - 1))
            area = (box[2] - box[0]) * (box[3] - box[1])
            if key not in cell_obj or area > cell_obj[key][0]:
                cell_obj[key] = (area, box, lab, cx - key[1], cy - key[0])
        for i in range(s):
            for j in range(s):
                p = pred[k, i, j].tolist()
                if (i, j) not in cell_obj:
                    total += ln * sum(p[5 * b + 4] ** 2 for b in range(B))
                    continue
                _, box, lab, tx, ty = cell_obj[(i, j)]
                tw, th = (box[2] - box[0]) / w, (box[3] - box[1]) / h
                truth = ((j + tx) / s - tw / 2, (i + ty) / s - th / 2, (j + tx) / s + tw / 2, (i + ty) / s + th / 2)
                ious = []
                for b in range(B):
                    x, y, sw, sh = p[5 * b : 5 * b + 4]
                    pb = (
                        (j + x) / s - sw**2 / 2,
                        (i + y) / s - sh**2 / 2,
                        (j + x) / s + sw**2 / 2,
                        (i + y) / s + sh**2 / 2,
                    )
                    ious.append(_iou(pb, truth))
                r = max(range(B), key=lambda b: ious[b])
                x, y, sw, sh, c = p[5 * r : 5 * r + 5]
                total += lc * ((x - tx) ** 2 + (y - ty) ** 2 + (sw - math.sqrt(tw)) ** 2 + (sh - math.sqrt(th)) ** 2)
                total += (c - ious[r]) ** 2
                total += ln * sum(p[5 * b + 4] ** 2 for b in range(B) if b != r)
                total += sum((p[5 * B + c] - (1.0 if c == lab else 0.0)) ** 2 for c in range(len(p) - 5 * B))
    return total / n


def test_encode_targets_places_centre_and_keeps_the_larger_object_of_a_cell():
    t = {
        "boxes": torch.tensor([[8.0, 8.0, 24.0, 24.0], [18.0, 18.0, 28.0, 28.0], [40.0, 0.0, 64.0, 8.0]]),
        "labels": torch.tensor([3, 7, 1]),
    }
    obj, boxes, labels = encode_targets([t], 4, (64, 64))  # 16-pixel cells
    assert obj.sum() == 2  # centres (16, 16) and (23, 23) both fall in cell (1, 1)
    assert bool(obj[0, 1, 1]) and labels[0, 1, 1] == 3  # the larger box (16 x 16) wins over the 10 x 10
    torch.testing.assert_close(boxes[0, 1, 1], torch.tensor([0.0, 0.0, 0.25, 0.25]))
    assert bool(obj[0, 0, 3]) and labels[0, 0, 3] == 1  # centre (52, 4) -> row 0, column 3
    torch.testing.assert_close(boxes[0, 0, 3], torch.tensor([0.25, 0.25, 0.375, 0.125]))


@pytest.mark.parametrize("seed", range(3))
def test_loss_matches_literal_loop(seed):
    g = torch.Generator().manual_seed(seed)
    B, C, S = 2, 3, 4
    pred = torch.rand(2, S, S, 5 * B + C, generator=g, dtype=torch.float64)
    targets = [
        {
            "boxes": torch.tensor([[3.0, 5.0, 20.0, 30.0], [30.0, 33.0, 60.0, 50.0], [4.0, 6.0, 18.0, 29.0]]),
            "labels": torch.tensor([0, 2, 1]),
        },  # boxes 0 and 2 share a cell
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)},
    ]  # no objects
    losses = yolo_v1_loss(pred, targets, B, (64, 64))
    assert sum(losses.values()).item() == pytest.approx(reference_loss(pred, targets, B, (64, 64)), rel=1e-5)


def test_image_without_objects_only_pays_noobj():
    pred = torch.rand(1, 3, 3, 5 * 2 + 4)
    losses = yolo_v1_loss(pred, [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}], 2, (48, 48))
    conf = pred[..., [4, 9]]
    torch.testing.assert_close(losses["loss_noobj"], 0.5 * (conf**2).sum())
    assert losses["loss_coord"] == 0 and losses["loss_obj"] == 0 and losses["loss_class"] == 0


def test_perfect_prediction_has_zero_loss_and_decodes_to_the_box():
    box = torch.tensor([[8.0, 4.0, 24.0, 36.0]])  # centre (16, 20), 16 x 32 on a 64 x 64 image, S = 4
    target = {"boxes": box, "labels": torch.tensor([2])}
    pred = torch.zeros(1, 4, 4, 5 * 2 + 3)
    pred[0, 1, 1, :5] = torch.tensor([0.0, 0.25, 0.5, math.sqrt(0.5), 1.0])  # cell (row 1, col 1)
    pred[0, 1, 1, 10 + 2] = 1.0
    pred[..., 10] += (pred[..., 10:].sum(-1) == 0).float()  # other cells: some class, zero confidence
    losses = yolo_v1_loss(pred, [target], 2, (64, 64))
    for v in losses.values():
        assert v.item() == pytest.approx(0.0, abs=1e-6)
    model = YOLOv1(3, num_boxes=2, score_thresh=0.5)
    det = model.decode(pred, (64, 64))[0]
    torch.testing.assert_close(det["boxes"], box)
    assert det["labels"].tolist() == [2] and det["scores"].tolist() == [1.0]


def test_cell_boxes_to_xyxy_offsets_by_cell():
    b = torch.zeros(1, 2, 2, 4)
    b[..., :2] = 0.5
    b[..., 2:] = 0.5
    out = cell_boxes_to_xyxy(b, 2)
    torch.testing.assert_close(out[0, 1, 0], torch.tensor([0.0, 0.5, 0.5, 1.0]))


def test_forward_shapes_and_losses_are_finite():
    model = YOLOv1(10, in_channels=1)
    x = torch.rand(2, 1, 64, 64)
    assert model.predict_grid(x).shape == (2, 8, 8, 20)
    t = [
        {"boxes": torch.tensor([[5.0, 5.0, 25.0, 30.0]]), "labels": torch.tensor([4])},
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)},
    ]
    losses = model.train()(x, t)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    dets = model.eval()(x)
    assert len(dets) == 2 and set(dets[0]) == {"boxes", "scores", "labels"}
