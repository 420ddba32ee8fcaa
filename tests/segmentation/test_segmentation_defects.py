"""Overlays of a one-class mask set; the FCN `stride` option is checked and its choices listed."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

from dlbasic.errors import UserError
from dlbasic.models import create_model
from dlbasic.models.fcn import STRIDES, check_stride, fcn
from dlbasic.segmentation.overlay import overlay_figure, save_overlays


@pytest.mark.parametrize("truth", [True, False])
def test_overlays_of_background_alone_name_it(tmp_path, truth):
    images, masks = torch.rand(2, 1, 8, 8), torch.zeros(2, 8, 8, dtype=torch.long)
    fig = overlay_figure(images, masks if truth else None, masks, ["background"])  # was: ncol=0, an error
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["background (unshaded)"]
    plt.close(fig)
    path = save_overlays(tmp_path / "o.png", images, masks if truth else None, masks, ["background"])
    assert path.stat().st_size > 0


def test_overlay_legends_name_every_class_including_the_first():
    images, masks = torch.rand(1, 1, 8, 8), torch.ones(1, 8, 8, dtype=torch.long)
    fig = overlay_figure(images, masks, masks, ["sky", "digit"])
    assert len(fig.legends) == 1 and [t.get_text() for t in fig.legends[0].get_texts()] == ["sky (unshaded)", "digit"]
    plt.close(fig)


@pytest.mark.parametrize(
    ("name", "stride", "choices"),
    [
        ("fcn8s_vgg11", 4, "8, 16, 32"),
        ("fcn32s_vgg16", 64, "8, 16, 32"),
        ("fcn8s_resnet18", 16, "8, 32"),
        ("fcn16s_resnet18", 4, "8, 32"),
        ("fcn8s_vgg11", "8", "8, 16, 32"),
        ("fcn8s_vgg11", 8.0, "8, 16, 32"),
        ("fcn8s_vgg11", True, "8, 16, 32"),
    ],
)
def test_an_unknown_stride_is_one_error_listing_the_backbones_strides(name, stride, choices):
    with pytest.raises(UserError) as e:
        create_model(name, num_classes=2, in_channels=1, input_size=32, stride=stride)
    message = str(e.value)
    assert f"FCN on {name.split('_')[1]}: stride {stride!r} is not a value it takes" in message
    assert f"choices: {choices}" in message and "\n" not in message


def test_check_stride_accepts_what_each_backbone_is_built_with():
    assert STRIDES == {"vgg": (8, 16, 32), "resnet": (8, 32)}
    for backbone in ("vgg11", "vgg16", "resnet18", "resnet34"):
        for stride in STRIDES["resnet" if backbone.startswith("resnet") else "vgg"]:
            assert check_stride(backbone, stride) == stride
    with pytest.raises(UserError, match="choices: 8, 32"):
        fcn("resnet18", "8s", 2, 1, stride=16)


def test_vgg_at_stride_16_still_builds_and_scores_every_pixel():
    model = create_model("fcn8s_vgg11", num_classes=3, in_channels=1, input_size=32, stride=16).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 20, 28)).shape == (1, 3, 20, 28)
