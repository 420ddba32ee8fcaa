"""Batched augmentation: exact special cases (rot90, flip, identity crop), labels kept, and boxes and
masks that move with the pixels of a drawn square."""

from __future__ import annotations

import doctest

import pytest
import torch

from dlbasic.data import transforms
from dlbasic.data.transforms import (
    Augment,
    Compose,
    parse_augment,
    sample_affine,
    warp_boxes,
    warp_images,
    warp_masks,
)
from dlbasic.errors import UserError

H = W = 48
SQUARE = (14, 8, 30, 20)  # x1, y1, x2, y2 in pixels: a 16 x 12 rectangle, off centre


def _drawn(batch: int, height: int = H, width: int = W):
    x1, y1, x2, y2 = SQUARE
    img = torch.zeros(batch, 1, height, width)
    img[:, :, y1:y2, x1:x2] = 1.0
    masks = torch.zeros(batch, height, width, dtype=torch.long)
    masks[:, y1:y2, x1:x2] = 3
    boxes = [torch.tensor([SQUARE], dtype=torch.float32) for _ in range(batch)]
    return img, masks, boxes


def _pixel_box(img: torch.Tensor) -> torch.Tensor:
    """Enclosing xyxy pixel-edge box of the pixels brighter than 0.5 in a (1, H, W) image."""
    ys, xs = torch.nonzero(img[0] > 0.5, as_tuple=True)
    return torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32)


def test_rotation_by_90_degrees_equals_rot90():
    x = torch.rand(3, 2, 10, 10, dtype=torch.float64)
    aug = Augment(["rotate"], degrees=(90.0, 90.0))
    out = aug.apply(x, torch.Generator().manual_seed(0))["image"]
    torch.testing.assert_close(out, torch.rot90(x, 1, (-2, -1)), rtol=0, atol=1e-12)  # counter-clockwise


def test_full_crop_is_identity_and_flip_is_exact():
    x = torch.rand(4, 3, 9, 7, dtype=torch.float64)
    same = Augment(["crop"], crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0)).apply(x, torch.Generator())
    torch.testing.assert_close(same["image"], x, rtol=0, atol=1e-12)
    box = torch.tensor([[1.0, 2, 3, 4]])
    flipped = Augment(["flip"], flip_prob=1.0).apply(x, torch.Generator(), boxes=[box] * 4)
    assert torch.equal(flipped["image"], x.flip(-1))
    assert torch.equal(flipped["boxes"][0], torch.tensor([[4.0, 2, 6, 4]]))  # x -> W - x
    # the affine path gives the same flip
    theta = sample_affine(4, 9, 7, ["flip"], torch.Generator(), flip_prob=1.0)
    torch.testing.assert_close(warp_images(x, theta), x.flip(-1), rtol=0, atol=1e-12)


def test_translation_by_whole_pixels_shifts_content():
    x = torch.rand(2, 1, 10, 10, dtype=torch.float64)
    theta = torch.tensor([[1.0, 0.0, -0.4], [0.0, 1.0, 0.0]], dtype=torch.float64).expand(2, 2, 3)
    out = warp_images(x, theta)  # reads x at p - 0.4 (normalized) = 2 pixels to the left: content moves right
    torch.testing.assert_close(out[..., 2:], x[..., :-2], rtol=0, atol=1e-12)
    assert torch.equal(out[..., :2], torch.zeros_like(out[..., :2]))
    moved = warp_boxes([torch.tensor([[1.0, 1.0, 4.0, 5.0]])], theta[:1], 10, 10)[0]
    torch.testing.assert_close(moved, torch.tensor([[3.0, 1.0, 6.0, 5.0]]))


