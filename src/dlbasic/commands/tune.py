"""`dlbasic tune`: hyperparameter search with Optuna (TPE sampler, median pruner) on a k-fold objective.

Bergstra, Bardenet, Bengio & Kegl, "Algorithms for Hyper-Parameter Optimization", NeurIPS 2011 (TPE);
Akiba et al., "Optuna", KDD 2019. The objective of a trial is the mean held-out accuracy over k folds of
the train+val data (the test split is never read); after each fold the running mean is reported, so the
median pruner can stop a trial whose mean is below the median of earlier trials at the same fold.
The default storage is Optuna's journal file, an append-only log guarded by a file lock, which several
processes on one machine can share; any RDB URL (sqlite:///..., postgresql://...) works across machines.

A study records what its scores depend on (the config, the search space, folds and patience): a worker
with the same settings adds trials to it, one with other settings is refused, and `--overwrite` starts
the study again. Nothing else in the storage is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
from pathlib import Path
from typing import Any

from dlbasic.commands.train import add_train_options, config_from_args
from dlbasic.errors import UserError, check, did_you_mean
from dlbasic.outputs import check_dir, open_dir
from dlbasic.overrides import scalar, split_top_level
from dlbasic.parsing import loads_json

EXAMPLES = """examples:
  dlbasic tune --data digits --model mlp --trials 20 --search lr=log:1e-4:1e-1 --search weight_decay=log:1e-6:1e-2
  dlbasic tune --study-name s1 --trials 10 &  dlbasic tune --study-name s1 --trials 10   # two workers, one study
  dlbasic tune --storage postgresql://user@host/db --study-name s1 --trials 50           # workers on many machines
