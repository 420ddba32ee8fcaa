"""Anchor boxes: sizes x aspect ratios at every cell of one or more feature maps.

Faster R-CNN (Ren et al., NeurIPS 2015, https://arxiv.org/abs/1506.01497) places k = |sizes| x
|ratios| reference boxes at each feature-map cell; FPN (Lin et al., CVPR 2017,
https://arxiv.org/abs/1612.03144) uses one size per pyramid level. As in torchvision's
`AnchorGenerator`: an aspect ratio is height / width, a base anchor of size s and ratio r has
width s / sqrt(r) and height s * sqrt(r) (area s^2), base anchors are rounded to whole pixels, and
the anchors of cell (i, j) are the base anchors shifted by (j * stride_x, i * stride_y), where
stride = image size // feature size. `offset=0.5` moves them to the cell centres instead.
Order: level, then row, then column, then (ratio, size) with sizes fastest.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def base_anchors(sizes: Sequence[float], aspect_ratios: Sequence[float]) -> Tensor:
    """Anchors centred on (0, 0): Tensor[len(ratios) * len(sizes), 4] xyxy, rounded to pixels.

    >>> base_anchors([16], [0.5, 1.0, 2.0])
    tensor([[-11.,  -6.,  11.,   6.],
            [ -8.,  -8.,   8.,   8.],
            [ -6., -11.,   6.,  11.]])
    """
    scales = torch.as_tensor(sizes, dtype=torch.float32)
    ratios = torch.as_tensor(aspect_ratios, dtype=torch.float32)
    h_ratios = torch.sqrt(ratios)
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
    hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
    return (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()


class AnchorGenerator(nn.Module):
    """Anchors for a list of feature maps.

    Args:
        sizes: anchor sizes (sqrt of area, pixels) per feature map level.
        aspect_ratios: height / width ratios per level (one tuple reused for every level if single).
        offset: anchor centre within a cell as a fraction of the stride (0: corner, as torchvision).
    """

    def __init__(
        self,
        sizes: Sequence[Sequence[float]] = ((32, 64, 128, 256, 512),),
        aspect_ratios: Sequence[Sequence[float]] = ((0.5, 1.0, 2.0),),
        offset: float = 0.0,
    ):
        super().__init__()
        if len(aspect_ratios) == 1 and len(sizes) > 1:
            aspect_ratios = tuple(aspect_ratios) * len(sizes)
        if len(aspect_ratios) != len(sizes):
            raise ValueError(f"{len(sizes)} levels of sizes but {len(aspect_ratios)} of aspect ratios")
        self.sizes = [tuple(s) for s in sizes]
        self.aspect_ratios = [tuple(r) for r in aspect_ratios]
        self.offset = offset
        self.cell_anchors = [base_anchors(s, r) for s, r in zip(self.sizes, self.aspect_ratios)]

    def num_anchors_per_location(self) -> list[int]:
        """The anchors per cell of each level, k = |sizes| x |ratios|: the box predictions a head makes per cell."""
        return [len(a) for a in self.cell_anchors]

    def forward(self, image_size: tuple[int, int], feature_sizes: Sequence[tuple[int, int]]) -> Tensor:
        """Anchors of all levels for one image.

        Args:
            image_size: (height, width) of the (padded) input image.
            feature_sizes: (height, width) of each level's feature map.

        Returns:
            Tensor[sum_l H_l * W_l * A_l, 4] xyxy pixels.
        """
        if len(feature_sizes) != len(self.cell_anchors):
            raise ValueError(f"{len(feature_sizes)} feature maps for {len(self.cell_anchors)} anchor levels")
        out = []
        for (fh, fw), base in zip(feature_sizes, self.cell_anchors):
            sy, sx = image_size[0] // fh, image_size[1] // fw  # stride in pixels
            ys = (torch.arange(fh, dtype=torch.float32) + self.offset) * sy
            xs = (torch.arange(fw, dtype=torch.float32) + self.offset) * sx
            yy, xx = torch.meshgrid(ys, xs, indexing="ij")
            shifts = torch.stack([xx, yy, xx, yy], dim=-1).reshape(-1, 1, 4)  # [H*W, 1, 4]
            out.append((shifts + base[None]).reshape(-1, 4))  # [H*W*A, 4]
        return torch.cat(out)
