"""Figures as PNG files (matplotlib, Agg backend: no screen needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from dlbasic.errors import UserError


def check_figure_path(path: str | Path, option: str = "--out") -> Path:
    """Refuse, before any work, a figure file whose format matplotlib cannot write.

    A name without an extension is refused too: matplotlib would add `.png` and write another file than
    the one checked for `--overwrite`.
    """
    from matplotlib.backend_bases import FigureCanvasBase

    path = Path(path)
    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in formats:
        what = f"a .{suffix} file" if suffix else "a file without an extension"
        raise UserError(f"{option} {path}: cannot write a figure as {what}", "end the name with .png, .pdf or .svg")
    return path


def plot_curves(history: Sequence[dict[str, float]], path: str | Path) -> None:
    """Train vs validation loss and accuracy against epochs."""
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for split, style in (("train", "-o"), ("val", "-s")):
            values = [h.get(f"{split}_{metric}") for h in history]
            if any(v is not None for v in values):
                ax.plot(epochs, values, style, label=split, markersize=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if ax.get_lines():  # a run without this metric (detection has no accuracy) draws an empty panel
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(matrix, classes: Sequence[str], path: str | Path, title: str = "") -> None:
    """A confusion matrix (rows: true class, columns: predicted) with counts in the cells."""
    n = len(classes)
    fig, ax = plt.subplots(figsize=(1 + 0.5 * n, 1 + 0.5 * n))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), classes, rotation=90 if n > 12 else 0)
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    top = matrix.max() if matrix.size else 0
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                ax.text(
                    j,
                    i,
                    int(matrix[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if matrix[i, j] > top / 2 else "black",
                )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
