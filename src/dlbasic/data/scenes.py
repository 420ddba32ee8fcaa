"""Procedural scenes of real MNIST digits for detection and segmentation.

Each scene is a black canvas with a few real digits pasted at random scales and positions;
targets are tight boxes around each digit's ink (xyxy, pixels), its class (0-9), and a mask
whose pixels hold digit + 1 where the digit's ink is (0 = background). Train, val and test
scenes are built from disjoint digit images, so test scenes show digits never seen in training.
Spec: `scenes` or `scenes:canvas=96,digits=1-4,scale=0.8-1.6,overlap=0.1,count=1000`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from dlbasic.data.dataset import stratified_split
from dlbasic.data.sources import SPLITS, RawSource, check_memory, sources
from dlbasic.errors import check
from dlbasic.overrides import options

DIGIT_CLASSES = [str(i) for i in range(10)]


@dataclass(frozen=True)
class SceneConfig:
    """How digit scenes are made: the options of a `scenes:` spec (`scenes:canvas=96,digits=1-4`), each a field."""

    canvas: int = 64  # canvas side in pixels
    digits: tuple[int, int] = (1, 3)  # digits per scene, inclusive range
    scale: tuple[float, float] = (0.7, 1.3)  # digit side = scale * 28 pixels
    overlap: float = 0.1  # largest IoU allowed between two digits' boxes
    count: int = 600  # scenes in the train split; val and test get a quarter each
    ink: float = 0.5  # pixel value above which a digit pixel counts as ink (mask, box)


@dataclass
class SceneSet:
    """Scenes of one split.

    Attributes:
        images: Tensor[N, 1, H, W] float32 in [0, 1].
        targets: one dict per image with `boxes` Tensor[K, 4] (xyxy pixels) and `labels` Tensor[K].
        masks: Tensor[N, H, W] int64, 0 = background, digit + 1 on its ink.
    """

    images: Tensor
    targets: list[dict[str, Tensor]]
    masks: Tensor
    classes: list[str] = field(default_factory=lambda: list(DIGIT_CLASSES))
    split: str = ""

    def __len__(self) -> int:
        return self.images.shape[0]


def parse_options(arg: str | None) -> SceneConfig:
    """'canvas=96,digits=1-4' -> SceneConfig(canvas=96, digits=(1, 4))."""
    cfg = SceneConfig()
    if not arg:
        return cfg
    cfg = SceneConfig(**{**cfg.__dict__, **options(arg.split(","), SceneConfig, "scenes")})
    check(cfg.digits[0] >= 1 and cfg.digits[0] <= cfg.digits[1], f"bad digit range {cfg.digits}")
    check(
        0 < cfg.scale[0] <= cfg.scale[1] and cfg.scale[1] * 28 <= cfg.canvas,
        f"scale range {cfg.scale} does not fit a {cfg.canvas}-pixel canvas",
    )
    check(
        cfg.count >= 4,
        f"scenes count={cfg.count} leaves no val or test scenes (they get a quarter each)",
        "use count=4 or more",
    )
    check(
        0 <= cfg.overlap <= 1 and 0 <= cfg.ink < 1,
        f"scenes options overlap={cfg.overlap:g} and ink={cfg.ink:g} must be fractions in [0, 1]",
    )
    check_memory(cfg.count * 3 // 2, 3, cfg.canvas, "scenes canvas= or count=")  # images and int64 masks
    return cfg


def _box_iou(box: Tensor, boxes: Tensor) -> Tensor:
    lt = torch.maximum(box[:2], boxes[:, :2])
    rb = torch.minimum(box[2:], boxes[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / (area(box) + area(boxes) - inter)


def make_scenes(digits: Tensor, labels: Tensor, n: int, cfg: SceneConfig, seed: int) -> SceneSet:
    """Paste digits (Tensor[M, 1, 28, 28] in [0, 1]) onto n canvases; deterministic for a seed."""
    g = torch.Generator().manual_seed(seed)
    size = cfg.canvas
    images = torch.zeros(n, 1, size, size)
    masks = torch.zeros(n, size, size, dtype=torch.long)
    targets = []
    for i in range(n):
        k = int(torch.randint(cfg.digits[0], cfg.digits[1] + 1, (1,), generator=g))
        boxes, classes = [], []
        for _ in range(k):
            for _attempt in range(30):
                j = int(torch.randint(len(digits), (1,), generator=g))
                s = cfg.scale[0] + (cfg.scale[1] - cfg.scale[0]) * float(torch.rand(1, generator=g))
                side = max(8, round(28 * s))
                glyph = F.interpolate(
                    digits[j : j + 1], size=(side, side), mode="bilinear", antialias=True, align_corners=False
                )[0, 0].clamp(0, 1)
                ink = glyph > cfg.ink
                if not ink.any():
                    continue
                x0 = int(torch.randint(size - side + 1, (1,), generator=g))
                y0 = int(torch.randint(size - side + 1, (1,), generator=g))
                rows, cols = ink.any(1).nonzero()[:, 0], ink.any(0).nonzero()[:, 0]
                box = torch.tensor(
                    [x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1], dtype=torch.float32
                )
                if boxes and _box_iou(box, torch.stack(boxes)).max() > cfg.overlap:
                    continue
                region = images[i, 0, y0 : y0 + side, x0 : x0 + side]
                torch.maximum(region, glyph, out=region)
                masks[i, y0 : y0 + side, x0 : x0 + side][ink] = int(labels[j]) + 1
                boxes.append(box)
                classes.append(int(labels[j]))
                break
        targets.append(
            {
                "boxes": torch.stack(boxes) if boxes else torch.zeros(0, 4),
                "labels": torch.tensor(classes, dtype=torch.long),
            }
        )
    return SceneSet(images, targets, masks)


@functools.lru_cache(maxsize=8)
def load_scenes(spec: str = "scenes", split: str = "train", seed: int = 0) -> SceneSet:
    """Scenes of one split; the digit images of train, val and test are disjoint (stratified)."""
    from dlbasic.data.sources import _raw, parse_spec

    check(split in SPLITS, f"unknown split {split!r}", "choices: " + ", ".join(SPLITS))
    name, arg = parse_spec(spec)
    check(name == "scenes", f"{spec!r} is not a scenes spec", "write scenes or scenes:canvas=96,...")
    cfg = parse_options(arg)
    x, y = _raw("mnist5k", None).pools["train"]
    rest, test = stratified_split(y, 0.2, seed)
    train, val = stratified_split(y[rest], 0.125, seed + 1)
    pools = {"train": rest[train], "val": rest[val], "test": test}
    n = cfg.count if split == "train" else max(1, cfg.count // 4)
    index = pools[split]
    digits = x[index]
    if digits.dtype == torch.uint8:  # mnist5k keeps its 8-bit pixels; scenes are drawn in [0, 1]
        digits = digits.float().div_(255.0)
    scenes = make_scenes(digits, y[index], n, cfg, seed=seed * 3 + SPLITS.index(split))
    scenes.split = split
    return scenes


@sources.register("scenes")
def scenes(arg: str | None) -> RawSource:
    """Registered so `list_sources()` shows it; scenes are loaded with `load_scenes`."""
    parse_options(arg)
    return RawSource({}, DIGIT_CLASSES)
