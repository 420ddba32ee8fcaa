"""Hyperparameter search with Optuna (TPE sampler, median pruner) on a k-fold objective: `tune(base, space, ...)`.

TPE: Bergstra, Bardenet, Bengio & Kegl, NeurIPS 2011; Optuna: Akiba et al., KDD 2019. A trial scores the mean
held-out accuracy over k folds of the train+val pool (never the test split), reporting the running mean after each
fold so that the median pruner can stop it. Storage: a journal file (append-only, file-locked, shared by the
processes of one machine) or an RDB URL (shared across machines).

A study records what its scores depend on (the config, the search space, folds and patience): a worker
with the same settings adds trials to it, one with other settings is refused, and `overwrite` starts
the study again. Nothing else in the storage is touched. Mistakes are `UserError`s that name the
`dlbasic tune` option to change.
"""

from __future__ import annotations

import json
import os
import re
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlbasic.config import TrainConfig, check_config, from_dict
from dlbasic.errors import UserError, check
from dlbasic.outputs import check_dir, open_dir
from dlbasic.overrides import scalar, split_top_level
from dlbasic.parsing import loads_json
from dlbasic.preflight import check_models, check_names

Dimension = tuple[str, str, list[Any]]  # (config key, kind, values): ("lr", "log", [1e-4, 0.1])
KINDS = ("log", "float", "int", "choice")
DEFAULT_SPACE: list[Dimension] = [("lr", "log", [1e-4, 1e-1])]


def parse_dimension(text: str) -> Dimension:
    """'lr=log:1e-4:1e-1' -> ('lr', 'log', [1e-4, 1e-1]); 'KEY=choice:A,B,C' lists the values."""
    key, sep, spec = text.partition("=")
    kind, _, rest = spec.partition(":")
    if not sep or kind not in KINDS or not rest:
        raise UserError(f"expected KEY=KIND:..., KIND one of {', '.join(KINDS)}; got {text!r}")
    values = [scalar(v) for v in (split_top_level(rest) if kind == "choice" else rest.split(":"))]
    if kind != "choice" and (len(values) != 2 or not all(_number(v) for v in values)):
        raise UserError(f"{kind} needs LOW:HIGH numbers, got {rest!r}")
    return key.replace("-", "_"), kind, values


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


# options that choose the data: one pool of images is loaded for all trials, so they cannot vary
_DATA = ("data", "image_size", "val_fraction", "test_fraction", "train_subset")
# options that choose the model: every choice is built once (on the meta device) before any trial
_MODEL = ("model", "model_options", "norm", "dropout")


def check_space(space: list[Dimension], base: TrainConfig) -> None:
    """Refuse, before any trial, a dimension whose range is empty or whose values the config does not take."""
    check_names(base)
    seen: set[str] = set()
    for key, kind, values in space:
        where = f"--search {key}={kind}:{(',' if kind == 'choice' else ':').join(map(str, values))}"
        check(kind in KINDS, f"{where}: unknown kind {kind!r}", f"KIND one of {', '.join(KINDS)}")
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
            _check_range(where, key, kind, values)
        for v in values if kind == "choice" else [int(v) if kind == "int" else float(v) for v in values]:
            try:
                cfg = check_config(check_names(from_dict({key: v}, base)))
                if kind == "choice" and key in _MODEL:
                    check_models([cfg])
            except UserError as e:
                raise UserError(f"{where}: {e.message}", e.hint) from None


def _check_range(where: str, key: str, kind: str, values: list[Any]) -> None:
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


def suggest(trial, space: list[Dimension]) -> dict[str, Any]:
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


def is_dlbasic_study(study) -> bool:
    """True for a study `tune` made: it records its settings, or every trial names its worker."""
    trials = study.trials
    return SETTINGS in study.user_attrs or (bool(trials) and all("worker" in t.user_attrs for t in trials))


def open_study(
    name: str,
    where: str,
    storage,
    sampler,
    pruner,
    mine: dict[str, Any],
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
):
    """Create the study `name` in `storage` (described as `where`), or join it (same settings `mine`: another
    worker, or a continued search); `overwrite` deletes a study `tune` made first. `log` hears what was found."""
    import optuna

    say = log or (lambda text: None)
    try:
        old = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        old = None
    if old is not None and overwrite:
        if not is_dlbasic_study(old):
            raise UserError(
                f"study {name!r} in {where} was not made by dlbasic tune; --overwrite only replaces "
                "studies dlbasic made",
                "choose another --study-name",
            )
        count = len(old.trials)
        optuna.delete_study(study_name=name, storage=storage)
        say(f"deleted study {name!r} in {where} ({count} trials) to start it again")
        old = None
    if old is not None:  # loading writes nothing, so a refused worker leaves the storage as it was
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    else:  # (another worker may create it at the same moment: then it is loaded)
        study = optuna.create_study(
            study_name=name, storage=storage, direction="maximize", load_if_exists=True, sampler=sampler, pruner=pruner
        )
    _check_settings(study, name, where, mine)
    if study.trials:
        say(f"continuing study {name!r} in {where} ({len(study.trials)} trials so far)")
    return study


