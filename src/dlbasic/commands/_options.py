"""What the commands that train share: options built from a config's fields, the run-folder options, and the
config a command's arguments give (a `--config` file or `--recipe`, then every option given, or a resumed run's
saved config).

A config field whose metadata has a help text (`dlbasic.config.option_meta`) is an option: `--name-with-dashes`
(or the metadata's `option`), typed by its annotation (int, float, text; a bool is a switch, a `bool | None` a
`--x/--no-x` pair) unless the metadata gives `type` or `action`, in the argument group its metadata names.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from dlbasic.config import TrainConfig, check_config, from_dict, load_config, recipe_path
from dlbasic.errors import UserError, check
from dlbasic.overrides import yaml_problem
from dlbasic.parsing import load_yaml

S = argparse.SUPPRESS  # an option not given leaves the config's value


def _parsed_as(name: str, hint: Any) -> dict[str, Any]:
    """argparse's `type` or `action` for a field annotated `hint`."""
    union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    kinds = set(typing.get_args(hint)) if union else {hint}
    optional = type(None) in kinds
    kinds.discard(type(None))
    if kinds == {bool}:
        return {"action": argparse.BooleanOptionalAction if optional else "store_true"}
    if kinds in ({int}, {float}):
        return {"type": kinds.pop()}
    if kinds == {str}:
        return {}
    raise TypeError(f"config field {name} ({hint}) needs a type or action in its metadata")


def add_config_options(
    p: argparse.ArgumentParser,
    defaults: Any,
    names: Sequence[str] | None = None,
    into: argparse._ActionsContainer | None = None,
    **text: str,
) -> dict[str, argparse._ArgumentGroup]:
    """One option per field of the config `defaults` that has a help text in its metadata, in field order (or
    those of `names`, in that order), each in the argument group its metadata names (or all in `into`); an option
    not given is absent from the parsed arguments (so it leaves the config's value). In a help text `{default}`
    is the field's value in `defaults`, any other `{name}` is `text[name]`.

    Returns:
        The argument groups by title, so a command can add its own options to one.
    """
    hints = typing.get_type_hints(type(defaults))
    by_name = {f.name: f for f in dataclasses.fields(defaults)}
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in [by_name[n] for n in names] if names is not None else by_name.values():
        meta = dict(f.metadata)
        if "help" not in meta:
            continue
        title = meta.pop("group")
        if into is None and title not in groups:
            groups[title] = p.add_argument_group(title)
        flag = meta.pop("option", "--" + f.name.replace("_", "-"))
        meta["help"] = meta["help"].format(default=getattr(defaults, f.name), **text)
        if "type" not in meta and "action" not in meta:
            meta.update(_parsed_as(f.name, hints[f.name]))
        (groups[title] if into is None else into).add_argument(flag, dest=f.name, default=S, **meta)
    return groups


def add_train_options(
    p: argparse.ArgumentParser,
    defaults: TrainConfig | None = None,
    sources: str = "mnist5k, digits, idx:DIR, cifar10:DIR, folder:DIR",
) -> None:
    """The options of every `TrainConfig` field, then --config and --recipe (train, cv, compare, tune, ensemble,
    segment train); unset ones keep the config. The help shows the defaults of that command (`defaults`) and the
    data `sources` it takes."""
    groups = add_config_options(p, defaults or TrainConfig(), sources=sources)
    g = groups["engineering"]
    g.add_argument("--config", type=Path, default=None, help="read options from a YAML file first")
    g.add_argument(
        "--recipe",
        default=None,
        metavar="NAME",
        help="start from a packaged config: mnist-fast (99 %% on MNIST fast), mnist-best (99.4 %%)",
    )


def add_run_folder_options(g) -> None:
    """--resume, --allow-changes, --overwrite and --no-progress (train, segment train, detect train)."""
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


def given_options(args: argparse.Namespace, cls: type = TrainConfig) -> dict[str, Any]:
    """The config fields set on the command line (options left out are absent from `args`)."""
    return {f: getattr(args, f) for f in cls.__dataclass_fields__ if hasattr(args, f)}


def _given_on(cfg: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The options given, `--model-option`s merged into `cfg`'s model options."""
    given = given_options(args, type(cfg))
    if "model_options" in given:
        given["model_options"] = {**cfg.model_options, **dict(given["model_options"])}
    return given


def config_from_args(args: argparse.Namespace, base: Any = None) -> Any:
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
    return check_config(from_dict(_given_on(cfg, args), cfg))


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
    given = _given_on(saved, args)
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


def run_config(args: argparse.Namespace, base: Any = None) -> Any:
    """The config of a run-folder command (train, segment train, detect train): the saved one (of `base`'s class,
    default `TrainConfig`) with `--allow-changes` under `--resume`, else `config_from_args` on `base`; refuses
    --allow-changes without --resume, and --resume with --overwrite."""
    check(args.allow_changes is None or args.resume, "--allow-changes applies only with --resume")
    check(
        not (args.resume and args.overwrite),
        "--resume and --overwrite contradict each other",
        "--resume continues the run, --overwrite replaces it",
    )
    if args.resume:
        return resumed_config(args, type(base) if base is not None else TrainConfig)
    return config_from_args(args, base)


def add_jobs_option(g, what: str) -> None:
    """`--jobs N`: how many `what` (runs, fold runs, members) train at a time (cv, compare, ensemble bagging)."""
    g.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help=f"{what} at a time, each in its own worker process using --threads threads (default 1), or one "
        "after another in this process (1, the default); with the same --threads the results are identical",
    )


def training_parser(sub: argparse._SubParsersAction, name: str, **texts: str) -> argparse.ArgumentParser:
    """The parser of a command that trains classifiers (`help`, `description`, `epilog` in `texts`; the epilog's
    examples keep their lines), with every `TrainConfig` option."""
    p = sub.add_parser(name, formatter_class=argparse.RawDescriptionHelpFormatter, **texts)
    add_train_options(p)
    return p
