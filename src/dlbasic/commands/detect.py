"""`dlbasic detect train|eval|predict|compare`: the notebook's five detectors on one data source."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path
from typing import Any

from dlbasic.commands._options import add_config_options, add_run_folder_options
from dlbasic.errors import UserError, check
from dlbasic.outputs import check_dir, open_dir, output_names

EXAMPLES = """examples:
  dlbasic detect train --model yolo_v1 --data scenes --epochs 20 --run-dir runs/yolo
  dlbasic detect eval --checkpoint runs/yolo/checkpoint.pt
  dlbasic detect predict --checkpoint runs/yolo/checkpoint.pt --limit 8 --out runs/yolo/pred
  dlbasic detect predict --checkpoint runs/voc/checkpoint.pt photo1.jpg photo2.png --out pred
  dlbasic detect compare --data scenes --epochs 5 --train-limit 300 --out runs/compare
  dlbasic detect train --model faster_rcnn --data voc:../shared/data/kangaroo --image-size 128
"""
DATA_HELP = """data sources (--data):
  scenes[:options]             synthetic scenes of digits (its own train and test splits)
  voc:DIR                      Annotations/ + JPEGImages/, annots/ + images/, or .xml beside the images
  coco:FILE[,images=DIR]       an instances JSON; images= names the image folder
  coco:DIR                     a COCO dataset folder (annotations/instances_train2017.json, ...)
  yolo:DIR, yolo:DIR/FILE.yaml images/ + labels/, or an Ultralytics dataset YAML (names, train, val, test)
splits: a source's official splits are used: VOC ImageSets/Main/{train,val,trainval,test}.txt, COCO's
  sibling annotations/instances_<split>.json files, a YOLO YAML's train/val/test or images/{train,val}/;
  training is on train (trainval when testing on test), testing on test, else val. Only a source without
  them is split 80/20 at random by --seed. The summary says which ("split", "train_split").
"""

TRAIN_EXAMPLES = """
examples:
  dlbasic detect train --model yolo_v1 --data scenes --epochs 20 --run-dir runs/yolo
  dlbasic detect train --data voc:data/VOC2007 --image-size 128 --run-dir runs/voc
  dlbasic detect train --data coco:data/coco/annotations/instances_train2017.json --image-size 128
  dlbasic detect train --data yolo:data/coco128/coco128.yaml --image-size 128 --epochs 30
  dlbasic detect train --run-dir runs/yolo --resume --epochs 40 --allow-changes epochs
"""


def train_epilog() -> str:
    """Detection defaults (from DetectionConfig, so they stay true) and examples of `detect train`."""
    from dlbasic.detection.config import DetectionConfig
    from dlbasic.detection.models.registry import DEFAULT_LR

    d = DetectionConfig()
    lrs = ", ".join(f"{m} {lr:g}" for m, lr in DEFAULT_LR.items())
    defaults = (
        f"defaults: {d.model} on {d.data}, {d.epochs} epochs, batch {d.batch_size}, {d.optimizer} at the "
        f"detector's own learning rate ({lrs}), weight decay {d.weight_decay:g}, {d.scheduler} schedule "
        f"after {d.warmup_steps} warm-up steps, images at their own size (all must share one; --image-size "
        f"N resizes them to N x N), seed {d.seed}."
    )
    return textwrap.fill(defaults, 104) + "\n\n" + DATA_HELP + TRAIN_EXAMPLES


EVAL_EPILOG = """which images: without --data, the test images of the checkpoint's training run (its official
test or val split, or the random 20 % of its seed); with --data, ALL the images of that source. --split
train|val|trainval|test picks an official split instead (on a source without official splits, train and
test are the two parts of the random 80/20 split of --seed). Classes are matched to the checkpoint's by
name: a source may hold a subset of them; a class the checkpoint does not know is an error.
The output: COCO mAP (map = AP@[.5:.95], map_50, map_75, map_small/medium/large), mar_100, VOC AP@.5,
seconds per image, and how many images were scored.

examples:
  dlbasic detect eval --checkpoint runs/voc/checkpoint.pt
  dlbasic detect eval --checkpoint runs/voc/checkpoint.pt --data voc:data/my-test-photos
  dlbasic detect eval --checkpoint runs/voc/checkpoint.pt --data voc:data/VOC2007 --split val --test-limit 200
