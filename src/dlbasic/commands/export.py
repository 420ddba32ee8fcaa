"""`dlbasic export`: a checkpoint as ONNX, TorchScript or safetensors, checked against the eager model."""

from __future__ import annotations

import argparse
from pathlib import Path

FORMATS = ("onnx", "torchscript", "safetensors")  # dlbasic.export.FORMATS (not imported: help must not load torch)
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript", "safetensors": ".safetensors"}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `dlbasic export` sub-command and its options to `sub`."""
    p = sub.add_parser(
        "export",
        help="export a checkpoint to ONNX, TorchScript or safetensors",
        description="Export the model of a checkpoint of dlbasic train (classifiers), segment train (FCNs) or detect "
        "train for other runtimes, then check it: the exported model and the eager one run on random "
        "inputs of batch 1 and 3, the largest difference is printed, and an export differing by more "
        "than 1e-4 (times the outputs' magnitude above 1) is refused and not written. "
        "onnx: dynamic batch size, the checkpoint's image size, opset 17, checked with onnxruntime. "
        "torchscript: a traced module, checked with torch.jit.load. "
        "safetensors: the weights, with the checkpoint's metadata as metadata strings (JSON); "
        "dlbasic.models.create_model(name, weights=FILE) rebuilds classifiers and FCNs from it. "
        "Detectors: yolo_v1 exports its network up to the activated grid [N, S, S, 5B + C] (decoding "
        "and NMS stay in Python, YOLOv1.decode); rcnn, sppnet and fast_rcnn cannot be exported as a "
        "graph (selective search runs in Python, scikit-image, inside forward) and neither can "
        "faster_rcnn (its RPN keeps a data-dependent number of proposals, and its heads loop over "
        "images in Python): export their weights with --format safetensors.",
        epilog="examples: dlbasic export --checkpoint runs/r18/best.pt --format onnx | "
        "dlbasic export --checkpoint runs/fcn/best.pt --format torchscript --out fcn.torchscript | "
        "dlbasic export --checkpoint runs/r18/best.pt --format safetensors",
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        help="a best.pt or checkpoint.pt of dlbasic train, segment train or detect train",
    )
    p.add_argument("--format", required=True, choices=FORMATS, help="onnx, torchscript or safetensors")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="file to write (default: the checkpoint's path with .onnx, .torchscript or .safetensors)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """`dlbasic export`: write the checkpoint in `--format`, print how it matched the eager model."""
    from dlbasic.errors import check
    from dlbasic.outputs import check_file

    out = args.out if args.out is not None else args.checkpoint.with_suffix(SUFFIXES[args.format])
    check(out.absolute() != args.checkpoint.absolute(), f"--out {out} is the checkpoint itself", "choose another --out")
    check_file(out, overwrite=args.overwrite)
    from dlbasic.export import export_checkpoint

    result = export_checkpoint(args.checkpoint, args.format, out)
    print("\n".join(result.lines()))
    return 0
