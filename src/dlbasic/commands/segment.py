"""`dlbasic segment train|eval|predict`: semantic segmentation with FCN-32s/16s/8s."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dlbasic.commands._options import add_run_folder_options, add_train_options, run_config
from dlbasic.errors import UserError, check

EXAMPLES = """examples:
  dlbasic segment train --run-dir runs/fcn                      # FCN-8s on 96x96 digit scenes (11 classes)
  dlbasic segment train --model fcn32s_vgg11 --epochs 5 --run-dir runs/fcn32
  dlbasic segment train --model fcn8s_resnet18 --model-option stride=32   # the paper's strides 8/16/32
  dlbasic segment train --data segfolder:data/isbi,invert=1,size=128 --run-dir runs/membrane
  dlbasic segment train --run-dir runs/fcn --resume --epochs 20 --allow-changes epochs   # continue and extend
  dlbasic segment eval --checkpoint runs/fcn/best.pt --overlays runs/fcn/test.png
  dlbasic segment predict --checkpoint runs/fcn/best.pt scene.png --out masks/
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add `dlbasic segment` and its verbs (train, eval, predict) to `sub`."""
    p = sub.add_parser(
        "segment",
        help="semantic segmentation: train, eval, predict (FCN)",
        description="Per-pixel classification with fully convolutional networks "
        "(fcn32s/fcn16s/fcn8s on vgg11, vgg16 or resnet18; backbone stride 8 by "
        "default, --model-option stride=32 for the paper's).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    t = actions.add_parser(
        "train",
        help="train a segmentation model and write a run folder",
        description="Data: scenes[:canvas=96,digits=1-4,...] or segfolder:DIR[,images=NAME,"
        "masks=NAME,mode=ids|binary|rgb,invert=1,size=N,ignore=255]. Writes "
        "config.yaml, metrics.jsonl, checkpoint.pt, best.pt (best val mIoU), "
        "summary.json and overlays.png.",
    )
    from dlbasic.segmentation.config import segmentation_config

    add_train_options(t, segmentation_config(), sources="scenes[:options], segfolder:DIR[,options]")
    g = t.add_argument_group("run folder")
    g.add_argument("--run-dir", type=Path, default=None, help="where results go (default runs/<model>-<time>)")
    add_run_folder_options(g)
    t.set_defaults(func=run_train)
    e = actions.add_parser("eval", help="pixel accuracy, mean and per-class IoU of a checkpoint")
    e.add_argument("--checkpoint", type=Path, required=True, help="a best.pt or checkpoint.pt of segment train")
    e.add_argument("--data", default=None, help="data spec (default: the one it was trained on)")
    e.add_argument(
        "--split",
        default=None,
        choices=["train", "val", "test", "all"],
        help="which images (default: the training run's test split; with --data, that source's own "
        "test folder if it has one, else all of its pairs)",
    )
    e.add_argument(
        "--at",
        default="labels",
        choices=["labels", "training-size"],
        help="measure at each label's own resolution, predictions resized with nearest neighbour (default), "
        "or at the training size",
    )
    e.add_argument("--overlays", type=Path, default=None, help="write image/truth/prediction overlays here")
    e.add_argument("--overwrite", action="store_true", help="replace an existing --overlays file")
    e.set_defaults(func=run_eval)
    q = actions.add_parser(
        "predict",
        help="predict masks for image files",
        description="Each image is resized to the training size (or --size), segmented, and "
        "its mask resized back (nearest) to the image's own size, so <stem>.png "
        "lies exactly over its image.",
    )
    q.add_argument("images", nargs="+", type=Path, help="PNG/JPEG files (any size)")
    q.add_argument("--checkpoint", type=Path, required=True)
    q.add_argument("--out", type=Path, default=Path("masks"), help="folder for <stem>.png masks and overlays.png")
    q.add_argument(
        "--size",
        type=int,
        default=None,
        help="segment at N x N (default: the training size; 0: each image at its own size)",
    )
    q.add_argument("--invert", action="store_true", help="invert gray levels first")
    q.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    q.set_defaults(func=run_predict)


def run_train(args: argparse.Namespace) -> int:
    """`dlbasic segment train`: train (or `--resume`) an FCN into its run folder and print the summary; returns 0."""
    from dlbasic.segmentation.config import segmentation_config
    from dlbasic.segmentation.train import train_segmentation

    cfg = run_config(args, base=segmentation_config())
    run_dir = args.run_dir or Path("runs") / f"{cfg.model}-{cfg.data.split(':')[0]}-{_stamp()}"
    summary = train_segmentation(
        cfg, run_dir, resume=args.resume, overwrite=args.overwrite, progress=False if args.no_progress else None
    )
    print(json.dumps({k: v for k, v in summary.items() if k not in ("history", "model")}, indent=2))
    print(f"results in {run_dir}/ (summary.json, overlays.png, best.pt)")
    return 0


def _stamp() -> str:
    import time

    return time.strftime("%Y%m%d-%H%M%S")


def run_eval(args: argparse.Namespace) -> int:
    """`dlbasic segment eval`: a checkpoint's pixel accuracy and (mean) IoU on a split, optionally with overlays."""
    import torch

    from dlbasic.commands.evaluate import class_map
    from dlbasic.outputs import check_file
    from dlbasic.report.plots import check_figure_path
    from dlbasic.segmentation.data import MaskDataset, concat, load_segmentation
    from dlbasic.segmentation.overlay import save_overlays
    from dlbasic.segmentation.train import evaluate_model
    from dlbasic.training.kinds import model_from_checkpoint

    if args.overlays is not None:
        check_figure_path(check_file(args.overlays, overwrite=args.overwrite, option="--overlays"), "--overlays")
    model, meta = model_from_checkpoint(args.checkpoint, "segmentation")
    cfg = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    spec = args.data or meta.get("data")
    check(
        isinstance(spec, str) and bool(spec),
        f"{args.checkpoint} does not say which data it was trained on",
        "pass --data",
    )
    opts = {k: cfg[k] for k in ("val_fraction", "test_fraction", "image_size") if k in cfg}
    if args.data is None and isinstance(cfg.get("test_data"), str) and cfg["test_data"]:
        opts["test_data"] = cfg["test_data"]  # the run's own test source
    split = args.split or ("test" if args.data is None or spec.startswith("scenes") else None)
    if split is None:  # a source the user names: its own test folder, else every pair
        first = load_segmentation(spec, "test", cfg.get("seed", 0), **opts)
        split = "test" if first.info.get("test") == "DIR/test" else "all"
    if split == "all":
        parts = [load_segmentation(spec, s, cfg.get("seed", 0), **opts) for s in ("train", "val", "test")]
        data = concat(parts, "all")
    else:
        data = load_segmentation(spec, split, cfg.get("seed", 0), **opts)
    check(
        data.in_channels == meta["in_channels"],
        f"{spec} has {data.in_channels}-channel images; the model was trained on {meta['in_channels']}",
    )
    lut = class_map(data.classes, meta["classes"], spec, args.checkpoint)
    if lut is not None:  # mask ids by class name; ids outside the data's classes stay uncounted
        ignore = data.info["ignore_index"]
        top = max([int(m.max()) + 1 for m in [data.labels, *(data.full_labels or [])] if m.numel()], default=0)
        table = torch.full((max(top, len(lut)),), ignore)
        table[: len(lut)] = lut
        full = None if data.full_labels is None else [table[m.long()] for m in data.full_labels]
        data = MaskDataset(
            data.pixels,
            table[data.labels.long()],
            list(meta["classes"]),
            data.mean,
            data.std,
            data.name,
            data.split,
            data.info,
            data.rows,
        )
        data.full_labels = full
    data.mean, data.std = torch.tensor(meta["mean"]), torch.tensor(meta["std"])  # the training statistics
    result = evaluate_model(model, data, at=args.at)
    if args.overlays:
        images, labels = data.batch(slice(0, min(6, len(data))))
        save_overlays(
            args.overlays, images, labels, result["pred"][: len(labels)], data.classes, data.info["ignore_index"]
        )
    shown = {k: result[k] for k in ("pixel_accuracy", "mean_iou", "iou", "resolution")}
    print(json.dumps({"data": spec, "split": split, "images": len(data), **shown}, indent=2))
    print(f"scored {len(data)} images of {spec} ({'all of them' if split == 'all' else f'its {split} split'})")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """`dlbasic segment predict`: write each image file's predicted mask (and overlays.png if they share a size)."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image

    from dlbasic.data.images import read_user_image
    from dlbasic.data.sources import check_memory
    from dlbasic.outputs import check_dir, open_dir, output_names
    from dlbasic.segmentation.overlay import save_overlays
    from dlbasic.segmentation.task import predict_masks
    from dlbasic.training.kinds import model_from_checkpoint

    if args.size is not None:
        if args.size < 0:
            raise UserError(
                f"--size must be 0 (each image's own size) or more, got {args.size}",
                "or leave it out to segment at the training size",
            )
        check_memory(1, 3, args.size, "--size")
    where = {"overwrite": args.overwrite, "option": "--out", "what": "output folder"}
    check_dir(args.out, **where)
    names = output_names([p.name for p in args.images], reserved=("overlays.png",))
    model, meta = model_from_checkpoint(args.checkpoint, "segmentation", action="predict")
    check(meta["num_classes"] <= 256, "masks with more than 256 classes cannot be written as 8-bit PNG")
    size = meta["input_size"] if args.size is None else args.size or None
    images = [read_user_image(path, meta["in_channels"], invert=args.invert) for path in args.images]
    open_dir(args.out, command="segment predict", **where)
    mean, std = torch.tensor(meta["mean"]), torch.tensor(meta["std"])
    shown = []
    for path, name, x in zip(args.images, names, images):
        seen = (
            x
            if size is None
            else F.interpolate(x[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[
                0
            ].clamp_(0, 1)
        )
        mask = predict_masks(model, seen[None], mean, std)[0]
        if mask.shape != x.shape[-2:]:  # back onto the image: each pixel takes the class of its nearest cell
            mask = F.interpolate(mask[None, None].float(), size=x.shape[-2:], mode="nearest")[0, 0].long()
        Image.fromarray(mask.numpy().astype(np.uint8), "L").save(args.out / name)
        counts = torch.bincount(mask.flatten(), minlength=meta["num_classes"])
        present = ", ".join(f"{meta['classes'][k]} {int(c)}" for k, c in enumerate(counts.tolist()) if c)
        at = "its own size" if size is None else f"{size}x{size}"
        print(
            f"{path}: segmented at {at}, mask {mask.shape[1]}x{mask.shape[0]} -> {args.out / name} (pixels: {present})"
        )
        shown.append((x, mask))
    same = len({tuple(x.shape) for x, _ in shown}) == 1
    if same:
        save_overlays(
            args.out / "overlays.png",
            torch.stack([x for x, _ in shown[:6]]),
            None,
            torch.stack([m for _, m in shown[:6]]),
            meta["classes"],
        )
    return 0
