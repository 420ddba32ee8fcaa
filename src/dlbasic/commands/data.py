"""`dlbasic data show SPEC`: draw a few images of a detection dataset with their boxes to a PNG."""

from __future__ import annotations

import argparse
import math
import warnings
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data", help="inspect datasets", description="Inspect datasets (detection formats and scenes)."
    )
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    show = sub.add_parser(
        "show",
        help="draw images with their boxes to a PNG",
        description="Draw the first images of a detection dataset with boxes and labels.",
    )
    show.add_argument(
        "spec", help="voc:DIR, coco:FILE.json[,images=DIR], yolo:DIR, yolo:DIR/FILE.yaml or scenes[:options]"
    )
    show.add_argument(
        "--split",
        default=None,
        choices=["train", "val", "trainval", "test"],
        help="one of the source's official splits (default: all its images; scenes: train)",
    )
    show.add_argument("--out", default="data-show.png", help="PNG file to write (default: %(default)s)")
    show.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    show.add_argument("--count", type=int, default=8, help="images to draw (default: %(default)s)")
    show.set_defaults(func=run_show)


def run_show(args: argparse.Namespace) -> int:
    from dlbasic.detection.datasets import load_detection, official_splits
    from dlbasic.errors import check
    from dlbasic.outputs import check_file
    from dlbasic.report.plots import check_figure_path

    check(args.count >= 1, f"--count must be at least 1, got {args.count}")
    out = check_figure_path(check_file(args.out, overwrite=args.overwrite))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_detection(args.spec, limit=args.count, split=args.split)
        splits = official_splits(args.spec)
    for w in caught:
        print(f"warning: {w.message}")
    check(len(data) > 0, f"no readable images in {args.spec}")
    out = draw(data, out)
    n_boxes = sum(len(t["boxes"]) for t in data.targets)
    print(f"wrote {out}: {len(data)} images, {n_boxes} boxes, classes: {', '.join(data.classes)}")
    print(
        f"official splits: {', '.join(splits)}"
        if splits
        else "no official splits (detect train splits it 80/20 at random)"
    )
    return 0


def draw(data, out: Path) -> Path:
    """Grid of images (DetectionSet) with labelled boxes, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(data)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 4 * rows), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, target, name in zip(axes.flat, data.images, data.targets, data.names):
        img = image.permute(1, 2, 0).numpy()
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
        ax.set_title(name, fontsize=8)
        for (x1, y1, x2, y2), label in zip(target["boxes"].tolist(), target["labels"].tolist()):
            colour = colours(label % 10)
            ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, lw=1.5))
            ax.text(
                x1,
                y1,
                data.classes[label],
                color="white",
                fontsize=7,
                va="bottom",
                bbox={"facecolor": colour, "edgecolor": "none", "pad": 1},
            )
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out