search space: KEY=log:LOW:HIGH | KEY=float:LOW:HIGH | KEY=int:LOW:HIGH | KEY=choice:A,B,C
"""
KINDS = ("log", "float", "int", "choice")


def search(text: str) -> tuple[str, str, list[Any]]:
    """'lr=log:1e-4:1e-1' -> ('lr', 'log', [1e-4, 1e-1])."""
    key, sep, spec = text.partition("=")
    kind, _, rest = spec.partition(":")
    if not sep or kind not in KINDS or not rest:
        raise argparse.ArgumentTypeError(f"expected KEY=KIND:..., KIND one of {', '.join(KINDS)}; got {text!r}")
    values = [scalar(v) for v in (split_top_level(rest) if kind == "choice" else rest.split(":"))]
    if kind != "choice" and (len(values) != 2 or not all(_number(v) for v in values)):
        raise argparse.ArgumentTypeError(f"{kind} needs LOW:HIGH numbers, got {rest!r}")
    return key.replace("-", "_"), kind, values


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


# options that choose the data: one pool of images is loaded for all trials, so they cannot vary
_DATA = ("data", "image_size", "val_fraction", "test_fraction", "train_subset")


def check_space(space: list[tuple[str, str, list[Any]]], base) -> None:
    """Refuse, before any trial, a dimension whose range is empty or whose values the config does not take."""
    from dlbasic.commands.train import check_config, check_models
    from dlbasic.config import from_dict

    check_names(base)
    seen: set[str] = set()
    for key, kind, values in space:
        where = f"--search {key}={kind}:{(',' if kind == 'choice' else ':').join(map(str, values))}"
        check(key not in seen, f"{where}: {key} is searched twice", "give each key one --search")
        check(
            key not in _DATA,
            f"{where}: every trial cuts its folds from the same data",
            f"pass --{key.replace('_', '-')} once and search the other options",
        )
        seen.add(key)
        if kind == "choice":
            check(all(v != "" for v in values), f"{where}: empty choice", "list the values as choice:A,B,C")
        else:
            low, high = values
            check(
                low < high,
                f"{where}: LOW must be below HIGH",
                f"write {key}={kind}:{high}:{low}" if low > high else "give a range, or choice:VALUE for one value",
            )
            check(
                kind != "log" or low > 0,
                f"{where}: a log range needs LOW > 0",
                f"e.g. {key}=log:{high / 1000:g}:{high:g}" if high > 0 else "use float:LOW:HIGH",
            )
            check(kind != "int" or all(float(v).is_integer() for v in values), f"{where}: int needs whole numbers")
        for v in values if kind == "choice" else [int(v) if kind == "int" else float(v) for v in values]:
            try:
                cfg = check_config(check_names(from_dict({key: v}, base)))
                if kind == "choice" and key in _MODEL:
                    check_models([cfg])
            except UserError as e:
                raise UserError(f"{where}: {e.message}", e.hint) from None


# options that choose the model: every choice is built once (on the meta device) before any trial
_MODEL = ("model", "model_options", "norm", "dropout")


def check_names(cfg: Any) -> Any:
    """Refuse an unknown model, optimizer or scheduler name before a trial trains with it; returns `cfg`."""
    from dlbasic.models.registry import list_models
    from dlbasic.optim.factory import list_optimizers
    from dlbasic.training.schedules import SCHEDULES

    for what, name, names in (
        ("model", cfg.model, list_models()),
        ("optimizer", cfg.optimizer, list_optimizers()),
        ("scheduler", cfg.scheduler, SCHEDULES),
    ):
        if name not in names:
            raise UserError(f"unknown {what} {name!r}", did_you_mean(name, names))
    return cfg


def suggest(trial, space: list[tuple[str, str, list[Any]]]) -> dict[str, Any]:
    """The config overrides for one Optuna trial: one `trial.suggest_*` value per `(key, kind, values)` of `space`."""
    out = {}
    for key, kind, v in space:
        if kind == "choice":
            out[key] = trial.suggest_categorical(key, v)
        elif kind == "int":
            out[key] = trial.suggest_int(key, int(v[0]), int(v[1]))
        else:
            out[key] = trial.suggest_float(key, float(v[0]), float(v[1]), log=kind == "log")
    return out


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")
STORAGE_HINT = "give a journal file path (or journal:PATH) or a database URL such as sqlite:///runs/tune/study.db"


def journal_path(spec: str) -> Path | None:
    """The journal file of a `--storage` spec, None for a database URL; refuses a spec that is neither."""
    if "://" in spec:
        return None
    if _SCHEME.match(spec) and not spec.startswith("journal:"):
        raise UserError(f"unknown --storage {spec!r}", STORAGE_HINT)
    return Path(spec.removeprefix("journal:"))


def check_storage(spec: str) -> None:
    """Refuse, before any work, a journal that is a folder, cannot be written, or holds something else."""
    path = journal_path(spec)
    if path is None:
        return
    if path.is_dir():
        raise UserError(
            f"--storage {path} is a folder, not a journal file", f"give a file name, e.g. {path / 'journal.log'}"
        )
    ancestor = path.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(f"cannot create --storage {path}: {ancestor} is a file", "choose another --storage")
    check_dir(path.parent, resume=True, option="--storage", what="tune folder")
    if path.exists():
        from optuna.storages.journal import JournalFileSymlinkLock

        lock = JournalFileSymlinkLock(str(path))  # the lock writers hold, so no record is read half-written
        lock.acquire()
        try:
            _check_journal(path)
        finally:
            lock.release()


def open_storage(spec: str):
    """A journal file (a path, or journal:PATH; created if missing) or an RDB URL; `UserError` if it cannot open."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    check_storage(spec)
    path = journal_path(spec)
    if path is None:
        import sqlalchemy.exc

        try:
            return optuna.storages.RDBStorage(spec)
        except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError, RuntimeError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise UserError(f"cannot open --storage {spec} ({first})", STORAGE_HINT) from None
    if not path.parent.exists():  # (resume: another worker may make it at the same moment)
        open_dir(path.parent, command="tune", resume=True, option="--storage", what="tune folder")
    try:
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise _not_a_journal(path, f"{type(e).__name__} while reading it") from None


def _check_journal(path: Path) -> None:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read --storage {path} ({e.strerror})", "choose another --storage") from None
    lines = data.split(b"\n")
    tail = lines.pop()
    for number, line in enumerate(lines, 1):
        try:
            log = loads_json(line, f"--storage {path}: line {number}")
        except ValueError:
            log = None
        if not (isinstance(log, dict) and "op_code" in log):
            raise _not_a_journal(path, f"line {number} is not a journal record")
    if tail:
        raise _not_a_journal(path, f"line {len(lines) + 1} is unfinished")


