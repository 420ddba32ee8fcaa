"""The detectors by name (as `dlbasic.models.registry` holds the classifiers): `build_detector(name, ...)`.

Each is registered with its default learning rate (Adam), in the lecture's order: R-CNN (Girshick et al. 2014),
SPP-net (He et al. 2014), Fast R-CNN (Girshick 2015), Faster R-CNN (Ren et al. 2015), YOLO v1 (Redmon et al.
2016). A factory takes (num_classes, in_channels, proposals, generator) and imports its model only when called,
so the names and learning rates are known without torch (the CLI's help lists them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dlbasic.registry import Registry

if TYPE_CHECKING:
    from torch import Generator, nn

    from dlbasic.detection.models.rcnn import SelectiveSearchProposals


@dataclass(frozen=True)
class Detector:
    """A registered detector: its factory and its default learning rate."""

    build: Callable[[int, int, SelectiveSearchProposals, Generator], nn.Module]
    lr: float


detectors: Registry[Detector] = Registry("detector")


def register_detector(name: str, lr: float) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator adding a factory `(num_classes, in_channels, proposals, generator) -> nn.Module` under `name`."""

    def add(build: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        detectors.add(name, Detector(build, lr))
        return build

    return add


@register_detector("rcnn", lr=2e-3)
def _rcnn(num_classes: int, in_channels: int, proposals: SelectiveSearchProposals, g: Generator) -> nn.Module:
    from dlbasic.detection.models.rcnn import RCNN

    return RCNN(num_classes, in_channels, proposals, generator=g)


@register_detector("sppnet", lr=2e-3)
def _sppnet(num_classes: int, in_channels: int, proposals: SelectiveSearchProposals, g: Generator) -> nn.Module:
    from dlbasic.detection.models.sppnet import sppnet

    return sppnet(num_classes, in_channels, proposals, generator=g)


@register_detector("fast_rcnn", lr=2e-3)
def _fast_rcnn(num_classes: int, in_channels: int, proposals: SelectiveSearchProposals, g: Generator) -> nn.Module:
    from dlbasic.detection.models.fast_rcnn import fast_rcnn

    return fast_rcnn(num_classes, in_channels, proposals, generator=g)


@register_detector("faster_rcnn", lr=2e-3)
def _faster_rcnn(num_classes: int, in_channels: int, proposals: SelectiveSearchProposals, g: Generator) -> nn.Module:
    from dlbasic.detection.models.faster_rcnn import faster_rcnn

    model = faster_rcnn(num_classes, in_channels, generator=g)  # learns its proposals: `proposals` is unused
    model.rpn.sampler.generator = g
    return model


@register_detector("yolo_v1", lr=1e-3)
def _yolo_v1(num_classes: int, in_channels: int, proposals: SelectiveSearchProposals, g: Generator) -> nn.Module:
    from dlbasic.detection.models.yolo_v1 import YOLOv1

    return YOLOv1(num_classes, in_channels)  # no proposals; initialized from the global seed


DETECTORS = tuple(detectors.in_order())  # in the lecture's order
DEFAULT_LR = {name: detectors.get(name).lr for name in DETECTORS}


def build_detector(
    name: str, num_classes: int, in_channels: int = 1, proposals: SelectiveSearchProposals | None = None, seed: int = 0
) -> nn.Module:
    """A detector by name, initialized from `seed`; the proposal-based ones share `proposals` (a cache).

    Raises:
        UserError: for an unknown name, with the closest names.
    """
    import torch

    from dlbasic.detection.models.rcnn import SelectiveSearchProposals

    detector = detectors.get(name)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    return detector.build(num_classes, in_channels, proposals or SelectiveSearchProposals(), g)
