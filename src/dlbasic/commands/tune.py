"""`dlbasic tune`: hyperparameter search with Optuna (TPE sampler, median pruner) on a k-fold objective.

Bergstra, Bardenet, Bengio & Kegl, "Algorithms for Hyper-Parameter Optimization", NeurIPS 2011 (TPE);
Akiba et al., "Optuna", KDD 2019. The objective of a trial is the mean held-out accuracy over k folds of
the train+val data (the test split is never read); after each fold the running mean is reported, so the
median pruner can stop a trial whose mean is below the median of earlier trials at the same fold.
The default storage is Optuna's journal file, an append-only log guarded by a file lock, which several
processes on one machine can share; any RDB URL (sqlite:///..., postgresql://...) works across machines.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path
from typing import Any

from dlbasic.commands.cv import parse_value
from dlbasic.commands.train import add_train_options, config_from_args
from dlbasic.errors import UserError, check

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
    values = [parse_value(v) for v in (rest.split(",") if kind == "choice" else rest.split(":"))]
    if kind != "choice" and (len(values) != 2 or not all(isinstance(v, int | float) for v in values)):
        raise argparse.ArgumentTypeError(f"{kind} needs LOW:HIGH numbers, got {rest!r}")
    return key.replace("-", "_"), kind, values


def suggest(trial, space: list[tuple[str, str, list[Any]]]) -> dict[str, Any]:
    out = {}
    for key, kind, v in space:
        if kind == "choice":
            out[key] = trial.suggest_categorical(key, v)
        elif kind == "int":
            out[key] = trial.suggest_int(key, int(v[0]), int(v[1]))
        else:
            out[key] = trial.suggest_float(key, float(v[0]), float(v[1]), log=kind == "log")
    return out


def open_storage(spec: str):
    """A journal file (a path, or journal:PATH) or an RDB URL (anything with ://)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if "://" in spec:
        return spec
    path = Path(spec.removeprefix("journal:"))
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="Optuna hyperparameter search with a k-fold objective (several workers)",
                       description=__doc__.split("\n\n")[1], epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_options(p)
    g = p.add_argument_group("search")
    g.add_argument("--search", type=search, action="append", default=[], metavar="KEY=KIND:...",
                   help="a dimension of the search space (repeatable; default lr=log:1e-4:1e-1)")
    g.add_argument("--trials", type=int, default=10, help="trials this worker runs (default 10)")
    g.add_argument("--folds", type=int, default=3, help="k of the k-fold objective (default 3)")
    g.add_argument("--patience", type=int, default=2, help="early-stopping patience per fold (0: off)")
    g.add_argument("--study-name", default="dlbasic", help="workers with the same name and storage share a study")
    g.add_argument("--storage", default="runs/tune/journal.log",
                   help="journal file path (shared by processes on this machine) or an RDB URL "
                        "(default runs/tune/journal.log)")
    g.add_argument("--sampler-seed", type=int, default=None,
                   help="seed of the TPE sampler (default none, so that several workers draw different points)")
    g.add_argument("--startup-trials", type=int, default=5, help="random trials before TPE takes over (default 5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import optuna
    except ImportError:
        raise UserError("dlbasic tune needs Optuna", "pip install 'dlbasic[tune]'") from None
    from dlbasic.config import from_dict
    from dlbasic.evaluation._fit import load_pool
    from dlbasic.evaluation.crossval import cross_validate

    check(args.trials >= 1, f"--trials must be at least 1, got {args.trials}")
    space = args.search or [("lr", "log", [1e-4, 1e-1])]
    base = config_from_args(args)
    pool = load_pool(base)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=args.study_name, storage=open_storage(args.storage), direction="maximize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=args.sampler_seed, n_startup_trials=args.startup_trials),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=args.startup_trials, n_warmup_steps=0))

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
        print(f"trial {trial.number} {trial.state.name.lower()}: {trial.params} mean held-out accuracy {value}",
              flush=True)

    study.optimize(objective, n_trials=args.trials, callbacks=[show])
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    print(f"study {args.study_name!r}: {len(study.trials)} trials ({len(done)} complete) in {args.storage}")
    if done:
        print(f"best: trial {study.best_trial.number} {study.best_params} mean held-out accuracy "
              f"{study.best_value:.4f}; train it with `dlbasic train` and these options, then test once")
    return 0