def _not_a_journal(path: Path, why: str) -> UserError:
    return UserError(
        f"--storage {path} is not a readable Optuna journal ({why})", "move the file aside or choose another --storage"
    )


# the config fields that do not change what a trial measures (workers on different machines may differ in them)
_MACHINE = (
    "device",
    "precision",
    "channels_last",
    "compile",
    "threads",
    "sync_bn",
    "checkpoint_every",
    "eval_batch_size",
    "eval_every",
    "target_accuracy",
)
SETTINGS = "dlbasic_settings"


def settings(base, space, folds: int, patience: int) -> dict[str, Any]:
    """What a trial's score depends on, as JSON: workers of one study must agree on it."""
    config = {k: v for k, v in base.to_dict().items() if k not in _MACHINE}
    return json.loads(
        json.dumps(
            {"config": config, "search": [list(d) for d in space], "folds": folds, "patience": patience}, default=str
        )
    )


def _differences(theirs: dict[str, Any], mine: dict[str, Any]) -> list[str]:
    if not isinstance(theirs, dict):
        return []
    out = [k for k in ("search", "folds", "patience") if theirs.get(k) != mine.get(k)]
    a, b = (c if isinstance(c, dict) else {} for c in (theirs.get("config"), mine["config"]))
    return [*(k for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)), *out]


def made_by_dlbasic(study) -> bool:
    """True for a study `dlbasic tune` made: it records its settings, or every trial names its worker."""
    trials = study.trials
    return SETTINGS in study.user_attrs or (bool(trials) and all("worker" in t.user_attrs for t in trials))


