"""`dlbasic params`: a model's per-layer table (output shape, parameters, MACs, receptive field),
or a comparison of several models' totals."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `dlbasic params` sub-command and its options to `sub`."""
    p = sub.add_parser(
        "params",
        help="parameters, MACs and receptive fields of a zoo model",
        description="Summarize a zoo model layer by layer: output shape, parameters, "
        "multiply-accumulates (convolutions and linear layers) and receptive field. "
        "Models are built on the meta device, so even VGG takes a second.",
        epilog="examples: dlbasic params resnet50 | "
        "dlbasic params vgg16 --compare alexnet,resnet50,densenet121 | "
        "dlbasic params resnet18 --input-size 32 --in-channels 3 --num-classes 10",
    )
    p.add_argument("model", help="a name from the model registry (see `dlbasic params --list`)", nargs="?")
    p.add_argument(
        "--input-size",
        type=int,
        default=224,
        help="side of the square input (default 224; <= 64 picks the small-input variant)",
    )
    p.add_argument("--in-channels", type=int, default=3, help="input channels (default 3)")
    p.add_argument("--num-classes", type=int, default=1000, help="classifier outputs (default 1000)")
    p.add_argument(
        "--compare",
        default=None,
        metavar="A,B,...",
        help="other models: print one line of totals per model instead of the layer table",
    )
    p.add_argument("--list", action="store_true", help="list the registered models and exit")
    p.set_defaults(func=run)


def _summary(name: str, args: argparse.Namespace):
    import torch

    from dlbasic.errors import UserError
    from dlbasic.models import create_model
    from dlbasic.nn.summary import summarize

    try:
        with torch.device("meta"):  # shapes only
            model = create_model(
                name, num_classes=args.num_classes, in_channels=args.in_channels, input_size=args.input_size
            )
    except UserError as e:
        if "cannot take" not in e.message:
            raise
        raise UserError(e.message, "try a larger --input-size") from None
    try:
        return summarize(model, args.input_size, args.in_channels)
    except RuntimeError as e:  # e.g. a map shrinking below the next kernel
        raise UserError(
            f"{name} cannot take {args.input_size}x{args.input_size} inputs: {e}".splitlines()[0],
            "try another --input-size",
        ) from None


def run(args: argparse.Namespace) -> int:
    """`dlbasic params`: print a model's per-layer table, a one-line-per-model comparison (`--compare`), or `--list`."""
    from dlbasic.errors import check
    from dlbasic.models import list_models

    if args.list:
        print("\n".join(list_models()))
        return 0
    check(args.model is not None, "name a model", "see `dlbasic params --list`")
    if not args.compare:
        summary = _summary(args.model, args)
        print(f"{args.model} at {args.in_channels}x{args.input_size}x{args.input_size}, {args.num_classes} classes")
        print(summary.table())
        return 0
    names = [args.model, *(n.strip() for n in args.compare.split(",") if n.strip())]
    summaries = [(n, _summary(n, args)) for n in names]
    header = f"{'model':<14} {'params':>13} {'GMACs':>8} {'layers':>7} {'RF':>6}"
    print(f"input {args.in_channels}x{args.input_size}x{args.input_size}, {args.num_classes} classes")
    print(header)
    print("-" * len(header))
    for name, s in summaries:
        depth = sum(r.type in ("Conv2d", "Linear") for r in s.rows)  # weight layers, as papers count depth
        print(f"{name:<14} {s.params:>13,} {s.macs / 1e9:>8.3f} {depth:>7} {s.receptive_field or '':>6}")
    return 0
