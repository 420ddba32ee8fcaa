"""`dlbasic detect train|eval|predict|compare`: the notebook's five detectors on one data source."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from dlbasic.commands.train import add_run_folder_options
from dlbasic.errors import UserError, check
from dlbasic.outputs import check_dir, open_dir

EXAMPLES = """examples:
  dlbasic detect train --model yolo_v1 --data scenes --epochs 20 --run-dir runs/yolo
  dlbasic detect eval --checkpoint runs/yolo/checkpoint.pt
  dlbasic detect predict --checkpoint runs/yolo/checkpoint.pt --limit 8 --out runs/yolo/pred
  dlbasic detect compare --data scenes --epochs 5 --train-limit 300 --out runs/compare
  dlbasic detect train --model faster_rcnn --data voc:../shared/data/kangaroo --image-size 128
"""
MEASURES = ("map", "map_50", "map_75", "mar_100", "voc_map_50", "seconds_per_image", "train_seconds")


def _add_run_options(p: argparse.ArgumentParser, model: bool = True, train: bool = False) -> None:
    """The options of a detection run; for `train` they are left out of `args` unless given (for --resume)."""
    from dlbasic.config import DETECTORS, DetectionConfig

    d = DetectionConfig()
    default = (lambda value: argparse.SUPPRESS) if train else (lambda value: value)
    if model:
        p.add_argument("--model", default=default(d.model), choices=DETECTORS, help=f"detector (default {d.model})")
    p.add_argument("--data", default=default(d.data), metavar="SPEC",
                   help="scenes[:options], voc:DIR, coco:FILE, yolo:DIR")
    p.add_argument("--image-size", type=int, default=default(d.image_size), metavar="N", help="resize images to N x N")
    p.add_argument("--train-limit", type=int, default=default(d.train_limit), metavar="N",
                   help="train on N images (0: all)")
    p.add_argument("--test-limit", type=int, default=default(d.test_limit), metavar="N",
                   help="test on N images (0: all)")
    p.add_argument("--epochs", type=int, default=default(d.epochs),
                   help=f"passes over the training images (default {d.epochs})")
    p.add_argument("--batch-size", type=int, default=default(d.batch_size),
                   help=f"images per step (default {d.batch_size})")
    p.add_argument("--optimizer", default=default(d.optimizer), help=f"a dlbasic.optim name (default {d.optimizer})")
    p.add_argument("--lr", type=float, default=default(d.lr), help="learning rate (default: the detector's own)")
    p.add_argument("--weight-decay", type=float, default=default(d.weight_decay), help=f"(default {d.weight_decay})")
    p.add_argument("--scheduler", default=default(d.scheduler), choices=["none", "cosine", "step", "exponential",
                                                                         "onecycle"],
                   help=f"learning-rate schedule over the run (default {d.scheduler})")
    p.add_argument("--warmup-steps", type=int, default=default(d.warmup_steps), metavar="N",
                   help=f"linear learning-rate warm-up steps, at most a tenth of the run (default {d.warmup_steps})")
    p.add_argument("--seed", type=int, default=default(d.seed), help="seed of the split, initialization and sampling")
    p.add_argument("--proposals", default=default(d.proposals), choices=["single", "fast", "quality"],
                   help=f"selective search mode of rcnn, sppnet, fast_rcnn (default {d.proposals})")
    p.add_argument("--max-proposals", type=int, default=default(d.max_proposals), help="proposals per image")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    if train:
        p.add_argument("--device", default=argparse.SUPPRESS, help="auto, cpu, cuda, cuda:N, mps (default auto)")
        p.add_argument("--precision", default=argparse.SUPPRESS, choices=["auto", "fp32", "bf16", "fp16"],
                       help=f"autocast precision (default {d.precision}; auto: bf16 where the hardware has it)")
        p.add_argument("--checkpoint-every", type=int, default=argparse.SUPPRESS, metavar="STEPS",
                       help="also checkpoint every STEPS steps inside an epoch")


def _config(args: argparse.Namespace, model: str | None = None):
    from dlbasic.config import DetectionConfig, from_dict

    values = {f.name: getattr(args, f.name) for f in fields(DetectionConfig) if hasattr(args, f.name)}
    from dlbasic.commands.train import check_config

    if model is not None:
        values["model"] = model
    return check_config(from_dict(values, cls=DetectionConfig))


def _threads(args: argparse.Namespace) -> None:
    import torch

    from dlbasic.commands.train import check_threads

    check(getattr(args, "threads", 0) >= 0, f"--threads must be at least 1 (0: torch's default), got {args.threads}")
    check_threads(getattr(args, "threads", 0))
    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)


def _shown(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in ("history", "detector")}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="train, evaluate, run and compare object detectors",
                       description="R-CNN, SPP-net, Fast R-CNN, Faster R-CNN and YOLO v1 on scenes or VOC/COCO/YOLO "
                                   "folders. mAP numbers are COCO's (map: AP@[.5:.95], map_50: AP@.5).",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    t = verbs.add_parser("train", help="train one detector; writes a run folder like `dlbasic train`",
                         description="Train one detector on the Trainer: progress bar, metrics.jsonl, curves.png, "
                                     "atomic checkpoint.pt every epoch (and --checkpoint-every steps), Ctrl-C saves, "
                                     "exact --resume, --device/--precision, several processes under torchrun.")
    _add_run_options(t, train=True)
    g = t.add_argument_group("run folder")
    g.add_argument("--run-dir", type=Path, default=None, help="where results go (default runs/detect-<model>)")
    add_run_folder_options(g)
    t.set_defaults(func=run_train)
    e = verbs.add_parser("eval", help="mAP and seconds per image of a checkpoint on its data's test split")
    e.add_argument("--checkpoint", type=Path, required=True, help="checkpoint.pt of `dlbasic detect train`")
    e.add_argument("--data", default=None, metavar="SPEC", help="other data (default: the checkpoint's)")
    e.add_argument("--test-limit", type=int, default=0, metavar="N", help="test on N images (0: all)")
    e.set_defaults(func=run_eval)
    r = verbs.add_parser("predict", help="draw detected boxes and scores on test images (PNG files)")
    r.add_argument("--checkpoint", type=Path, required=True, help="checkpoint.pt of `dlbasic detect train`")
    r.add_argument("--data", default=None, metavar="SPEC", help="other data (default: the checkpoint's)")
    r.add_argument("--limit", type=int, default=8, help="how many test images (default 8)")
    r.add_argument("--min-score", type=float, default=0.3, help="draw boxes scoring at least this (default 0.3)")
    r.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    r.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    r.set_defaults(func=run_predict)
    c = verbs.add_parser("compare", help="train and evaluate all five detectors on the same split")
    _add_run_options(c, model=False)
    c.add_argument("--models", default="rcnn,sppnet,fast_rcnn,faster_rcnn,yolo_v1", help="comma-separated subset")
    c.add_argument("--out", type=Path, required=True, help="folder for compare.json, compare.md, compare.png")
    c.add_argument("--overwrite", action="store_true", help="replace an existing --out folder (one dlbasic made)")
    c.set_defaults(func=run_compare)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_train(args: argparse.Namespace) -> int:
    from dlbasic.commands.train import resumed_config
    from dlbasic.config import DetectionConfig
    from dlbasic.detection.train import train_detector
    from dlbasic.training import distributed

    _threads(args)
    check(args.allow_changes is None or args.resume, "--allow-changes applies only with --resume")
    check(not (args.resume and args.overwrite), "--resume and --overwrite contradict each other",
          "--resume continues the run, --overwrite replaces it")
    cfg = resumed_config(args, DetectionConfig) if args.resume else _config(args)
    run_dir = args.run_dir or Path("runs") / f"detect-{cfg.model}"
    try:
        result = train_detector(cfg, run_dir=run_dir, log=lambda row: print(json.dumps(row, default=float)),
                                overwrite=args.overwrite, resume=args.resume,
                                progress=False if args.no_progress else None)
    finally:
        distributed.cleanup()
    print(json.dumps(_shown(result), indent=2, default=float))
    print(f"results in {run_dir}/ (summary.json, curves.png, checkpoint.pt)")
    return 0


def _load(args: argparse.Namespace, limit: int, action: str = "eval"):
    from dlbasic.detection.train import DetectionConfig, load_detector, load_split

    model, ckpt = load_detector(args.checkpoint, action)
    cfg = DetectionConfig(**ckpt["config"])
    spec = args.data or cfg.data
    check(isinstance(spec, str) and bool(spec), f"{args.checkpoint} names no data source ({spec!r})", "pass --data")
    split = load_split(spec, ckpt["image_size"][0], 1, limit, cfg.seed)
    check(split.train_images.shape[1] == ckpt["in_channels"],
          f"the data has {split.train_images.shape[1]} channels, the detector {ckpt['in_channels']}")
    return model, ckpt, split


def run_eval(args: argparse.Namespace) -> int:
    from dlbasic.commands.evaluate import class_map
    from dlbasic.detection.train import evaluate

    check(args.test_limit >= 0, f"--test-limit must be 0 (all) or more, got {args.test_limit}")
    model, ckpt, split = _load(args, args.test_limit)
    lut = class_map(split.classes, ckpt["classes"], args.data or ckpt["config"].get("data", "scenes"),
                    args.checkpoint)
    targets = split.test_targets if lut is None else [{**t, "labels": lut[t["labels"]]} for t in split.test_targets]
    print(json.dumps(evaluate(model, split.test_images, targets), indent=2))
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from PIL import Image, ImageDraw

    from dlbasic.detection.train import predict
    from dlbasic.outputs import check_dir, open_dir

    check(args.limit >= 1, f"--limit must be at least 1, got {args.limit}")
    check(args.min_score == args.min_score, "--min-score must be a number, got nan", "e.g. --min-score 0.3")
    where = {"overwrite": args.overwrite, "option": "--out", "what": "output folder"}
    check_dir(args.out, **where)
    model, ckpt, split = _load(args, args.limit, "predict")
    open_dir(args.out, command="detect predict", **where)
    scale = max(1, 256 // split.test_images.shape[-1])  # draw small scenes larger
    for i, (image, det) in enumerate(zip(split.test_images, predict(model, split.test_images))):
        rgb = (image.expand(3, -1, -1).permute(1, 2, 0).numpy() * 255).astype("uint8")
        im = Image.fromarray(rgb).resize((rgb.shape[1] * scale, rgb.shape[0] * scale), Image.Resampling.NEAREST)
        draw = ImageDraw.Draw(im)
        keep = det["scores"] >= args.min_score
        for box, score, label in zip(det["boxes"][keep].tolist(), det["scores"][keep].tolist(),
                                     det["labels"][keep].tolist()):
            draw.rectangle([v * scale for v in box], outline=(255, 64, 64), width=2)
            draw.text((box[0] * scale + 2, box[1] * scale + 1), f"{ckpt['classes'][label]} {score:.2f}",
                      fill=(255, 255, 0))
        im.save(args.out / f"pred_{i:03d}.png")
        print(f"{args.out / f'pred_{i:03d}.png'}: {int(keep.sum())} boxes")
    return 0


def compare_plot(rows: list[dict[str, Any]]):
    """mAP@.5 against seconds per image (log scale), one labelled point per detector: a matplotlib Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        ax.scatter(r["seconds_per_image"] * 1000, r["map_50"], s=40)
        ax.annotate(r["model"], (r["seconds_per_image"] * 1000, r["map_50"]), textcoords="offset points",
                    xytext=(5, 4))
    ax.set_xscale("log")
    ax.set_xlabel("milliseconds per image (log scale; proposals included)")
    ax.set_ylabel("mAP@0.5 on the test images")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def run_compare(args: argparse.Namespace) -> int:
    from dlbasic.detection.rcnn import SelectiveSearchProposals
    from dlbasic.detection.train import DETECTORS, load_split, train_detector

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
    split = load_split(base.data, base.image_size, base.train_limit, base.test_limit, base.seed)
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
    compare_plot(rows).savefig(args.out / "compare.png", dpi=120)
    print("\n".join(lines))
    print(f"results in {args.out}/ (compare.json, compare.md, compare.png)")
    return 0
