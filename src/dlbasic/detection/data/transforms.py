"""Box-aware geometric transforms for one image and its target (boxes xyxy pixels).

The image and its boxes move together: resizing scales x by new_w / w and y by new_h / h;
a horizontal flip maps x to width - x (so x1' = width - x2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

Target = dict[str, Tensor]


def resize(image: Tensor, target: Target, size: tuple[int, int]) -> tuple[Tensor, Target]:
    """Resize Tensor[C, H, W] to `size = (height, width)` (bilinear, antialiased) with its boxes.

    >>> img, t = resize(torch.zeros(3, 10, 20), {"boxes": torch.tensor([[2.0, 1.0, 10.0, 5.0]])}, (20, 10))
    >>> img.shape, t["boxes"]
    (torch.Size([3, 20, 10]), tensor([[ 1.,  2.,  5., 10.]]))
    """
    h, w = image.shape[-2:]
    out = F.interpolate(image[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]
    scale = torch.tensor([size[1] / w, size[0] / h, size[1] / w, size[0] / h], dtype=target["boxes"].dtype)
    target = dict(target, boxes=target["boxes"] * scale)
    if "area" in target:  # COCO's annotated areas (a segmentation's, not the box's) scale with the image
        target["area"] = target["area"] * (size[0] * size[1] / (h * w))
    if "masks" in target:
        masks = target["masks"]
        target["masks"] = F.interpolate(masks[None].float(), size=size, mode="nearest")[0].to(masks.dtype)
    return out.clamp_(0.0, 1.0), target


def hflip(image: Tensor, target: Target) -> tuple[Tensor, Target]:
    """Mirror Tensor[C, H, W] left-right with its boxes (and masks).

    >>> img, t = hflip(torch.zeros(1, 4, 10), {"boxes": torch.tensor([[1.0, 0.0, 3.0, 2.0]])})
    >>> t["boxes"]
    tensor([[7., 0., 9., 2.]])
    """
    w = image.shape[-1]
    boxes = target["boxes"]
    target = dict(target, boxes=torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1))
    if "masks" in target:
        target["masks"] = target["masks"].flip(-1)
    return image.flip(-1), target