def open_study(args: argparse.Namespace, storage, sampler, pruner, mine: dict[str, Any]):
    """Create the study, or join it (same settings: another worker, or a continued search)."""
    import optuna

    name, where = args.study_name, args.storage
    try:
        old = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        old = None
    if old is not None and args.overwrite:
        if not made_by_dlbasic(old):
            raise UserError(
                f"study {name!r} in {where} was not made by dlbasic tune; --overwrite only replaces "
                "studies dlbasic made",
                "choose another --study-name",
            )
        count = len(old.trials)
        optuna.delete_study(study_name=name, storage=storage)
        print(f"deleted study {name!r} in {where} ({count} trials) to start it again")
        old = None
    if old is not None:  # loading writes nothing, so a refused worker leaves the storage as it was
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    else:  # (another worker may create it at the same moment: then it is loaded)
        study = optuna.create_study(
            study_name=name, storage=storage, direction="maximize", load_if_exists=True, sampler=sampler, pruner=pruner
        )
    theirs = study.user_attrs.get(SETTINGS)
    # a study whose trials all failed (a mistake in the options) measured nothing: it takes the new settings
    measured = [t for t in study.trials if t.state != optuna.trial.TrialState.FAIL]
    if theirs != mine and not measured:
        study.set_user_attr(SETTINGS, mine)
        theirs = study.user_attrs.get(SETTINGS)
    if theirs is None:
        raise UserError(
            f"study {name!r} in {where} has {len(study.trials)} trials and no record of their settings",
            "pass --overwrite to start it again, or choose another --study-name",
        )
    if theirs != mine:
        raise UserError(
            f"study {name!r} in {where} was run with other settings "
            f"({', '.join(_differences(theirs, mine)) or 'unreadable'})",
            "pass the same options to add trials to it, --overwrite to start it again, or choose another --study-name",
        )
    if study.trials:
        print(f"continuing study {name!r} in {where} ({len(study.trials)} trials so far)")
    return study


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `dlbasic tune` sub-command and its options to `sub`."""
    p = sub.add_parser(
        "tune",
        help="Optuna hyperparameter search with a k-fold objective (several workers)",
        description=__doc__.split("\n\n")[1],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_train_options(p)
    g = p.add_argument_group("search")
    g.add_argument(
        "--search",
        type=search,
        action="append",
        default=[],
        metavar="KEY=KIND:...",
        help="a dimension of the search space (repeatable; default lr=log:1e-4:1e-1)",
    )
    g.add_argument("--trials", type=int, default=10, help="trials this worker runs (default 10)")
    g.add_argument("--folds", type=int, default=3, help="k of the k-fold objective (default 3)")
    g.add_argument("--patience", type=int, default=2, help="early-stopping patience per fold (0: off)")
    g.add_argument("--study-name", default="dlbasic", help="workers with the same name and storage share a study")
    g.add_argument(
        "--storage",
        default="runs/tune/journal.log",
        help="journal file path (shared by processes on this machine) or an RDB URL "
        "(default runs/tune/journal.log); workers with the same settings add trials to a study there",
    )
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="start the study --study-name again, deleting its trials (give it to one worker only)",
    )
    g.add_argument(
        "--sampler-seed",
        type=int,
        default=None,
        help="seed of the TPE sampler (default none, so that several workers draw different points)",
    )
    g.add_argument("--startup-trials", type=int, default=5, help="random trials before TPE takes over (default 5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """`dlbasic tune`: add `--trials` Optuna trials (k-fold mean held-out accuracy) to the study and print the best."""
    try:
        import optuna
    except ImportError:
        raise UserError("dlbasic tune needs Optuna", "pip install 'dlbasic[tune]'") from None
    from dlbasic.commands.train import check_models
    from dlbasic.config import from_dict
    from dlbasic.evaluation._fit import load_pool
    from dlbasic.evaluation.crossval import cross_validate, kfold_splits

    check(args.trials >= 1, f"--trials must be at least 1, got {args.trials}")
    check(args.folds >= 2, f"--folds must be at least 2, got {args.folds}")
    check(args.patience >= 0, f"--patience must be 0 (off) or more, got {args.patience}")
    check(args.startup_trials >= 0, f"--startup-trials must be 0 or more, got {args.startup_trials}")
    check(bool(args.study_name.strip()), "--study-name is empty")
    check(
        args.sampler_seed is None or 0 <= args.sampler_seed < 2**32,
        f"--sampler-seed must be in 0..{2**32 - 1}, got {args.sampler_seed}",
    )
    space = args.search or [("lr", "log", [1e-4, 1e-1])]
    base = config_from_args(args)
    check_space(space, base)
    check_storage(args.storage)
    check_models([base])
    pool = load_pool(base)
    kfold_splits(pool.labels, args.folds, base.seed)  # too few images per class for k folds: refused here
    # Optuna logs every failed trial with its traceback; a failure is reported once, by the CLI
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(args.storage)
    study = open_study(
        args,
        storage,
        optuna.samplers.TPESampler(seed=args.sampler_seed, n_startup_trials=args.startup_trials),
        optuna.pruners.MedianPruner(n_startup_trials=args.startup_trials, n_warmup_steps=0),
        settings(base, space, args.folds, args.patience),
    )

    def objective(trial) -> float:
        overrides = suggest(trial, space)
        trial.set_user_attr("worker", os.getpid())
        scores: list[float] = []

        def on_fold(f) -> None:
            scores.append(f.val_accuracy)
            trial.report(statistics.fmean(scores), f.fold)
            if trial.should_prune():
                raise optuna.TrialPruned()

        cross_validate(from_dict(overrides, base), [{}], args.folds, args.patience, pool, on_fold)
        trial.set_user_attr("fold_accuracy", scores)
        return statistics.fmean(scores)

    def show(study, trial) -> None:
        value = f"{trial.value:.4f}" if trial.value is not None else "-"
        print(
            f"trial {trial.number} {trial.state.name.lower()}: {trial.params} mean held-out accuracy {value}",
            flush=True,
        )

    study.optimize(objective, n_trials=args.trials, callbacks=[show])
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    print(f"study {args.study_name!r}: {len(study.trials)} trials ({len(done)} complete) in {args.storage}")
    if done:
        print(
            f"best: trial {study.best_trial.number} {study.best_params} mean held-out accuracy "
            f"{study.best_value:.4f}; train it with `dlbasic train` and these options, then test once"
        )
    return 0
