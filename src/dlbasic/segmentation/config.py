"""The defaults of a segmentation run (`dlbasic segment train`): FCN-8s on a VGG-11 at stride 8, on 96 px scenes."""

from __future__ import annotations

from typing import Any

from dlbasic.config import TrainConfig

# FCN-8s on a stride-8 VGG predicts at stride 2: fine enough for the 2-4 pixel strokes of the digit scenes
SEGMENTATION_DEFAULTS = {
    "data": "scenes:canvas=96,digits=1-4",
    "model": "fcn8s_vgg11",
    "model_options": {"stride": 8},
    "epochs": 10,
    "batch_size": 16,
    "lr": 3e-3,
}


def segmentation_config(**overrides: Any) -> TrainConfig:
    """A `TrainConfig` with the segmentation defaults (FCN-8s, vgg11 at stride 8, on 96x96 scenes), then
    `overrides`."""
    options = dict(SEGMENTATION_DEFAULTS["model_options"])
    cfg = TrainConfig(**{**SEGMENTATION_DEFAULTS, "model_options": options, **overrides})
    return cfg.validate()


__all__ = ["SEGMENTATION_DEFAULTS", "segmentation_config"]