"""
PREDICT_EPILOG = """Images are predicted at the checkpoint's training size and the boxes are drawn on each image at
its own size (small images are enlarged for legibility); each output is named after its input (<stem>.png),
and predictions.json holds every drawn box in the input's pixel coordinates (x1, y1, x2, y2).
Without image files: --limit images of --data (default the checkpoint's data), chosen as by detect eval.

examples:
  dlbasic detect predict --checkpoint runs/voc/checkpoint.pt photo1.jpg photo2.png --out pred
  dlbasic detect predict --checkpoint runs/yolo/checkpoint.pt --limit 8 --out runs/yolo/pred
  dlbasic detect predict --checkpoint runs/voc/checkpoint.pt --data voc:data/VOC2007 --split test --top 5 --out pred
"""
SPLITS = ("all", "train", "val", "trainval", "test")
MEASURES = ("map", "map_50", "map_75", "mar_100", "voc_map_50", "seconds_per_image", "train_seconds")


# the `DetectionConfig` fields that are options of `detect compare` and (with the detector and the engineering
# options of one training run) of `detect train`, in the order of their help
RUN_OPTIONS = (
    "data",
    "test_data",
    "image_size",
    "train_limit",
    "test_limit",
    "epochs",
    "batch_size",
    "optimizer",
    "lr",
    "weight_decay",
    "scheduler",
    "warmup_steps",
    "seed",
    "proposals",
    "max_proposals",
    "threads",
)
TRAIN_OPTIONS = (
    "model",
    *RUN_OPTIONS,
    "device",
    "precision",
    "checkpoint_every",
    "channels_last",
    "grad_clip",
    "sync_bn",
)


def _config(args: argparse.Namespace, model: str):
    """The `DetectionConfig` of detector `model` with every option given (`detect compare`)."""
    from dlbasic.commands._options import config_from_args
    from dlbasic.detection.config import DetectionConfig

    return config_from_args(args, DetectionConfig(model=model))


def _threads(args: argparse.Namespace) -> None:
    import torch

    from dlbasic.config import check_threads

    threads = getattr(args, "threads", 0)  # (left out of `detect train` unless given)
    check(threads >= 0, f"--threads must be at least 1 (0: torch's default), got {threads}")
    check_threads(threads)
    if threads:
        torch.set_num_threads(threads)


def _shown(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in ("history", "detector")}


def _add_source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint.pt of `dlbasic detect train`")
    p.add_argument(
        "--data",
        default=None,
        metavar="SPEC",
        help="voc:DIR, coco:FILE[,images=DIR], yolo:DIR, scenes[:options] (default: the checkpoint's)",
    )
    p.add_argument(
        "--split",
        default=None,
        choices=SPLITS,
        help="which of its images: all, or an official split (default: all images of --data; without "
        "--data, the training run's test images)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the random 80/20 split of a source without official splits (default: the checkpoint's)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    """Add `dlbasic detect` and its verbs (train, eval, predict, compare) to `sub`; the options of a run are
    `DetectionConfig`'s fields (`add_config_options`)."""
    from dlbasic.detection.config import DetectionConfig

    p = sub.add_parser(
        "detect",
        help="train, evaluate, run and compare object detectors",
        description="R-CNN, SPP-net, Fast R-CNN, Faster R-CNN and YOLO v1 on scenes or VOC/COCO/YOLO "
        "folders. mAP numbers are COCO's (map: AP@[.5:.95], map_50: AP@.5).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    t = verbs.add_parser(
        "train",
        help="train one detector; writes a run folder like `dlbasic train`",
        description="Train one detector on the Trainer: progress bar, metrics.jsonl, curves.png, "
        "atomic checkpoint.pt every epoch (and --checkpoint-every steps), Ctrl-C saves, "
        "exact --resume, --device/--precision, several processes under torchrun. "
        "Then the test images are scored (summary.json).",
        epilog=train_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_options(t, DetectionConfig(), TRAIN_OPTIONS, into=t)
    g = t.add_argument_group("run folder")
    g.add_argument("--run-dir", type=Path, default=None, help="where results go (default runs/detect-<model>)")
    add_run_folder_options(g)
    t.set_defaults(func=run_train)
    e = verbs.add_parser(
        "eval",
        help="mAP and seconds per image of a checkpoint on a source's images",
        description="Score a detector of `dlbasic detect train` on a data source.",
        epilog=EVAL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_source_options(e)
    e.add_argument("--test-limit", type=int, default=0, metavar="N", help="score the first N images (0: all)")
    e.set_defaults(func=run_eval)
    r = verbs.add_parser(
        "predict",
        help="draw detected boxes and scores on image files or a source's images",
        description="Detect objects in image files (or a data source's images) with a detector of "
        "`dlbasic detect train`; writes one PNG per image and predictions.json.",
        epilog=PREDICT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("images", nargs="*", type=Path, help="image files (PNG, JPEG, ...); none: images of --data")
    _add_source_options(r)
    r.add_argument("--limit", type=int, default=8, help="without image files: how many images of --data (default 8)")
    r.add_argument("--top", type=int, default=20, help="draw at most this many boxes per image (default 20)")
    r.add_argument("--min-score", type=float, default=0.05, help="draw boxes scoring at least this (default 0.05)")
    r.add_argument("--out", type=Path, required=True, help="folder for the PNG files and predictions.json")
    r.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    r.set_defaults(func=run_predict)
    c = verbs.add_parser("compare", help="train and evaluate all five detectors on the same split")
    add_config_options(c, DetectionConfig(), RUN_OPTIONS, into=c)
    c.add_argument("--models", default="rcnn,sppnet,fast_rcnn,faster_rcnn,yolo_v1", help="comma-separated subset")
    c.add_argument("--out", type=Path, required=True, help="folder for compare.json, compare.md, compare.png")
    c.add_argument("--overwrite", action="store_true", help="replace an existing --out folder (one dlbasic made)")
    c.set_defaults(func=run_compare)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_train(args: argparse.Namespace) -> int:
    """`dlbasic detect train`: train (or `--resume`) one detector into its run folder and print the test summary."""
    from dlbasic.commands._options import run_config
    from dlbasic.detection.config import DetectionConfig
    from dlbasic.detection.train import train_detector
    from dlbasic.training import distributed

    _threads(args)
    cfg = run_config(args, DetectionConfig())
    run_dir = args.run_dir or Path("runs") / f"detect-{cfg.model}"
    try:
        result = train_detector(
            cfg,
            run_dir=run_dir,
            log=lambda row: print(json.dumps(row, default=float)),
            overwrite=args.overwrite,
            resume=args.resume,
            progress=False if args.no_progress else None,
        )
    finally:
        distributed.cleanup()
    print(json.dumps(_shown(result), indent=2, default=float))
    print(
        f"trained on {result['train_images']} images ({result['train_split']}), tested on {result['test_images']} "
        f"({result['split']})"
    )
    print(f"results in {run_dir}/ (summary.json, curves.png, checkpoint.pt)")
    return 0


def _images(args: argparse.Namespace, ckpt: dict[str, Any], limit: int):
    """The images `--data`/`--split` name (see EVAL_EPILOG): (DetectionSet, spec, how they were chosen)."""
    from dlbasic.detection.config import DetectionConfig
    from dlbasic.detection.data.splits import load_images, test_source

    cfg = DetectionConfig(**DetectionConfig.upgrade(ckpt["config"]))  # (written before None meant unset: 0, "")
    spec = args.data or cfg.data
    check(isinstance(spec, str) and bool(spec), f"{args.checkpoint} names no data source ({spec!r})", "pass --data")
    which = args.split or ("all" if args.data else "heldout")
    if which == "heldout" and args.data is None and cfg.test_data:  # the run's own test source
        spec = cfg.test_data
        how, data = test_source(spec, limit)
    else:
        data, how = load_images(spec, which, cfg.seed if args.seed is None else args.seed, limit)
    check(len(data) > 0, f"{spec}: no image to use ({how})")
    channels = {im.shape[0] for im in data.images}
    check(
        channels == {ckpt["in_channels"]},
        f"the data has {'/'.join(map(str, sorted(channels)))}-channel images, the detector {ckpt['in_channels']}",
    )
    return data, spec, how


def run_eval(args: argparse.Namespace) -> int:
    """`dlbasic detect eval`: a checkpoint's COCO mAP and seconds per image on the images `--data`/`--split` name."""
    from dlbasic.commands.evaluate import class_map
    from dlbasic.detection.data.splits import as_batch
    from dlbasic.detection.train import evaluate, load_detector

    check(args.test_limit >= 0, f"--test-limit must be 0 (all) or more, got {args.test_limit}")
    model, ckpt = load_detector(args.checkpoint, "eval")
    data, spec, how = _images(args, ckpt, args.test_limit)
    lut = class_map(data.classes, ckpt["classes"], spec, args.checkpoint)  # by name
    images, targets = as_batch(data, tuple(ckpt["image_size"]), training=False)
    if lut is not None:
        targets = [{**t, "labels": lut[t["labels"]]} for t in targets]
    result = {"data": spec, "split": how, "images": len(images), **evaluate(model, images, targets)}
    print(json.dumps(result, indent=2))
    print(f"scored {len(images)} images of {spec} ({how})")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    """`dlbasic detect predict`: draw detected boxes on image files (or a source's images); writes predictions.json."""
    from dlbasic.data.images import read_user_image
    from dlbasic.detection.draw import draw_boxes
    from dlbasic.detection.train import load_detector, predict_images

    check(args.limit >= 1, f"--limit must be at least 1, got {args.limit}")
    check(args.top >= 1, f"--top must be at least 1, got {args.top}")
    check(args.min_score == args.min_score, "--min-score must be a number, got nan", "e.g. --min-score 0.05")
    check(not (args.images and (args.data or args.split)), "give image files or --data/--split, not both")
    where = {"overwrite": args.overwrite, "option": "--out", "what": "output folder"}
    check_dir(args.out, **where)
    model, ckpt = load_detector(args.checkpoint, "predict")
    if args.images:
        images = [read_user_image(p, ckpt["in_channels"]) for p in args.images]
        names, sources = [p.name for p in args.images], [str(p) for p in args.images]
    else:
        data, spec, how = _images(args, ckpt, args.limit)
        images, names = data.images, data.names or [f"image_{i}" for i in range(len(data))]
        sources = names
        print(f"{len(images)} images of {spec} ({how})")
    detections = predict_images(model, images, tuple(ckpt["image_size"]))
    open_dir(args.out, command="detect predict", **where)
    records = []
    for image, det, name, source in zip(images, detections, output_names(names), sources):
        order = det["scores"].argsort(descending=True)
        order = order[det["scores"][order] >= args.min_score][: args.top]
        boxes, scores = det["boxes"][order].tolist(), det["scores"][order].tolist()
        labels = det["labels"][order].tolist()
        classes = [ckpt["classes"][k] for k in labels]
        draw_boxes(image, boxes, classes, scores, labels).save(args.out / name)
        records.append(
            {
                "image": source,
                "output": name,
                "width": image.shape[-1],
                "height": image.shape[-2],
                "boxes": [[round(v, 2) for v in b] for b in boxes],
                "scores": [round(v, 4) for v in scores],
                "labels": classes,
            }
        )
        print(
            f"{args.out / name}: {len(boxes)} boxes drawn (of {len(det['scores'])} detections; "
            f"top {args.top} scoring at least {args.min_score:g})"
        )
    (args.out / "predictions.json").write_text("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n")
    print(f"results in {args.out}/ ({len(records)} PNG files, predictions.json)")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """`dlbasic detect compare`: train and score each `--models` detector on one shared split."""
    from dlbasic.detection.data.splits import load_split
    from dlbasic.detection.draw import speed_accuracy_figure
    from dlbasic.detection.models.rcnn import SelectiveSearchProposals
    from dlbasic.detection.models.registry import DETECTORS
    from dlbasic.detection.train import train_detector

    _threads(args)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in DETECTORS]
    if unknown:
        raise UserError(f"unknown detectors {unknown}", f"choices: {', '.join(DETECTORS)}")
    check(bool(models), f"--models {args.models!r} names no detector", f"e.g. --models {','.join(DETECTORS)}")
    twice = sorted({m for m in models if models.count(m) > 1})
    check(not twice, f"--models lists {', '.join(twice)} twice", "name each detector once")
    base = _config(args, models[0])
    where = {"overwrite": args.overwrite, "option": "--out", "what": "output folder"}
    check_dir(args.out, **where)
    split = load_split(base.data, base.image_size, base.train_limit, base.test_limit, base.seed, base.test_data)
    print(
        f"{base.data}: training on {len(split.train_images)} images ({split.train_split}), testing on "
        f"{len(split.test_images)} ({split.split})",
        flush=True,
    )
    proposals = SelectiveSearchProposals(base.proposals, base.max_proposals)  # searched once, shared
    rows = []
    for name in models:
        result = train_detector(_config(args, name), split, proposals=proposals)
        rows.append({k: result[k] for k in ("model", *MEASURES)})
        print(json.dumps(rows[-1], default=float), flush=True)
    open_dir(args.out, command="detect compare", **where)
    (args.out / "compare.json").write_text(json.dumps(rows, indent=2))
    lines = ["| detector | " + " | ".join(MEASURES) + " |", "|---" * (len(MEASURES) + 1) + "|"]
    lines += [f"| {r['model']} | " + " | ".join(f"{r[k]:.4g}" for k in MEASURES) + " |" for r in rows]
    (args.out / "compare.md").write_text("\n".join(lines) + "\n")
    speed_accuracy_figure(rows).savefig(args.out / "compare.png", dpi=120)
    print("\n".join(lines))
    print(f"results in {args.out}/ (compare.json, compare.md, compare.png)")
    return 0
