"""Box coder: boxes <-> (dx, dy, dw, dh) regression targets relative to reference boxes.

The R-CNN parametrization (Girshick et al., "Rich feature hierarchies ...", CVPR 2014,
https://arxiv.org/abs/1311.2524, appendix C; kept by Fast and Faster R-CNN): for a reference box
with centre (x_a, y_a) and size (w_a, h_a) and a target box (x, y, w, h),

    dx = wx * (x - x_a) / w_a      dy = wy * (y - y_a) / h_a
    dw = ww * log(w / w_a)         dh = wh * log(h / h_a)

The weights (wx, wy, ww, wh) rescale the targets to about unit variance: (1, 1, 1, 1) for an RPN,
(10, 10, 5, 5) for the Fast R-CNN head, as in torchvision and Detectron. Decoding clamps dw, dh
at log(1000 / 16) so that exp() cannot overflow (Detectron's `bbox_xform_clip`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

DEFAULT_CLIP = math.log(1000.0 / 16)


def _centres(boxes: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    return boxes[:, 0] + 0.5 * widths, boxes[:, 1] + 0.5 * heights, widths, heights


class BoxCoder:
    """Encode boxes as deltas to reference boxes (anchors, proposals) and decode them back.

    Args:
        weights: (wx, wy, ww, wh) multiplying the deltas.
        clip: largest dw, dh used when decoding.

    >>> coder = BoxCoder((1.0, 1.0, 1.0, 1.0))
    >>> anchors = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    >>> coder.encode(torch.tensor([[5.0, 0.0, 15.0, 20.0]]), anchors)
    tensor([[0.5000, 0.5000, 0.0000, 0.6931]])
    >>> coder.decode(coder.encode(torch.tensor([[5.0, 0.0, 15.0, 20.0]]), anchors), anchors)
    tensor([[ 5.,  0., 15., 20.]])
    """

    def __init__(self, weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0), clip: float = DEFAULT_CLIP):
        self.weights = tuple(float(w) for w in weights)
        self.clip = clip

    def encode(self, boxes: Tensor, reference: Tensor) -> Tensor:
        """Deltas turning `reference` into `boxes`.

        Args:
            boxes: Tensor[N, 4] xyxy targets (e.g. matched ground truth).
            reference: Tensor[N, 4] xyxy reference boxes (anchors or proposals) of positive size.

        Returns:
            Tensor[N, 4] (dx, dy, dw, dh).
        """
        wx, wy, ww, wh = self.weights
        rx, ry, rw, rh = _centres(reference)
        x, y, w, h = _centres(boxes)
        return torch.stack(
            [wx * (x - rx) / rw, wy * (y - ry) / rh, ww * torch.log(w / rw), wh * torch.log(h / rh)], dim=1
        )

    def decode(self, deltas: Tensor, reference: Tensor) -> Tensor:
        """Apply deltas to reference boxes.

        Args:
            deltas: Tensor[N, 4 * K] (dx, dy, dw, dh) per class or a single Tensor[N, 4].
            reference: Tensor[N, 4] xyxy.

        Returns:
            Tensor[N, 4 * K] xyxy boxes, one per set of deltas.
        """
        wx, wy, ww, wh = self.weights
        rx, ry, rw, rh = (t[:, None] for t in _centres(reference.to(deltas.dtype)))
        dx, dy = deltas[:, 0::4] / wx, deltas[:, 1::4] / wy  # [N, K]
        dw = (deltas[:, 2::4] / ww).clamp(max=self.clip)
        dh = (deltas[:, 3::4] / wh).clamp(max=self.clip)
        cx, cy = dx * rw + rx, dy * rh + ry
        w, h = torch.exp(dw) * rw, torch.exp(dh) * rh
        out = torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=2)  # [N, K, 4]
        return out.reshape(deltas.shape)
