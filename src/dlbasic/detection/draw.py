"""Detections drawn: labelled boxes on an image (`detect predict`) and detectors placed by speed and
accuracy (`detect compare`)."""

from __future__ import annotations

from typing import Any

PALETTE = [(255, 64, 64), (64, 160, 255), (64, 220, 64), (255, 200, 0), (220, 64, 255), (0, 220, 220)]


def draw_boxes(image, boxes: list[list[float]], labels: list[str], scores: list[float], colours: list[int]):
    """Tensor[C, H, W] in [0, 1] with its boxes (its pixels) drawn: a PIL image, enlarged when under 256 pixels."""
    from PIL import Image, ImageDraw

    h, w = image.shape[-2:]
    scale = max(1, 256 // max(h, w))  # draw small images (scenes) larger, so the labels can be read
    rgb = (image.expand(3, -1, -1).permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype("uint8")
    im = Image.fromarray(rgb).resize((w * scale, h * scale), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(im)
    for box, label, score, colour in zip(boxes, labels, scores, colours):
        draw.rectangle([v * scale for v in box], outline=PALETTE[colour % len(PALETTE)], width=2)
        draw.text((box[0] * scale + 2, box[1] * scale + 1), f"{label} {score:.2f}", fill=(255, 255, 0))
    return im


def speed_accuracy_figure(rows: list[dict[str, Any]]):
    """mAP@.5 against seconds per image (log scale), one labelled point per detector: a matplotlib Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        ax.scatter(r["seconds_per_image"] * 1000, r["map_50"], s=40)
        ax.annotate(r["model"], (r["seconds_per_image"] * 1000, r["map_50"]), textcoords="offset points", xytext=(5, 4))
    ax.set_xscale("log")
    ax.set_xlabel("milliseconds per image (log scale; proposals included)")
    ax.set_ylabel("mAP@0.5 on the test images")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
