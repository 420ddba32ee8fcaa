"""`dlbasic data show SPEC`: what a data source holds, as training would split it, and a few of its images.

For any spec it prints the conventions found (layout, official splits or how splits are made, mask
encoding, class names), the size of each split, and per class the images (classification), boxes
(detection) or pixels (segmentation) in each split; then it draws the first images with their labels,
boxes or masks to a PNG.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

DETECTION = ("voc", "coco", "yolo")
EXAMPLES = """
examples:
  dlbasic data show voc:../shared/data/kangaroo              # a VOC set: splits, boxes per class, 8 images drawn
  dlbasic data show coco:data/coco --split val                # a COCO folder (annotations/instances_val2017.json)
  dlbasic data show segfolder:../shared/data/isbi2012-membrane,invert=1
  dlbasic data show idx:../shared/data/mnist --out mnist.png
  dlbasic data show scenes --task segment                     # the digit scenes as masks instead of boxes
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `data` command and its `show` action (arguments, help and examples) to the CLI's subparsers."""
    parser = subparsers.add_parser(
        "data", help="inspect datasets", description="Inspect datasets: splits, classes and a few images."
    )
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    show = sub.add_parser(
        "show",
        help="summarize a data source and draw a few of its images",
        description=__doc__.split("\n\n", 1)[1].replace("\n", " "),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument(
        "spec",
        help="any data spec: mnist5k, digits, idx:DIR, cifar10:DIR, folder:DIR, segfolder:DIR[,options], "
        "voc:DIR, coco:FILE|DIR[,images=DIR], yolo:DIR[/FILE.yaml], scenes[:options]",
    )
    show.add_argument(
        "--task",
        default="auto",
        choices=["auto", "classify", "detect", "segment"],
        help="how to read the spec (default: from its kind; scenes are read as detection)",
    )
    show.add_argument(
        "--split",
        default=None,
        choices=["train", "val", "trainval", "test"],
        help="the split to draw (default: the training split; detection without official splits: all images)",
    )
    show.add_argument(
        "--test-data",
        default=None,
        metavar="SPEC",
        help="the test source training would use (--test-data of train): shown as the test split",
    )
    show.add_argument("--seed", type=int, default=0, help="seed of random splits, as in training (default: 0)")
    show.add_argument("--out", default="data-show.png", help="PNG file to write (default: %(default)s)")
    show.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    show.add_argument("--count", type=int, default=8, help="images to draw (default: %(default)s)")
    show.set_defaults(func=run_show)


def task_of(spec: str) -> str:
    """The task a spec is read for by default: detection formats and scenes detect, segfolder segments."""
    name = spec.partition(":")[0]
    return "detect" if name in (*DETECTION, "scenes") else "segment" if name == "segfolder" else "classify"


def run_show(args: argparse.Namespace) -> int:
    """Run `dlbasic data show`: print the summary of `args.spec` for its task and draw its first images to `--out`.

    Warnings raised while loading are printed once each on stderr, before the summary.

    Returns:
        The exit status, 0.
    """
    from dlbasic.errors import check
    from dlbasic.outputs import check_file
    from dlbasic.report.plots import check_figure_path

    check(args.count >= 1, f"--count must be at least 1, got {args.count}")
    out = check_figure_path(check_file(args.out, overwrite=args.overwrite))
    task = task_of(args.spec) if args.task == "auto" else args.task
    check(
        task == "detect" or args.spec.partition(":")[0] not in DETECTION,
        f"{args.spec} is a detection source",
        "leave out --task, or use --task detect",
    )
    show = {"classify": show_classification, "detect": show_detection, "segment": show_segmentation}[task]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lines, drawn = show(args.spec, args.split, args.seed, args.count, out, args.test_data or None)
    for text in dict.fromkeys(" ".join(str(w.message).split()) for w in caught):  # each once, on stderr
        print(f"dlbasic data: warning: {text}", file=sys.stderr)
    print("\n".join(lines))
    print(f"wrote {out}: {drawn}")
    return 0


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Rows as aligned text columns (the first left-aligned, the others right-aligned)."""
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[k]) for row in cells) for k in range(len(header))]
    return [
        "  " + "  ".join(c.ljust(w) if k == 0 else c.rjust(w) for k, (c, w) in enumerate(zip(row, widths)))
        for row in cells
    ]


def per_class(classes: Sequence[str], counts: dict[str, Sequence[int]], unit: str) -> list[str]:
    """Per class, its count in each split (column per split)."""
    splits = list(counts)
    rows = [[name, *(counts[s][k] for s in splits)] for k, name in enumerate(classes)]
    return [f"{unit} per class:", *table(["class", *splits], rows)]


def pick(split: str | None, available: Sequence[str]) -> str:
    """The split to draw: `split`, or `"train"` when none is given, checked to be one of `available`."""
    from dlbasic.errors import check

    split = split or "train"
    check(split in available, f"no {split} split here", "splits: " + ", ".join(available))
    return split


def show_classification(
    spec: str, split: str | None, seed: int, count: int, out: Path, test_data: str | None = None
) -> tuple[list[str], str]:
    """Summarize a classification source (classes, image size, images per split and per class) and draw its images.

    Returns:
        The summary lines, and a phrase saying what was drawn to `out`.
    """
    import torch

    from dlbasic.data import load

    parts = {s: load(spec, s, seed, allow_empty=True, test_data=test_data) for s in ("train", "val", "test")}
    train = parts["train"]
    c, h, w = train.pixels.shape[1:]
    lines = [
        f"classification data {spec}: {len(train.classes)} classes, {c} channel(s), {w}x{h} pixels, "
        f"stored as {train.pixels.dtype}".replace("torch.", ""),
        *table(
            ["split", "images", "made by"],
            [
                ["train", len(train), "the rest"],
                ["val", len(parts["val"]), train.info.get("val", "")],
                ["test", len(parts["test"]), train.info.get("test", "")],
            ],
        ),
    ]
    counts = {s: torch.bincount(d.labels, minlength=len(d.classes)).tolist() for s, d in parts.items()}
    lines += per_class(train.classes, counts, "images")
    data = parts[pick(split, list(parts))]
    images, labels = data.batch(slice(0, min(count, len(data))))
    n = len(labels)
    grid(list(images), [data.classes[int(y)] for y in labels], out, lambda ax, i: None)
    return lines, f"the first {n} {data.split} images with their classes"


def show_segmentation(
    spec: str, split: str | None, seed: int, count: int, out: Path, test_data: str | None = None
) -> tuple[list[str], str]:
    """Summarize a segmentation source (its conventions, images and void pixels per split, each class's share of
    the labelled pixels) and draw its images with their masks.

    Returns:
        The summary lines, and a phrase saying what was drawn to `out`.
    """
    from dlbasic.segmentation.data import load_segmentation
    from dlbasic.segmentation.overlay import save_overlays

    parts = {s: load_segmentation(spec, s, seed, test_data=test_data) for s in ("train", "val", "test")}
    train = parts["train"]
    ignore = train.info["ignore_index"]
    c, h, w = train.pixels.shape[1:]
    k = len(train.classes)
    lines = [f"segmentation data {spec}: {k} classes, {c} channel(s), {w}x{h} pixels"]
    lines += [f"  {note}" for note in train.info.get("conventions", [])]
    counts = {s: value_counts(d.labels, max(k, ignore + 1)) for s, d in parts.items()}  # pixels of each mask value
    void = {s: int(c[ignore]) for s, c in counts.items()}
    lines += table(
        ["split", "images", "void pixels", "made by"],
        [
            ["train", len(train), void["train"], "the rest"],
            ["val", len(parts["val"]), void["val"], train.info.get("val", "")],
            ["test", len(parts["test"]), void["test"], train.info.get("test", "")],
        ],
    )
    shares = {}
    for s in parts:
        hist = counts[s][:k].double()
        if ignore < k:
            hist[ignore] = 0
        shares[s] = [f"{v:.1%}" for v in (hist / max(1, int(hist.sum()))).tolist()]
    lines += per_class(train.classes, shares, "share of labelled pixels")
    data = parts[pick(split, list(parts))]
    images, labels = data.batch(slice(0, min(count, len(data))))
    n = len(labels)
    save_overlays(out, images, None, labels, data.classes, ignore, label="mask")
    return lines, f"the first {n} {data.split} images with their masks"


def value_counts(masks, minlength: int):
    """How many pixels of `masks` (Tensor[N, H, W] of ids) hold each value, a few masks at a time (no copy of all)."""
    import torch

    out = torch.zeros(minlength, dtype=torch.int64)
    for i in range(0, len(masks), 64):
        part = torch.bincount(masks[i : i + 64].reshape(-1), minlength=minlength)
        if len(part) > len(out):
            out = torch.cat([out, torch.zeros(len(part) - len(out), dtype=torch.int64)])
        out[: len(part)] += part
    return out


def show_detection(
    spec: str, split: str | None, seed: int, count: int, out: Path, test_data: str | None = None
) -> tuple[list[str], str]:
    """Summarize a detection source (its layout, images, boxes and crowd boxes per split, non-crowd boxes per
    class) and draw its images with their boxes.

    Without `split` it draws from the train split of a source that has one (scenes included), else from every
    image of the source (of the named COCO file); `split="test"` with `test_data` draws the test source's images.

    Returns:
        The summary lines, and a phrase saying what was drawn to `out`.
    """
    from dlbasic.detection.data.sources import describe_layout, load_detection, official_splits
    from dlbasic.detection.data.splits import load_parts

    scenes = spec.partition(":")[0] == "scenes"
    lines = [f"detection data {spec}"]
    lines += [f"  {note}" for note in (["digit scenes: their own train, val and test splits"] if scenes else [])]
    lines += [f"  {note}" for note in ([] if scenes else describe_layout(spec))]
    train, test, train_how, test_how = load_parts(spec, seed, test_data=test_data or "")
    lines += table(
        ["split", "images", "boxes", "boxes/image", "most", "crowd", "made by"],
        [box_row("train", train, train_how), box_row("test", test, test_how)],
    )
    counts = {}
    for name, part in (("train", train), ("test", test)):
        labels = [int(v) for t in part.targets for v, c in zip(t["labels"], crowd_flags(t)) if not c]
        counts[name] = [labels.count(k) for k in range(len(train.classes))]
    lines += per_class(train.classes, counts, "boxes")
    if split is None and not scenes and official_splits(spec):
        split = "train" if "train" in official_splits(spec) else None
    if test_data and split == "test":  # the test source's images
        test.images, test.targets, test.names = test.images[:count], test.targets[:count], test.names[:count]
        data = test
    else:
        data = load_detection(spec, limit=count, split=split)
    draw(data, out)
    which = f"the first {len(data)} {split} images" if split else f"the first {len(data)} images"
    return lines, f"{which} with {sum(len(t['boxes']) for t in data.targets)} boxes"


def crowd_flags(target: dict) -> list[bool]:
    """Whether each box of a detection target is a crowd box (its `iscrowd` entry; without one, none is)."""
    crowd = target.get("iscrowd")
    return [bool(v) for v in crowd] if crowd is not None else [False] * len(target["boxes"])


def box_row(name: str, data, how: str) -> list[object]:
    """The `show_detection` table row of one split: its images, boxes, mean and most boxes per image, crowd
    boxes, and how it was made."""
    boxes = [len(t["boxes"]) for t in data.targets]
    crowd = sum(sum(crowd_flags(t)) for t in data.targets)
    return [name, len(data), sum(boxes), f"{sum(boxes) / max(1, len(boxes)):.2f}", max(boxes, default=0), crowd, how]


def grid(images: list, titles: list[str], out: Path, decorate) -> None:
    """Images Tensor[C, H, W] in [0, 1] (or uint8) in a grid of up to 4 columns, titled, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, image, title) in enumerate(zip(axes.flat, images, titles)):
        img = image.permute(1, 2, 0).numpy()
        img = img / 255.0 if img.dtype.kind == "u" else img
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
        decorate(ax, i)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def draw(data, out: Path) -> Path:
    """Grid of images (DetectionSet) with labelled boxes, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = plt.get_cmap("tab10")

    def boxes(ax, i: int) -> None:
        target = data.targets[i]
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

    grid(list(data.images), list(data.names), out, boxes)
    return out
