"""Region proposals by selective search (Uijlings et al., "Selective Search for Object Recognition",
IJCV 2013, http://www.huppelen.nl/publications/selectiveSearchDraft.pdf), the proposals of R-CNN.

1. Over-segment the image with Felzenszwalb and Huttenlocher's graph-based method (IJCV 2004;
   scikit-image's `felzenszwalb`, scale k, sigma 0.8, min_size k).
2. Hierarchical grouping: repeatedly merge the two most similar neighbouring regions until one
   remains; every region ever formed contributes its bounding box. The similarity is a sum of
   colour (intersection of 25-bin per-channel histograms), texture (intersection of histograms of
   Gaussian derivatives in 8 orientations, 10 bins per channel), size (1 - (|a| + |b|) / |image|,
   merging small regions first) and fill (1 - (|bbox(a U b)| - |a| - |b|) / |image|) terms.
3. Diversification: run the grouping with several colour spaces, Felzenszwalb scales and
   similarity combinations (the paper's "fast" mode: HSV and Lab, k = 50 and 100, C+T+S+F and
   T+S+F), rank each hierarchy's boxes by position (the final region first) times a random
   number, merge the rankings and drop duplicate boxes.
Histograms of a merged region are the size-weighted mean of its parts, as in the paper.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np
import torch
from torch import Tensor

MODES = {  # colour spaces, Felzenszwalb scales k, similarity combinations
    "single": (("hsv",), (100,), ("CTSF",)),
    "fast": (("hsv", "lab"), (50, 100), ("CTSF", "TSF")),
    "quality": (("hsv", "lab", "rgb"), (50, 100, 150, 300), ("CTSF", "TSF", "F", "S")),
}
COLOUR_BINS, TEXTURE_BINS, ORIENTATIONS = 25, 10, 8


def _colour_space(rgb: np.ndarray, space: str) -> np.ndarray:
    """RGB [H, W, 3] in [0, 1] -> the colour space, each channel rescaled to [0, 1]."""
    from skimage import color

    if space == "rgb":
        return rgb
    if space == "hsv":
        return color.rgb2hsv(rgb)
    if space == "lab":
        lab = color.rgb2lab(rgb)
        scaled = [lab[..., 0] / 100, (lab[..., 1] + 128) / 255, (lab[..., 2] + 128) / 255]
        return np.stack(scaled, -1).clip(0, 1)
    raise ValueError(f"unknown colour space {space!r}; choices: rgb, hsv, lab")


def _histograms(values: np.ndarray, labels: np.ndarray, n_regions: int, bins: int) -> np.ndarray:
    """Per-region histograms of values [H, W, D] in [0, 1]: [R, D * bins], each row L1-normalized."""
    idx = np.minimum((values * bins).astype(np.int64), bins - 1)  # [H, W, D]
    d = values.shape[-1]
    flat = (labels[..., None] * d + np.arange(d)) * bins + idx  # region, channel, bin
    hist = np.bincount(flat.ravel(), minlength=n_regions * d * bins).astype(float)
    hist = hist.reshape(n_regions, d * bins)
    return hist / np.maximum(hist.sum(1, keepdims=True), 1e-12)


def _texture(image: np.ndarray) -> np.ndarray:
    """Positive oriented Gaussian derivatives (sigma 1), 8 orientations per channel, rescaled: [H, W, 8C]."""
    from scipy.ndimage import gaussian_filter

    out = []
    for c in range(image.shape[-1]):
        gy = gaussian_filter(image[..., c], 1.0, order=(1, 0))
        gx = gaussian_filter(image[..., c], 1.0, order=(0, 1))
        for k in range(ORIENTATIONS):
            theta = k * 2 * np.pi / ORIENTATIONS
            out.append(np.maximum(np.cos(theta) * gx + np.sin(theta) * gy, 0))
    tex = np.stack(out, -1)
    return tex / max(float(tex.max()), 1e-12)


def _neighbours(labels: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (a < b) of 4-connected adjacent regions."""
    n = int(labels.max()) + 1
    codes = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        diff = a != b
        codes.append(np.minimum(a[diff], b[diff]) * n + np.maximum(a[diff], b[diff]))
    unique = np.unique(np.concatenate(codes))
    return list(zip((unique // n).tolist(), (unique % n).tolist()))


def _regions(labels: np.ndarray, colour: np.ndarray, texture: np.ndarray) -> dict:
    """Sizes, boxes, colour and texture histograms and adjacency of the initial regions."""
    from scipy.ndimage import find_objects

    n = int(labels.max()) + 1
    boxes = [(float(sx.start), float(sy.start), float(sx.stop), float(sy.stop)) for sy, sx in find_objects(labels + 1)]
    return {
        "size": np.bincount(labels.ravel(), minlength=n).astype(float).tolist(),
        "box": boxes,
        "col": list(_histograms(colour, labels, n, COLOUR_BINS)),
        "tex": list(_histograms(texture, labels, n, TEXTURE_BINS)),
        "pairs": _neighbours(labels),
    }


def _hierarchy(regions: dict, im_size: int, combo: str) -> list[tuple]:
    """Hierarchical grouping; returns every region's box (x1, y1, x2, y2) in the order formed."""
    size, box = list(regions["size"]), list(regions["box"])
    col, tex = list(regions["col"]), list(regions["tex"])
    n = len(size)

    def similarity(a: int, b: int) -> float:
        s = 0.0
        if "C" in combo:
            s += float(np.minimum(col[a], col[b]).sum())
        if "T" in combo:
            s += float(np.minimum(tex[a], tex[b]).sum())
        if "S" in combo:
            s += 1 - (size[a] + size[b]) / im_size
        if "F" in combo:
            bb = (max(box[a][2], box[b][2]) - min(box[a][0], box[b][0])) * (
                max(box[a][3], box[b][3]) - min(box[a][1], box[b][1])
            )
            s += 1 - (bb - size[a] - size[b]) / im_size
        return s

    adjacent: dict[int, set[int]] = {i: set() for i in range(n)}
    heap = []  # (-similarity, a, b); entries naming a merged region are stale and skipped
    for a, b in regions["pairs"]:
        adjacent[a].add(b)
        adjacent[b].add(a)
        heap.append((-similarity(a, b), a, b))
    heapq.heapify(heap)
    while heap:
        _, a, b = heapq.heappop(heap)  # the most similar neighbours
        if a not in adjacent or b not in adjacent:
            continue
        t = len(size)
        size.append(size[a] + size[b])
        box.append(
            (min(box[a][0], box[b][0]), min(box[a][1], box[b][1]), max(box[a][2], box[b][2]), max(box[a][3], box[b][3]))
        )
        col.append((size[a] * col[a] + size[b] * col[b]) / size[t])
        tex.append((size[a] * tex[a] + size[b] * tex[b]) / size[t])
        adjacent[t] = (adjacent.pop(a) | adjacent.pop(b)) - {a, b}
        for r in adjacent[t]:
            adjacent[r] -= {a, b}
            adjacent[r].add(t)
            heapq.heappush(heap, (-similarity(r, t), r, t))
    return box


def selective_search(
    image: Tensor, mode: str = "fast", max_boxes: int = 2000, min_size: int = 0, seed: int = 0
) -> Tensor:
    """Selective search proposals for one image.

    Args:
        image: Tensor[C, H, W] in [0, 1] (C = 1 or 3).
        mode: "single" (1 strategy), "fast" (8) or "quality" (72), see `MODES`.
        max_boxes: most boxes returned, best ranked first.
        min_size: drop boxes narrower or shorter than this (pixels).
        seed: seed of the random ranking.

    Returns:
        Tensor[K, 4] float32 xyxy pixel boxes, K <= max_boxes, no duplicates.
    """
    from skimage.segmentation import felzenszwalb

    if mode not in MODES:
        raise ValueError(f"unknown selective search mode {mode!r}; choices: {', '.join(MODES)}")
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected an image Tensor[C, H, W] with 1 or 3 channels, got {tuple(image.shape)}")
    rgb = image.detach().cpu().float().expand(3, -1, -1).permute(1, 2, 0).numpy().astype(np.float64)
    rng = np.random.default_rng(seed)
    spaces, scales, combos = MODES[mode]
    ranked = []
    for space in spaces:
        values = _colour_space(rgb, space)
        texture = _texture(values)
        for k in scales:
            labels = felzenszwalb(values, scale=k, sigma=0.8, min_size=k, channel_axis=-1)
            regions = _regions(labels, values, texture)
            for combo in combos:
                boxes = _hierarchy(regions, labels.size, combo)
                position = np.arange(len(boxes), 0, -1)  # the final region (whole image) has 1
                ranked.extend(zip((position * rng.random(len(boxes))).tolist(), boxes))
    ranked.sort(key=lambda item: item[0])
    unique = dict.fromkeys(b for _, b in ranked if b[2] - b[0] >= min_size and b[3] - b[1] >= min_size)
    return torch.tensor(list(itertools.islice(unique, max_boxes)), dtype=torch.float32).reshape(-1, 4)
