"""`dlbasic tune`: hyperparameter search with Optuna (TPE sampler, median pruner) on a k-fold objective.

Bergstra, Bardenet, Bengio & Kegl, "Algorithms for Hyper-Parameter Optimization", NeurIPS 2011 (TPE);
Akiba et al., "Optuna", KDD 2019. The objective of a trial is the mean held-out accuracy over k folds of
the train+val data (the test split is never read); after each fold the running mean is reported, so the
median pruner can stop a trial whose mean is below the median of earlier trials at the same fold.
The default storage is Optuna's journal file, an append-only log guarded by a file lock, which several
processes on one machine can share; any RDB URL (sqlite:///..., postgresql://...) works across machines.

The search is `dlbasic.evaluation.tune`; this module holds its options and what it prints.
"""

from __future__ import annotations

import argparse

from dlbasic.commands._options import config_from_args, training_parser
from dlbasic.errors import UserError

EXAMPLES = """examples:
  dlbasic tune --data digits --model mlp --trials 20 --search lr=log:1e-4:1e-1 --search weight_decay=log:1e-6:1e-2
  dlbasic tune --study-name s1 --trials 10 &  dlbasic tune --study-name s1 --trials 10   # two workers, one study
  dlbasic tune --storage postgresql://user@host/db --study-name s1 --trials 50           # workers on many machines
search space: KEY=log:LOW:HIGH | KEY=float:LOW:HIGH | KEY=int:LOW:HIGH | KEY=choice:A,B,C
"""


def search(text: str):
    """argparse type of `--search`: `parse_dimension`, its mistakes as argparse's one-line error."""
    from dlbasic.evaluation.tuning import parse_dimension

    try:
        return parse_dimension(text)
    except UserError as e:
        raise argparse.ArgumentTypeError(e.message) from None


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `dlbasic tune` sub-command and its options to `sub`."""
    p = training_parser(
        sub,
        "tune",
        help="Optuna hyperparameter search with a k-fold objective (several workers)",
        description=__doc__.split("\n\n")[1],
        epilog=EXAMPLES,
    )
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
    from dlbasic.evaluation.tuning import tune

    def show(study, trial) -> None:
        value = f"{trial.value:.4f}" if trial.value is not None else "-"
        print(
            f"trial {trial.number} {trial.state.name.lower()}: {trial.params} mean held-out accuracy {value}",
            flush=True,
        )

    study = tune(
        config_from_args(args),
        args.search,
        trials=args.trials,
        folds=args.folds,
        patience=args.patience,
        storage=args.storage,
        study_name=args.study_name,
        overwrite=args.overwrite,
        sampler_seed=args.sampler_seed,
        startup_trials=args.startup_trials,
        callbacks=[show],
        log=print,
    )
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    print(f"study {args.study_name!r}: {len(study.trials)} trials ({len(done)} complete) in {args.storage}")
    if done:
        print(
            f"best: trial {study.best_trial.number} {study.best_params} mean held-out accuracy "
            f"{study.best_value:.4f}; train it with `dlbasic train` and these options, then test once"
        )
    return 0