def _check_settings(study, name: str, where: str, mine: dict[str, Any]) -> None:
    """Refuse to add trials to a study whose scores were measured with other settings."""
    import optuna

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


def _check_search(trials: int, folds: int, patience: int, startup_trials: int, study_name: str, seed: Any) -> None:
    check(trials >= 1, f"--trials must be at least 1, got {trials}")
    check(folds >= 2, f"--folds must be at least 2, got {folds}")
    check(patience >= 0, f"--patience must be 0 (off) or more, got {patience}")
    check(startup_trials >= 0, f"--startup-trials must be 0 or more, got {startup_trials}")
    check(bool(study_name.strip()), "--study-name is empty")
    check(seed is None or 0 <= seed < 2**32, f"--sampler-seed must be in 0..{2**32 - 1}, got {seed}")


def tune(
    base: TrainConfig,
    space: list[Dimension] | None = None,
    trials: int = 10,
    folds: int = 3,
    patience: int = 2,
    storage: str = "runs/tune/journal.log",
    study_name: str = "dlbasic",
    overwrite: bool = False,
    sampler_seed: int | None = None,
    startup_trials: int = 5,
    callbacks: list[Callable] | None = None,
    log: Callable[[str], None] | None = None,
):
    """Add `trials` Optuna trials to the study `study_name` in `storage` and return the study.

    A trial sets the values `suggest` draws from `space` (default `DEFAULT_SPACE`) on `base` and scores them by
    the mean held-out accuracy of `folds`-fold cross-validation on the train+val pool, with early stopping of
    `patience` epochs per fold (0: off); the median pruner stops a trial below the median after a fold. TPE
    (seeded by `sampler_seed`; None: each worker draws its own points) takes over after `startup_trials` random
    trials. Everything is checked before the first trial: the space, the storage, the model, the folds.

    Args:
        storage: a journal file path (or journal:PATH), created if missing, or an RDB URL.
        overwrite: delete the study first (one `tune` made) instead of joining it.
        callbacks: Optuna callbacks `(study, trial)` called after each trial (e.g. to print it).
        log: hears what was found in the storage (a study continued or deleted).

    Returns:
        The `optuna.Study`: `best_trial`, `best_params`, `best_value`, every trial with its `fold_accuracy`.
    """
    try:
        import optuna
    except ImportError:
        raise UserError("dlbasic tune needs Optuna", "pip install 'dlbasic[tune]'") from None
    from dlbasic.evaluation._fit import load_pool
    from dlbasic.evaluation.crossval import kfold_splits

    _check_search(trials, folds, patience, startup_trials, study_name, sampler_seed)
    space = space or DEFAULT_SPACE
    check_space(space, base)
    check_storage(storage)
    check_models([base])
    pool = load_pool(base)
    kfold_splits(pool.labels, folds, base.seed)  # too few images per class for k folds: refused here
    # Optuna logs every failed trial with its traceback; a failure is reported once, by the caller
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = open_study(
        study_name,
        storage,
        open_storage(storage),
        optuna.samplers.TPESampler(seed=sampler_seed, n_startup_trials=startup_trials),
        optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=0),
        settings(base, space, folds, patience),
        overwrite,
        log,
    )
    study.optimize(_objective(base, space, folds, patience, pool), n_trials=trials, callbacks=callbacks)
    return study


def _objective(base: TrainConfig, space: list[Dimension], folds: int, patience: int, pool) -> Callable:
    """A trial's score: the mean held-out accuracy of `cross_validate` over the folds of `pool` with the values the
    trial suggests; the running mean is reported after each fold, and the trial pruned if the pruner says so."""
    import optuna

    from dlbasic.evaluation import crossval

    def objective(trial) -> float:
        overrides = suggest(trial, space)
        trial.set_user_attr("worker", os.getpid())
        scores: list[float] = []

        def on_fold(f) -> None:
            scores.append(f.val_accuracy)
            trial.report(statistics.fmean(scores), f.fold)
            if trial.should_prune():
                raise optuna.TrialPruned()

        crossval.cross_validate(from_dict(overrides, base), [{}], folds, patience, pool, on_fold)
        trial.set_user_attr("fold_accuracy", scores)
        return statistics.fmean(scores)

    return objective
