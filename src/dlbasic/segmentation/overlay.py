"""Overlays as PNG: one row per image with the image, the true mask and the predicted mask side by side."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from torch import Tensor


def class_colors(num_classes: int) -> ListedColormap:
    """Black for class 0 (background), then tab20 colours; void pixels are shown white."""
    base = plt.get_cmap("tab20" if num_classes > 11 else "tab10")
    colors = [(0, 0, 0, 1)] + [base(i % base.N) for i in range(num_classes - 1)]
    return ListedColormap(colors)


def overlay_figure(
    images: Tensor,
    truth: Tensor | None,
    pred: Tensor,
    classes: list[str],
    ignore_index: int = 255,
    alpha: float = 0.55,
    label: str = "prediction",
):
    """A figure: rows of (image, truth over image, `pred` over image, titled `label`); images Tensor[N, C, H, W]
    in [0, 1]."""
    n, k = images.shape[0], len(classes)
    cols = 3 if truth is not None else 2
    fig, axes = plt.subplots(n, cols, figsize=(2.6 * cols, 2.6 * n), squeeze=False)
    cmap = class_colors(k)
    for i in range(n):
        img = images[i].permute(1, 2, 0).numpy()
        img = img[..., 0] if img.shape[-1] == 1 else img
        panels = [("image", None), *((("truth", truth[i]),) if truth is not None else ()), (label, pred[i])]
        for ax, (title, mask) in zip(axes[i], panels):
            ax.imshow(img, cmap="gray", vmin=0, vmax=1)
            if mask is not None:
                m = mask.numpy().astype(float)
                void = m == ignore_index
                m[void] = np.nan
                ax.imshow(
                    np.ma.masked_where(m == 0, m),
                    cmap=cmap,
                    vmin=-0.5,
                    vmax=k - 0.5,
                    alpha=alpha,
                    interpolation="nearest",
                )
            ax.set_title(title if i == 0 else "", fontsize=9)
            ax.axis("off")
    # class 0 is left unshaded so the image shows through; the legend still names it
    handles = [
        plt.Rectangle((0, 0), 1, 1, facecolor="none", edgecolor="grey"),
        *(plt.Rectangle((0, 0), 1, 1, color=cmap(c)) for c in range(1, k)),
    ]
    labels = [f"{classes[0]} (unshaded)", *classes[1:]] if k else []
    fig.legend(
        handles[: len(labels)], labels, loc="lower center", ncol=max(1, min(len(labels), 10)), fontsize=7, frameon=False
    )
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def save_overlays(
    path: str | Path,
    images: Tensor,
    truth: Tensor | None,
    pred: Tensor,
    classes: list[str],
    ignore_index: int = 255,
    label: str = "prediction",
) -> Path:
    """Write `overlay_figure(...)` as a PNG and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = overlay_figure(images, truth, pred, classes, ignore_index, label=label)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


__all__ = ["class_colors", "overlay_figure", "save_overlays"]
