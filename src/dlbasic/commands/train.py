"""`dlbasic train`: train a classifier on a data source and write a run folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from dlbasic.config import TrainConfig, from_dict, load_config, recipe_path
from dlbasic.errors import UserError, check
from dlbasic.overrides import argument, assignment, yaml_problem
from dlbasic.parsing import load_yaml

EXAMPLES = """examples:
  dlbasic train                                     # simple_cnn on the embedded MNIST digits, 5 epochs
  dlbasic train --optimizer sgd --lr 0.1 --batch-size full   # batch gradient descent
  dlbasic train --data idx:data/mnist --epochs 3 --run-dir runs/mnist
  dlbasic train --run-dir runs/mnist --resume       # continue an interrupted run exactly
  dlbasic train --run-dir runs/mnist --resume --epochs 10 --allow-changes epochs   # ... and extend it
exit codes: 0 done, 2 a mistake in the input (one line says which), 3 training diverged (the last finite
checkpoint is kept), 130 interrupted (a checkpoint is saved)
"""


def batch_size(text: str) -> int | str:
    """argparse type of `--batch-size`: a positive integer, or 'full' for full-batch gradient descent."""
    if text == "full":
        return "full"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'full', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"batch size must be at least 1, got {value}")
    return value


def read_config(path: Path, cls: type | None = None) -> Any:
    """`load_config`, with every mistake in the file in one line: bytes that are not UTF-8 text, YAML syntax,
    a document that is not a mapping, keys that are not names."""
    path = Path(path)
    check(path.is_file(), f"no such config file: {path}")
    hint = "a config file is YAML text such as a run's config.yaml"
    try:
        values = load_yaml(path.read_bytes().decode("utf-8"), path)
    except UnicodeDecodeError as e:
        raise UserError(f"{path} is not a text file (byte {e.start} is not UTF-8)", hint) from None
    except yaml.YAMLError as e:
        raise UserError(f"{path} is not valid YAML: {yaml_problem(e)}", hint) from None
    check(isinstance(values, dict | None), f"{path} must hold a mapping of config keys", hint)
    for key in values or {}:
        check(isinstance(key, str), f"{path}: config keys are names, got {key!r}", "e.g. epochs: 5")
    return load_config(path) if cls is None else load_config(path, cls)


# more torch threads than this per CPU core only costs memory (and very many cannot be started at all)
THREADS_PER_CPU = 4
SEED_RANGE = 2**32  # numpy and scikit-learn take seeds in [0, 2**32)


def check_config(cfg: Any) -> Any:
    """Refuse values that every config check passes but the run cannot use: a seed outside [0, 2**32), more
    threads than the machine can start, noise that overflows float32."""
    seed = getattr(cfg, "seed", 0)
    check(isinstance(seed, int) and 0 <= seed < SEED_RANGE, f"seed must be in 0..{SEED_RANGE - 1}, got {seed}")
    check_threads(getattr(cfg, "threads", None), "threads")
    for name in ("input_noise", "weight_noise"):
        value = getattr(cfg, name, 0.0)
        check(value <= FLOAT32_MAX, f"{name} must be at most {FLOAT32_MAX:.3g} (float32), got {value:g}")
    return cfg


FLOAT32_MAX = 3.4028234663852886e38


def check_threads(threads: int | None, option: str = "--threads") -> None:
    """Refuse more torch threads than the machine can usefully start (very many crash the process)."""
    import os

    cpus = os.cpu_count() or 1
    limit = max(64, THREADS_PER_CPU * cpus)
    check(
        not threads or threads <= limit,
        f"{option} must be at most {limit} on this machine ({cpus} CPUs), got {threads}",
    )


def check_classifier(cfg: Any) -> None:
    """Refuse a segmentation model where a classifier is trained (train, compare, cv, tune, ensemble)."""
    from dlbasic.models.fcn import SEGMENTATION_MODELS

    check(
        cfg.model not in SEGMENTATION_MODELS,
        f"{cfg.model} is a segmentation model: it predicts a class per pixel, not one per image",
        "train it with `dlbasic segment train`, or choose a classifier from `dlbasic params --list`",
    )


def check_models(configs: list[Any], splits: tuple[str, ...] = ("train",)) -> None:
    """Build the model of every config for its data on the meta device (no memory, no arithmetic), so a
    model that cannot take the images (a map pooled away to nothing) is refused before anything trains.

    The other `splits` named are opened too (an empty one is refused), as a run of the config will.
    """
    import torch

    from dlbasic.data import load
    from dlbasic.training.run import build_model

    for cfg in configs:
        check_classifier(cfg)
        opts = {
            "seed": cfg.seed,
            "val_fraction": cfg.val_fraction,
            "test_fraction": cfg.test_fraction,
            "image_size": cfg.image_size,
            "test_data": cfg.test_data,
        }
        data = load(cfg.data, "train", **opts)
        for split in splits:
            load(cfg.data, split, **opts)
        with torch.device("meta"):
            build_model(cfg, data)


def add_train_options(
    p: argparse.ArgumentParser,
    defaults: TrainConfig | None = None,
    sources: str = "mnist5k, digits, idx:DIR, cifar10:DIR, folder:DIR",
) -> None:
    """Options shared by every command that trains (train, cv, compare, segment train, ...); unset ones keep the
    config. The help shows the defaults of that command (`defaults`) and the data `sources` it takes."""
    d = defaults or TrainConfig()
    _data_options(p.add_argument_group("data"), d, sources)
    _model_options(p.add_argument_group("model"), d)
    _optimization_options(p.add_argument_group("optimization"), d)
    _regularization_options(p.add_argument_group("regularization"))
    _engineering_options(p.add_argument_group("engineering"))


S = argparse.SUPPRESS  # an option not given leaves the config's value


def _data_options(g, d: TrainConfig, sources: str) -> None:
    g.add_argument("--data", default=S, metavar="SPEC", help=f"source: {sources} (default {d.data})")
    g.add_argument(
        "--test-data",
        default=S,
        metavar="SPEC",
        help="test on this source (its official test set, else all of its images) instead of --data's own",
    )
    g.add_argument("--image-size", type=int, default=S, metavar="N", help="resize images to N x N")
    g.add_argument("--val-fraction", type=float, default=S, help=f"validation share (default {d.val_fraction})")
    g.add_argument(
        "--test-fraction",
        type=float,
        default=S,
        help=f"test share for sources without a test set (default {d.test_fraction})",
    )
    g.add_argument("--train-subset", type=int, default=S, metavar="N", help="train on N images only")


def _model_options(g, d: TrainConfig) -> None:
    g.add_argument("--model", default=S, help=f"model name, see `dlbasic params --list` (default {d.model})")
    g.add_argument(
        "--model-option",
        type=argument(assignment),
        action="append",
        default=S,
        metavar="KEY=VALUE",
        dest="model_options",
        help="a model constructor option, e.g. dropout=0.1 (repeatable)",
    )
    g.add_argument("--dropout", type=float, default=S, metavar="P", help="dropout probability of the model")
    g.add_argument(
        "--norm",
        default=S,
        choices=["batch", "group", "layer", "instance", "none"],
        help="normalization layer, for models that take one",
    )


def _optimization_options(g, d: TrainConfig) -> None:
    g.add_argument(
        "--optimizer",
        default=S,
        help=f"sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam, adamw, radam, ... (default {d.optimizer})",
    )
    g.add_argument("--lr", type=float, default=S, help="learning rate (default: the optimizer's usual one)")
    g.add_argument("--momentum", type=float, default=S, help="momentum of sgd/momentum/nesterov/rmsprop")
    g.add_argument("--weight-decay", type=float, default=S, help="L2 weight decay through the optimizer")
    g.add_argument("--epochs", type=int, default=S, help=f"passes over the training data (default {d.epochs})")
    g.add_argument(
        "--batch-size",
        type=batch_size,
        default=S,
        help=f"images per step, or 'full' for batch gradient descent (default {d.batch_size})",
    )
    g.add_argument("--scheduler", default=S, help="none, step, exponential, cosine, onecycle (default none)")
    g.add_argument("--lr-step", type=int, default=S, help="epochs between decays of the step schedule")
    g.add_argument("--lr-gamma", type=float, default=S, help=f"decay factor (default {d.lr_gamma})")
    g.add_argument("--warmup-steps", type=int, default=S, help="linear learning-rate warm-up steps")
    g.add_argument("--grad-clip", type=float, default=S, metavar="NORM", help="clip the gradient norm")


def _regularization_options(g) -> None:
    g.add_argument(
        "--penalty",
        default=S,
        choices=["none", "l1", "l2"],
        help="none: --weight-decay goes to the optimizer; l1/l2: an explicit penalty term of that "
        "strength is added to the loss instead",
    )
    g.add_argument(
        "--decay-norm-and-bias",
        action="store_true",
        default=S,
        help="also decay biases and normalization parameters (excluded by default)",
    )
    g.add_argument(
        "--early-stopping",
        type=int,
        default=S,
        metavar="PATIENCE",
        help="stop when validation loss has not improved for PATIENCE epochs; keep the best weights",
    )
    g.add_argument(
        "--augment", default=S, metavar="LIST", help="batched augmentations: flip,crop,scale,rotate,translate"
    )
    g.add_argument("--input-noise", type=float, default=S, metavar="SIGMA", help="Gaussian noise on inputs")
    g.add_argument("--weight-noise", type=float, default=S, metavar="SIGMA", help="Gaussian noise on weights")
    g.add_argument("--label-smoothing", type=float, default=S, metavar="EPS", help="label smoothing epsilon")
    g.add_argument("--mixup", type=float, default=S, metavar="ALPHA", help="Mixup with lambda ~ Beta(ALPHA, ALPHA)")
    g.add_argument("--cutmix", type=float, default=S, metavar="ALPHA", help="CutMix with lambda ~ Beta(ALPHA, ALPHA)")
    g.add_argument("--mix-prob", type=float, default=S, metavar="P", help="probability that a batch is mixed")
    g.add_argument(
        "--mix-switch-prob",
        type=float,
        default=S,
        metavar="P",
        help="probability of CutMix rather than Mixup when both are on (default 0.5)",
    )
    g.add_argument("--mix-per-sample", action="store_true", default=S, help="one lambda per sample")


def _engineering_options(g) -> None:
    g.add_argument("--seed", type=int, default=S, help="seed of splits, initialization and shuffling")
    g.add_argument("--device", default=S, help="auto, cpu, cuda, mps (default auto)")
    g.add_argument(
        "--precision",
        default=S,
        choices=["auto", "fp32", "bf16", "fp16"],
        help="autocast precision; auto (default): bf16 where the CPU or GPU computes in bf16 natively "
        "(AVX512-BF16, AMX, recent CUDA GPUs), else fp32",
    )
    g.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=S,
        help="NHWC memory format (default: on for convolutional nets trained in bf16 on a CPU)",
    )
    g.add_argument(
        "--compile",
        action="store_true",
        default=S,
        help="torch.compile the model (checked against eager gradients; slow to start on CPU)",
    )
    g.add_argument("--threads", type=int, default=S, help="torch CPU threads")
    g.add_argument(
        "--sync-bn",
        action="store_true",
        default=S,
        help="under torchrun: synchronize batch-norm statistics across processes",
    )
    g.add_argument(
        "--checkpoint-every",
        type=int,
        default=S,
        metavar="STEPS",
        help="also checkpoint every STEPS steps inside an epoch",
    )
    g.add_argument(
        "--target-accuracy",
        type=float,
        default=S,
        metavar="A",
        help="stop once validation accuracy reaches A (checked every --eval-every steps); "
        "summary.json reports time_to_target",
    )
    g.add_argument("--eval-every", type=int, default=S, metavar="STEPS", help="steps between target checks")
    g.add_argument("--config", type=Path, default=None, help="read options from a YAML file first")
    g.add_argument(
        "--recipe",
        default=None,
        metavar="NAME",
        help="start from a packaged config: mnist-fast (99 %% on MNIST fast), mnist-best (99.4 %%)",
    )


def config_from_args(args: argparse.Namespace, base: TrainConfig | None = None) -> TrainConfig:
    """The config file (if any), then every option given on the command line."""
    check(
        not (getattr(args, "config", None) and getattr(args, "recipe", None)),
        "--config and --recipe both give the starting config",
        "pass one of them",
    )
    if getattr(args, "config", None):
        cfg = read_config(args.config)
    elif getattr(args, "recipe", None):
        cfg = load_config(recipe_path(args.recipe))
    else:
        cfg = base or TrainConfig()
    given = given_options(args)
    if "model_options" in given:
        given["model_options"] = {**cfg.model_options, **dict(given["model_options"])}
    return check_config(from_dict(given, cfg))


def given_options(args: argparse.Namespace, cls: type = TrainConfig) -> dict[str, Any]:
    """The config fields set on the command line (options left out are absent from `args`)."""
    return {f: getattr(args, f) for f in cls.__dataclass_fields__ if hasattr(args, f)}


def resumed_config(args: argparse.Namespace, cls: type = TrainConfig) -> Any:
    """The config saved in `--run-dir` (a `TrainConfig`, or `cls`), with only the changes `--allow-changes` names.

    Any other option that differs from the saved config is refused, naming each difference.
    """
    from dlbasic.training.run import RESUMABLE_CHANGES

    if args.run_dir is None:
        raise UserError("--resume needs the run folder", "pass --run-dir runs/NAME")
    saved_path = args.run_dir / "config.yaml"
    if not saved_path.is_file():
        raise UserError(f"nothing to resume in {args.run_dir} (no config.yaml)", "start the run without --resume")
    check(
        not getattr(args, "config", None) and not getattr(args, "recipe", None),
        "--config and --recipe do not apply to a resumed run (it continues with its saved config.yaml)",
    )
    saved = read_config(saved_path, cls)
    allowed = [k.strip().replace("-", "_") for k in (args.allow_changes or "").split(",") if k.strip()]
    for key in allowed:
        check(
            key in RESUMABLE_CHANGES,
            f"--allow-changes: {key!r} cannot change in a resumed run",
            "it may change: " + ", ".join(RESUMABLE_CHANGES),
        )
    given = given_options(args, cls)
    if "model_options" in given:
        given["model_options"] = {**saved.model_options, **dict(given["model_options"])}
    wanted = from_dict(given, saved)
    changed = {k: (getattr(saved, k), getattr(wanted, k)) for k in given if getattr(saved, k) != getattr(wanted, k)}
    refused = [k for k in changed if k not in allowed]
    if refused:
        what = ", ".join(f"{k} {changed[k][0]!r} -> {changed[k][1]!r}" for k in refused)
        safe = [k for k in refused if k in RESUMABLE_CHANGES]
        raise UserError(
            f"the resumed run was started with other settings: {what}",
            f"pass --allow-changes {','.join(safe)} to change them"
            if len(safe) == len(refused)
            else "leave them out to continue the run as it was started, or start a new run",
        )
    return check_config(wanted)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `dlbasic train` sub-command and its options to `sub`."""
    p = sub.add_parser(
        "train",
        help="train a classifier and write a run folder",
        description="Train a classifier. Writes runs/<name>/ with config.yaml, metrics.jsonl, "
        "checkpoint.pt, best.pt, curves.png and summary.json.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_train_options(p)
    g = p.add_argument_group("run folder")
    g.add_argument("--run-dir", type=Path, default=None, help="where results go (default runs/<model>-<data>-<time>)")
    add_run_folder_options(g)
    p.set_defaults(func=run)


def add_run_folder_options(g) -> None:
    """--resume, --allow-changes, --overwrite and --no-progress (train and segment train)."""
    g.add_argument(
        "--resume", action="store_true", help="continue the run in --run-dir from its checkpoint, with its saved config"
    )
    g.add_argument(
        "--allow-changes",
        default=None,
        metavar="KEYS",
        help="with --resume: options that may differ from the saved config, e.g. epochs,lr "
        "(any other difference is refused)",
    )
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing run folder (only one dlbasic made; replaced once the new run starts)",
    )
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """`dlbasic train`: train (or `--resume`) a classifier into its run folder and print the summary; returns 0."""
    from dlbasic.training import distributed
    from dlbasic.training.run import default_run_dir, train

    check(args.allow_changes is None or args.resume, "--allow-changes applies only with --resume")
    check(
        not (args.resume and args.overwrite),
        "--resume and --overwrite contradict each other",
        "--resume continues the run, --overwrite replaces it",
    )
    cfg = resumed_config(args) if args.resume else config_from_args(args)
    check_classifier(cfg)
    run_dir = args.run_dir or default_run_dir(cfg)
    if not args.run_dir:  # every process of a torchrun launch must agree on the folder
        run_dir = distributed.broadcast(run_dir) if distributed.setup(torch_device(cfg)) else run_dir
    try:
        summary = train(
            cfg, run_dir, resume=args.resume, overwrite=args.overwrite, progress=False if args.no_progress else None
        )
    finally:
        distributed.cleanup()
    if distributed.is_main():
        shown = {k: v for k, v in summary.items() if k not in ("history", "model")}
        print(json.dumps(shown, indent=2))
        print(f"results in {run_dir}/ (summary.json, curves.png, best.pt)")
    return 0


def torch_device(cfg: TrainConfig):
    """The torch device `cfg.device` resolves to ('auto' picks the best available)."""
    from dlbasic.training.device import resolve_device

    return resolve_device(cfg.device)
