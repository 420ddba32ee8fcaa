"""Batched, label-preserving geometric augmentation on tensors: flip, random resized crop, scale, rotation
and translation, all through one affine sampling grid per batch with per-sample random parameters.

Each sample's augmentation is one 2x3 matrix theta (in the normalized coordinates of `F.affine_grid`,
align_corners=False: the image spans [-1, 1]) that maps an output location to the input location it reads.
`F.affine_grid` + `F.grid_sample` then warp the whole batch at once: bilinear for images, nearest for
segmentation masks; boxes (xyxy pixels) go through the inverse map, corner by corner. Images, masks and
boxes therefore move together exactly.

The parameters follow torchvision's `RandomResizedCrop` (scale and log-uniform aspect ratio of the crop
area) and `RandomAffine` (degrees counter-clockwise, translation as a fraction of the size, zoom), after
Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional Neural Networks", 2012
and Szegedy et al., "Going Deeper with Convolutions", 2014, https://arxiv.org/abs/1409.4842. Unlike
torchvision's per-image transforms, there is no loop over samples, and every draw comes from the
`torch.Generator` passed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from dlbasic.errors import UserError, check, did_you_mean

AUGMENTATIONS = ("flip", "crop", "scale", "rotate", "translate")


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)


def _matrices(n: int) -> Tensor:
    return torch.eye(3, dtype=torch.float64).repeat(n, 1, 1)  # (B, 3, 3) homogeneous identities


def sample_affine(
    batch: int,
    height: int,
    width: int,
    names: Sequence[str],
    generator: torch.Generator,
    flip_prob: float = 0.5,
    crop_scale: tuple[float, float] = (0.35, 1.0),
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
    scale: tuple[float, float] = (0.9, 1.1),
    degrees: float | tuple[float, float] = 15.0,
    translate: float = 0.1,
) -> Tensor:
    """Per-sample sampling matrices theta, Tensor[B, 2, 3] float64 (output -> input, normalized coords).

    The content is, in this order: cropped and resized to the full size ("crop"), flipped left-right
    ("flip"), zoomed ("scale"), rotated about the centre ("rotate") and shifted ("translate"). theta is the
    inverse chain C F Z^-1 R^-1 T^-1, so one grid does all of them.
    """
    for name in names:
        check(name in AUGMENTATIONS, f"unknown augmentation {name!r}", did_you_mean(name, AUGMENTATIONS))
    theta = _matrices(batch)
    if "crop" in names:  # C: output [-1, 1]^2 -> crop window centred at (cx, cy) with half-sides (w, h)
        area = _uniform(batch, *crop_scale, generator)
        log_r = _uniform(batch, math.log(crop_ratio[0]), math.log(crop_ratio[1]), generator)
        w = torch.sqrt(area * torch.exp(log_r)).clamp(max=1.0)  # half-side / image half-side
        h = torch.sqrt(area / torch.exp(log_r)).clamp(max=1.0)
        cx = (1 - w) * (2 * torch.rand(batch, generator=generator, dtype=torch.float64) - 1)
        cy = (1 - h) * (2 * torch.rand(batch, generator=generator, dtype=torch.float64) - 1)
        c = _matrices(batch)
        c[:, 0, 0], c[:, 1, 1], c[:, 0, 2], c[:, 1, 2] = w, h, cx, cy
        theta = theta @ c
    if "flip" in names:  # F: x -> -x with probability flip_prob
        f = _matrices(batch)
        f[:, 0, 0] = torch.where(torch.rand(batch, generator=generator, dtype=torch.float64) < flip_prob, -1.0, 1.0)
        theta = theta @ f
    if "scale" in names:  # Z^-1: zoom by z reads the input at p / z
        z = _uniform(batch, *scale, generator)
        zi = _matrices(batch)
        zi[:, 0, 0], zi[:, 1, 1] = 1 / z, 1 / z
        theta = theta @ zi
    if "rotate" in names:  # R^-1 in pixel units, so non-square images rotate without shearing
        low, high = (-degrees, degrees) if isinstance(degrees, (int, float)) else degrees
        a = torch.deg2rad(_uniform(batch, low, high, generator))
        # counter-clockwise on screen (y down) maps (x, y) -> (x cos a + y sin a, -x sin a + y cos a);
        # its inverse, read-from map: (x, y) -> (x cos a - y sin a, x sin a + y cos a)
        r = _matrices(batch)
        r[:, 0, 0], r[:, 0, 1] = torch.cos(a), -torch.sin(a) * height / width
        r[:, 1, 0], r[:, 1, 1] = torch.sin(a) * width / height, torch.cos(a)  # S^-1 R S, S = diag(W, H)/2
        theta = theta @ r
    if "translate" in names:  # T^-1: shift by (tx, ty) of the size = 2 (tx, ty) in normalized units
        t = _matrices(batch)
        t[:, 0, 2] = -2 * _uniform(batch, -translate, translate, generator)
        t[:, 1, 2] = -2 * _uniform(batch, -translate, translate, generator)
        theta = theta @ t
    return theta[:, :2]  # (B, 2, 3)


def warp_images(x: Tensor, theta: Tensor, mode: str = "bilinear") -> Tensor:
    """Sample Tensor[B, C, H, W] through per-sample theta Tensor[B, 2, 3]; outside the image reads 0."""
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)  # (B, H, W, 2)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def warp_masks(masks: Tensor, theta: Tensor, fill: int = 0) -> Tensor:
    """Nearest-neighbour warp of integer masks Tensor[B, H, W]; pixels from outside get `fill`."""
    shifted = (masks.unsqueeze(1) + 1).float()  # 0 now means "outside", class k is k + 1
    out = warp_images(shifted, theta, mode="nearest").squeeze(1).round().long() - 1
    return torch.where(out < 0, torch.full_like(out, fill), out).to(masks.dtype)


def warp_boxes(boxes: Sequence[Tensor], theta: Tensor, height: int, width: int) -> list[Tensor]:
    """Move xyxy pixel boxes (one Tensor[N_i, 4] per image) with the images: the enclosing box of the four
    mapped corners, clipped to the image. Boxes keep their order; ones pushed out have zero area."""
    counts = [b.shape[0] for b in boxes]
    if sum(counts) == 0:
        return [b.clone() for b in boxes]
    flat = torch.cat([b.double() for b in boxes]).cpu()  # (N, 4)
    owner = torch.repeat_interleave(torch.arange(len(boxes)), torch.tensor(counts))
    full = torch.cat(
        [theta.double().cpu(), torch.tensor([[[0.0, 0.0, 1.0]]], dtype=torch.float64).expand(theta.shape[0], 1, 3)], 1
    )
    forward = torch.linalg.inv(full)[owner]  # (N, 3, 3): input -> output location
    x1, y1, x2, y2 = flat.unbind(1)
    corners = torch.stack(
        [torch.stack([x1, y1], 1), torch.stack([x2, y1], 1), torch.stack([x1, y2], 1), torch.stack([x2, y2], 1)], 1
    )  # (N, 4, 2) pixels
    size = torch.tensor([width, height], dtype=torch.float64)
    norm = corners * 2 / size - 1  # pixel edge 0 -> -1, W -> 1 (align_corners=False)
    homog = torch.cat([norm, torch.ones_like(norm[..., :1])], -1)  # (N, 4, 3)
    mapped = (homog @ forward.transpose(1, 2))[..., :2]
    pix = (mapped + 1) * size / 2
    out = torch.cat([pix.amin(1), pix.amax(1)], 1)  # (N, 4) xyxy
    out[:, 0::2] = out[:, 0::2].clamp(0, width)
    out[:, 1::2] = out[:, 1::2].clamp(0, height)
    dtype = boxes[0].dtype if boxes[0].is_floating_point() else torch.float32
    return [b.to(dtype=dtype, device=boxes[0].device) for b in out.split(counts)]


def parse_augment(spec: str | Sequence[str] | None) -> list[str]:
    """The `--augment` option: a comma-separated list of names; '' or 'none' -> [].

    >>> parse_augment("flip,crop, rotate")
    ['flip', 'crop', 'rotate']
    """
    if spec is None:
        return []
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for item in (s.strip().lower() for s in items):
        if item in ("", "none"):
            continue
        if item not in AUGMENTATIONS:
            raise UserError(f"unknown augmentation {item!r}", did_you_mean(item, AUGMENTATIONS))
        if item not in names:
            names.append(item)
    return names


class Augment:
    """Batch transform `(x, y, generator) -> (x_augmented, y)` with the named augmentations; labels kept.

    Args:
        names: subset of ("flip", "crop", "scale", "rotate", "translate"), or a comma-separated string.
        flip_prob: probability of a left-right flip.
        crop_scale: range of the crop's area as a fraction of the image (random resized crop).
        crop_ratio: range of the crop's aspect ratio w / h, sampled log-uniformly.
        scale: range of the zoom factor.
        degrees: rotation range (-d, d) or (low, high), counter-clockwise.
        translate: largest shift, as a fraction of the image size, along each axis.
        mask_fill: label of mask pixels that come from outside the image (e.g. 255 to ignore them).
    """

    def __init__(
        self,
        names: Sequence[str] | str = ("flip", "crop"),
        flip_prob: float = 0.5,
        crop_scale: tuple[float, float] = (0.35, 1.0),
        crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
        scale: tuple[float, float] = (0.9, 1.1),
        degrees: float | tuple[float, float] = 15.0,
        translate: float = 0.1,
        mask_fill: int = 0,
    ):
        self.names = parse_augment(names)
        check(0.0 <= flip_prob <= 1.0, f"flip probability must be in [0, 1], got {flip_prob}")
        check(0.0 < crop_scale[0] <= crop_scale[1] <= 1.0, f"crop scale must satisfy 0 < a <= b <= 1, got {crop_scale}")
        check(0.0 < crop_ratio[0] <= crop_ratio[1], f"crop ratio must satisfy 0 < a <= b, got {crop_ratio}")
        check(0.0 < scale[0] <= scale[1], f"zoom range must satisfy 0 < a <= b, got {scale}")
        check(0.0 <= translate < 1.0, f"translate must be in [0, 1), got {translate}")
        self.options = {
            "flip_prob": flip_prob,
            "crop_scale": crop_scale,
            "crop_ratio": crop_ratio,
            "scale": scale,
            "degrees": degrees,
            "translate": translate,
        }
        self.mask_fill = mask_fill

    def sample(self, batch: int, height: int, width: int, generator: torch.Generator) -> Tensor:
        """Per-sample theta Tensor[B, 2, 3] (see `sample_affine`)."""
        return sample_affine(batch, height, width, self.names, generator, **self.options)

    def _flip_only(self) -> bool:
        return self.names == ["flip"]

    def apply(
        self, x: Tensor, generator: torch.Generator, boxes: Sequence[Tensor] | None = None, masks: Tensor | None = None
    ) -> dict[str, Tensor | list[Tensor]]:
        """Augment images Tensor[B, C, H, W] and, moved the same way, boxes (xyxy pixels, one Tensor[N_i, 4]
        per image) and masks Tensor[B, H, W]. Returns a dict with "image", "theta" and, when given,
        "boxes" and "masks"."""
        b, _, h, w = x.shape
        out: dict[str, Tensor | list[Tensor]] = {}
        theta = self.sample(b, h, w, generator)
        flip = (theta[:, 0, 0] < 0).to(x.device)  # used by the flip-only path
        if not self.names:
            out["image"] = x
        elif self._flip_only():  # exact and cheaper than resampling
            out["image"] = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        else:
            out["image"] = warp_images(x, theta)
        out["theta"] = theta
        if masks is not None:
            if not self.names:
                out["masks"] = masks
            elif self._flip_only():
                out["masks"] = torch.where(flip.view(-1, 1, 1), masks.flip(-1), masks)
            else:
                out["masks"] = warp_masks(masks, theta, self.mask_fill)
        if boxes is not None:
            out["boxes"] = warp_boxes(boxes, theta, h, w)
        return out

    def __call__(self, x: Tensor, y: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        image = self.apply(x, generator)["image"]
        assert isinstance(image, Tensor)
        return image, y

    @classmethod
    def from_spec(cls, spec: str, **options) -> Augment:
        """`Augment.from_spec("flip,crop,rotate", degrees=10)` for the `--augment` option."""
        return cls(parse_augment(spec), **options)

    def __repr__(self) -> str:
        return f"Augment({self.names}, {self.options})"


BatchTransform = Callable[[Tensor, Tensor, torch.Generator], tuple[Tensor, Tensor]]


class Compose:
    """Chain batch transforms `(x, y, generator) -> (x, y)`, e.g. Augment, then InputNoise, then Mix
    (mixing last, so the pasted and blended images are already augmented)."""

    def __init__(self, transforms: Sequence[BatchTransform]):
        self.transforms = list(transforms)

    def __call__(self, x: Tensor, y: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        for t in self.transforms:
            x, y = t(x, y, generator)
        return x, y

    def __repr__(self) -> str:
        return f"Compose({self.transforms})"


__all__ = [
    "AUGMENTATIONS",
    "Augment",
    "BatchTransform",
    "Compose",
    "parse_augment",
    "sample_affine",
    "warp_boxes",
    "warp_images",
    "warp_masks",
]
