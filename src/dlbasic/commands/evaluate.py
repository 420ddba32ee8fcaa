"""`dlbasic eval`: test a trained checkpoint on a data split; metrics and a confusion-matrix plot."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from dlbasic.errors import UserError, check

if TYPE_CHECKING:
    import torch


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `dlbasic eval` sub-command and its options to `sub`."""
    p = sub.add_parser(
        "eval",
        help="evaluate a checkpoint: accuracy, loss, confusion matrix",
        description="Evaluate a trained model on a data source. Prints accuracy and loss and "
        "writes a confusion-matrix PNG. Without --data: the training run's test split. "
        "With --data: that source's official test set if it has one, else all of its "
        "images (a folder of your own test photos is scored whole); --split chooses.",
        epilog="example: dlbasic eval --checkpoint runs/x/best.pt --data mnist5k --split test",
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="a best.pt or checkpoint.pt of dlbasic train")
    p.add_argument("--data", default=None, metavar="SPEC", help="data source (default: the one it was trained on)")
    p.add_argument(
        "--split", default=None, choices=["train", "val", "test", "all"], help="which images (default: see above)"
    )
    p.add_argument("--seed", type=int, default=None, help="split seed (default: the training run's)")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="confusion-matrix PNG (default: confusion-<split>.png next to the checkpoint, replaced on every run)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.set_defaults(func=run)


def _names(names: list[str], most: int = 12) -> str:
    shown = ", ".join(names[:most])
    return shown + (f", ... ({len(names)} in all)" if len(names) > most else "")


def class_map(data_classes: list[str], classes: list[str], spec: str, path: str | Path) -> torch.Tensor | None:
    """Labels by name: Tensor[len(data_classes)] of the checkpoint's index of every data class.

    None when the data has the checkpoint's classes in the same order. Data classes the checkpoint
    does not know are refused in one line; a subset of its classes, in any order, is fine.
    """
    import torch

    data_classes, classes = [str(c) for c in data_classes], list(classes)
    if data_classes == classes:
        return None
    unknown = [c for c in data_classes if c not in classes]
    if unknown:
        raise UserError(
            f"{spec} has classes the checkpoint {path} does not know: {_names(unknown)}",
            f"it predicts {_names(classes)}",
        )
    index = {c: i for i, c in enumerate(classes)}
    return torch.tensor([index[c] for c in data_classes], dtype=torch.long)


def split_settings(meta: dict, path: Path, test_data: bool = False) -> dict:
    """The seed and split fractions a checkpoint was trained with (its config's, else the defaults), checked;
    with `test_data`, its `test_data` source too (None when it had none)."""
    cfg = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    out = {
        "seed": cfg.get("seed", 0),
        "val_fraction": cfg.get("val_fraction", 0.1),
        "test_fraction": cfg.get("test_fraction", 0.2),
    }
    for key, value in out.items():
        ok = isinstance(value, int if key == "seed" else int | float) and not isinstance(value, bool)
        check(
            ok,
            f"{path} has an unreadable {key} in its config: {value!r}",
            "pass --data and --seed, or use a checkpoint written by dlbasic train",
        )
    if test_data:
        given = cfg.get("test_data")
        check(given is None or isinstance(given, str), f"{path} has an unreadable test_data in its config: {given!r}")
        out["test_data"] = given or None
    return out


def default_split(spec: str, given: bool, settings: dict) -> str:
    """'test' for the training run's own data or a source with an official test set; 'all' for other data."""
    from dlbasic.data import load

    if not given:
        return "test"
    return "test" if "official" in load(spec, "test", **settings, allow_empty=True).info.get("test", "") else "all"


def load_all(spec: str, settings: dict):
    """Every image of `spec` (its train, val and test splits together), normalized with the train statistics."""
    import torch

    from dlbasic.data import ImageDataset, load

    parts = [load(spec, s, **settings, allow_empty=True) for s in ("train", "val", "test")]
    first = parts[0]
    return ImageDataset(
        torch.cat([p.images for p in parts]),
        torch.cat([p.labels for p in parts]),
        first.classes,
        first.mean,
        first.std,
        first.name,
        "all",
        first.info,
    )


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Tensor[K, K] counts; rows are true classes, columns predicted ones."""
    import torch

    return torch.bincount(labels * num_classes + predictions, minlength=num_classes**2).view(num_classes, -1)


def run(args: argparse.Namespace) -> int:
    """`dlbasic eval`: a checkpoint's accuracy, loss and per-class accuracy on a split, with a confusion-matrix plot."""
    import torch

    from dlbasic.config import check_threads
    from dlbasic.data import load, normalize
    from dlbasic.outputs import check_file
    from dlbasic.report.plots import check_figure_path, plot_confusion
    from dlbasic.training.kinds import model_from_checkpoint

    check(args.threads >= 0, f"--threads must be at least 1 (0: torch's default), got {args.threads}")
    check_threads(args.threads)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.out is not None:
        check_figure_path(check_file(args.out, overwrite=args.overwrite))
    model, meta = model_from_checkpoint(args.checkpoint)
    spec = args.data or meta.get("data", "mnist5k")
    check(isinstance(spec, str) and bool(spec), f"{args.checkpoint} names no data source ({spec!r})", "pass --data")
    settings = {
        **split_settings(meta, args.checkpoint),
        **({} if args.seed is None else {"seed": args.seed}),
        "image_size": meta["input_size"],
    }
    if args.data is None:  # the run's own test source, if it named one
        settings["test_data"] = split_settings(meta, args.checkpoint, test_data=True).get("test_data")
    split = args.split or default_split(spec, args.data is not None, settings)
    if args.out is None and args.checkpoint.parent.is_dir():  # a plot derived from the checkpoint: replaced freely
        check_file(args.checkpoint.parent / f"confusion-{split}.png", overwrite=True)
    data = load_all(spec, settings) if split == "all" else load(spec, split, **settings)
    check(
        data.in_channels == meta["in_channels"],
        f"{spec} has {data.in_channels}-channel images but the model expects {meta['in_channels']}",
    )
    lut = class_map(data.classes, meta["classes"], spec, args.checkpoint)
    labels = data.labels if lut is None else lut[data.labels]
    mean, std = torch.tensor(meta["mean"]), torch.tensor(meta["std"])  # the training run's statistics
    predictions, losses = [], []
    with torch.no_grad():
        for i in range(0, len(data), 1000):
            logits = model(normalize(data.images[i : i + 1000], mean, std))
            y = labels[i : i + 1000]
            losses.append(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
            predictions.append(logits.argmax(1))
    pred = torch.cat(predictions)
    matrix = confusion_matrix(labels, pred, meta["num_classes"])
    present = set(map(str, data.classes))
    result = {
        "data": spec,
        "split": split,
        "images": len(data),
        "accuracy": (pred == labels).float().mean().item(),
        "loss": (torch.stack(losses).sum() / len(data)).item(),
        "per_class_accuracy": {
            c: (matrix[k, k] / matrix[k].sum().clamp(min=1)).item()
            for k, c in enumerate(meta["classes"])
            if c in present
        },
    }
    out = args.out or args.checkpoint.parent / f"confusion-{split}.png"
    plot_confusion(matrix.numpy(), meta["classes"], out, f"{meta['model']} on {spec} ({split})")
    print(json.dumps(result, indent=2))
    print(f"scored {len(data)} images of {spec} ({'all of them' if split == 'all' else f'its {split} split'})")
    print(f"confusion matrix: {out}")
    return 0
