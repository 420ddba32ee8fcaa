"""`dlbasic cv`: choose hyperparameters by k-fold cross-validation, then test the choice once."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from dlbasic.commands._options import add_jobs_option, config_from_args, training_parser
from dlbasic.errors import UserError, check
from dlbasic.outputs import check_dir, open_dir
from dlbasic.overrides import argument, choices

EXAMPLES = """examples:
  dlbasic cv --data mnist5k --model simple_cnn --folds 3 --epochs 2 --vary lr=1e-3,3e-3,1e-2
  dlbasic cv --data digits --model mlp --vary lr=1e-3,1e-2 --vary weight_decay=0,1e-4 --out runs/cv-digits
  dlbasic cv --data digits --model mlp --vary lr=1e-3,1e-2 --jobs 2 --threads 1   # two fold runs at a time
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `dlbasic cv` sub-command and its options to `sub`."""
    p = training_parser(
        sub,
        "cv",
        help="k-fold cross-validation over hyperparameters, then one test",
        description="Train every candidate (the grid of --vary values) on every fold of the "
        "train+val data with early stopping on the held-out fold, pick the best mean "
        "held-out accuracy, retrain it on all of that data, and only then evaluate on "
        "the test split, once. Writes cv.json and cv.png.",
        epilog=EXAMPLES,
    )
    g = p.add_argument_group("cross-validation")
    g.add_argument(
        "--vary",
        type=argument(choices),
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="config values to try (repeatable; the grid is their product), e.g. lr=1e-3,1e-2",
    )
    g.add_argument("--folds", type=int, default=5, help="k of k-fold (default 5)")
    g.add_argument(
        "--patience",
        type=int,
        default=2,
        help="early-stopping patience on the held-out fold's loss (0: off; default 2)",
    )
    add_jobs_option(g, "fold runs")
    g.add_argument("--out", type=Path, default=None, help="folder for cv.json and cv.png (default runs/cv-<time>)")
    g.add_argument("--overwrite", action="store_true", help="replace an existing --out folder (one dlbasic made)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """`dlbasic cv`: k-fold cross-validate the `--vary` grid, retrain the best candidate, test it once."""
    from dlbasic.data import load
    from dlbasic.evaluation.crossval import grid, run_cv
    from dlbasic.preflight import check_variants

    if not args.vary:
        raise UserError("nothing to choose between", "pass --vary KEY=V1,V2 (e.g. --vary lr=1e-3,1e-2)")
    keys = [key for key, _ in args.vary]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    check(not twice, f"--vary {twice[0] if twice else ''} is given twice", "list all its values in one --vary")
    cfg = config_from_args(args)
    check(args.folds >= 2, f"--folds must be at least 2, got {args.folds}")
    check(args.patience >= 0, f"--patience must be >= 0, got {args.patience}")
    check(args.jobs >= 1, f"--jobs must be at least 1, got {args.jobs}")
    out = args.out or Path("runs") / f"cv-{time.strftime('%Y%m%d-%H%M%S')}"
    where = {"overwrite": args.overwrite, "option": "--out", "what": "output folder"}
    check_dir(out, **where)
    candidates = grid(dict(args.vary))
    check_variants(cfg, candidates)
    load(cfg.data, "test", **cfg.split_options())  # only that it has images: it is evaluated once, at the end
    print(f"{len(candidates)} candidates x {args.folds} folds, rule: highest mean held-out accuracy")

    def on_fold(f) -> None:
        print(
            f"  fold {f.fold + 1}/{args.folds} {candidates[f.candidate]}: held-out accuracy {f.val_accuracy:.4f} "
            f"(best epoch {f.best_epoch}/{f.epochs_run}, {f.seconds:.1f} s)",
            flush=True,
        )

    res = run_cv(cfg, candidates, args.folds, args.patience, on_fold, jobs=args.jobs)
    print(f"\n{'candidate':40s} {'mean':>8s} {'std':>8s} {'epochs':>7s}")
    for i, row in enumerate(res.summary()):
        mark = "  <- chosen" if i == res.best_index else ""
        print(f"{json.dumps(row['candidate']):40s} {row['mean']:8.4f} {row['std']:8.4f} {row['best_epochs']:7d}{mark}")
    f = res.final
    print(
        f"\nretrained {f['config']} on {f['train_images']} images for {f['epochs']} epochs; "
        f"test accuracy {f['test_accuracy']:.4f} on {f['test_images']} images (the only test evaluation)"
    )
    open_dir(out, command="cv", **where)
    (out / "cv.json").write_text(
        json.dumps(
            {"config": cfg.to_dict(), "folds_k": args.folds, "patience": args.patience, **res.to_dict()}, indent=2
        )
        + "\n"
    )
    plot(res).savefig(out / "cv.png", dpi=120, bbox_inches="tight")
    print(f"results in {out}/ (cv.json, cv.png)")
    return 0


def plot(res):
    """Held-out accuracy per candidate: each fold as a dot, mean +/- std as a bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = res.summary()
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(rows)), 3.5))
    x = range(len(rows))
    ax.bar(
        x,
        [r["mean"] for r in rows],
        yerr=[r["std"] for r in rows],
        capsize=4,
        alpha=0.5,
        color=["tab:orange" if i == res.best_index else "tab:blue" for i in x],
        label="mean ± std over folds",
    )
    for i in x:
        scores = res.scores(i)
        ax.scatter([i] * len(scores), scores, color="k", s=12, zorder=3, label="one fold" if i == 0 else None)
    ax.set_xticks(list(x), [", ".join(f"{k}={v}" for k, v in r["candidate"].items()) for r in rows], rotation=20)
    ax.set_ylabel("held-out fold accuracy")
    lo = min(min(res.scores(i)) for i in x)
    ax.set_ylim(max(0.0, lo - 0.05), 1.0)
    test = res.final.get("test_accuracy", float("nan"))
    ax.set_title(f"cross-validation (chosen in orange); test accuracy {test:.3f}")
    ax.legend(loc="upper right", fontsize=8)
    return fig
