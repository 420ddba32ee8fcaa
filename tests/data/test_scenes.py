import torch

from dlbasic.data import load_scenes
from dlbasic.data.scenes import parse_options
from dlbasic.errors import UserError


def test_scenes_are_deterministic_and_consistent():
    a = load_scenes("scenes:count=40", "train", seed=0)
    load_scenes.cache_clear()
    b = load_scenes("scenes:count=40", "train", seed=0)
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert len(a) == 40 and a.images.shape == (40, 1, 64, 64)
    for i, t in enumerate(a.targets):
        assert 1 <= len(t["boxes"]) <= 3 and t["labels"].dtype == torch.int64
        for box, label in zip(t["boxes"].long(), t["labels"]):
            x0, y0, x1, y1 = box.tolist()
            inside = a.masks[i, y0:y1, x0:x1]
            assert (inside == label + 1).any()  # the digit's ink is inside its box
            # the box is tight: every edge row/column of the box has ink of some digit
            crop = a.images[i, 0, y0:y1, x0:x1] > 0.5
            assert crop[0].any() and crop[-1].any() and crop[:, 0].any() and crop[:, -1].any()
    assert set(a.masks.unique().tolist()) <= set(range(11))


def test_scene_splits_use_disjoint_digits():
    train = load_scenes("scenes:count=40", "train")
    test = load_scenes("scenes:count=40", "test")
    assert len(test) == 10
    assert not torch.equal(train.images[:10], test.images)


def test_bad_scene_options():
    import pytest

    with pytest.raises(UserError, match="bad scenes option"):
        parse_options("size=3")
    with pytest.raises(UserError, match="does not fit"):
        parse_options("canvas=20")


def test_scenes_draw_digits_in_gray_levels_from_the_8_bit_pool():
    """mnist5k keeps uint8 pixels; scenes must resample them as [0, 1] floats (anti-aliased edges), as before."""
    scenes = load_scenes("scenes:canvas=64,digits=1-2,count=8", "train")
    edges = (scenes.images > 0) & (scenes.images < 1)
    assert edges.float().mean() > 0.01  # gray anti-aliased strokes, not a binary image