@pytest.mark.parametrize(
    "names", [["flip"], ["crop"], ["rotate"], ["translate", "scale"], ["flip", "crop", "scale", "rotate", "translate"]]
)
def test_boxes_and_masks_follow_the_drawn_square(names):
    batch = 24
    img, masks, boxes = _drawn(batch)
    aug = Augment(names, degrees=40.0, crop_scale=(0.5, 1.0), translate=0.15)
    out = aug.apply(img, torch.Generator().manual_seed(1), boxes=boxes, masks=masks)
    assert len(out["boxes"]) == batch
    checked = 0
    for i in range(batch):
        pixels = out["image"][i]
        if (pixels > 0.5).sum() < 20:  # pushed (almost) out of view; its box must be small too
            b = out["boxes"][i][0]
            assert (b[2] - b[0]) * (b[3] - b[1]) < 60
            continue
        checked += 1
        # the enclosing box of the rotated rectangle's corners is the box of its pixels, up to rasterization:
        # thresholding at 0.5 moves an edge or a corner tip by at most 1.5 input pixels, which the warp
        # magnifies by m = 1 / sqrt(|det A|) output pixels (A: the linear part of theta)
        m = 1 / out["theta"][i, :, :2].det().abs().sqrt().item()
        torch.testing.assert_close(out["boxes"][i][0], _pixel_box(pixels), rtol=0, atol=1.5 * max(m, 1.0))
        # the nearest-neighbour mask agrees with the bilinear image away from the edge
        inside = out["masks"][i] == 3
        assert set(out["masks"][i].unique().tolist()) <= {0, 3}
        agree = (inside == (pixels[0] > 0.5)).float().mean().item()
        assert agree > 0.985
        iou = (inside & (pixels[0] > 0.5)).sum() / (inside | (pixels[0] > 0.5)).sum()
        assert iou > 0.85
    assert checked >= batch // 2


def test_per_sample_parameters_differ_and_labels_are_kept():
    x = torch.rand(16, 1, 28, 28)
    y = torch.arange(16)
    aug = Augment(["flip", "crop", "rotate", "translate"])
    out, y2 = aug(x, y, torch.Generator().manual_seed(0))
    assert y2 is y and out.shape == x.shape
    theta = aug.sample(16, 28, 28, torch.Generator().manual_seed(0))
    assert len({tuple(t.flatten().tolist()) for t in theta}) == 16  # one transform per sample
    assert 0 < int((theta[:, 0, 0] * theta[:, 1, 1] < 0).sum()) < 16  # some flipped, some not


def test_same_seed_same_batch():
    x = torch.rand(8, 3, 16, 16)
    aug = Augment(["flip", "crop", "rotate"])
    a, _ = aug(x, torch.zeros(8), torch.Generator().manual_seed(5))
    b, _ = aug(x, torch.zeros(8), torch.Generator().manual_seed(5))
    c, _ = aug(x, torch.zeros(8), torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_masks_from_outside_get_the_fill_label():
    masks = torch.ones(2, 8, 8, dtype=torch.long)
    theta = torch.tensor([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]], dtype=torch.float64).expand(2, 2, 3)
    zoomed_out = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]], dtype=torch.float64).expand(2, 2, 3)
    aug = Augment(["crop"], mask_fill=255)
    assert torch.equal(warp_masks(masks, theta, 255), masks)
    out = warp_masks(masks, zoomed_out, aug.mask_fill)
    assert set(out.unique().tolist()) == {1, 255} and out.dtype == torch.long


def test_boxes_lists_with_empty_images():
    theta = sample_affine(3, 20, 20, ["rotate"], torch.Generator().manual_seed(0))
    boxes = [torch.zeros(0, 4), torch.tensor([[2.0, 2, 8, 8], [10, 10, 12, 15]]), torch.zeros(0, 4)]
    out = warp_boxes(boxes, theta, 20, 20)
    assert [b.shape for b in out] == [(0, 4), (2, 4), (0, 4)]


def test_parse_augment():
    assert parse_augment("flip, crop,rotate,flip") == ["flip", "crop", "rotate"]
    assert parse_augment("none") == [] and parse_augment("") == []
    with pytest.raises(UserError, match="unknown augmentation 'rotat'"):
        parse_augment("flip,rotat")
    assert Augment.from_spec("translate", translate=0.2).names == ["translate"]


def test_compose_applies_in_order_with_one_generator():
    x = torch.rand(4, 1, 8, 8)
    y = torch.arange(4)
    double = lambda a, b, g: (a * 2, b)  # noqa: E731
    shift = lambda a, b, g: (a + torch.rand(a.shape, generator=g), b + 1)  # noqa: E731
    out, y2 = Compose([double, shift])(x, y, torch.Generator().manual_seed(0))
    expected = x * 2 + torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, expected) and torch.equal(y2, y + 1)


def test_doctests():
    assert doctest.testmod(transforms).failed == 0
