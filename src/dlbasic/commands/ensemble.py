"""`dlbasic ensemble bagging|boosting`: ensembles of networks, each member reported beside the ensemble."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dlbasic.commands._options import add_jobs_option, config_from_args, training_parser

EXAMPLES = """examples:
  dlbasic ensemble bagging --data digits --model mlp --members 5 --epochs 5
  dlbasic ensemble boosting --data digits --model mlp --model-option hidden=[8] --rounds 5 --epochs 2
Members train on the train split and are compared on the val split (--on test: on the test split).
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `dlbasic ensemble` sub-command and its options to `sub`."""
    p = sub.add_parser(
        "ensemble",
        help="bagging or boosting ensembles of networks",
        description="Bagging (bootstrap samples, soft and hard voting, out-of-bag scores) or AdaBoost "
        "SAMME (networks as weak learners through a weighted loss).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind, text in (
        ("bagging", "k networks on bootstrap samples, soft and hard voting"),
        ("boosting", "AdaBoost SAMME with small networks as weak learners"),
    ):
        q = training_parser(kinds, kind, help=text, description=text, epilog=EXAMPLES)
        g = q.add_argument_group(kind)
        if kind == "bagging":
            g.add_argument("--members", type=int, default=5, help="networks in the ensemble (default 5)")
        else:
            g.add_argument("--rounds", type=int, default=5, help="boosting rounds (default 5)")
        g.add_argument("--on", choices=["val", "test"], default="val", help="split to report on (default val)")
        if kind == "bagging":
            add_jobs_option(g, "members trained")
        g.add_argument("--out", type=Path, default=None, help="write the results as JSON to this file")
        g.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
        q.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """`dlbasic ensemble`: train a bagging or boosting ensemble; print each member and the ensemble."""
    from dlbasic.checkpoint import atomic_write_text
    from dlbasic.data import load
    from dlbasic.errors import check
    from dlbasic.evaluation.ensembles import bagging, boosting
    from dlbasic.outputs import check_file
    from dlbasic.preflight import check_models

    if args.kind == "bagging":
        check(args.members >= 1, f"--members must be at least 1, got {args.members}")
        check(args.jobs >= 1, f"--jobs must be at least 1, got {args.jobs}")
    else:
        check(args.rounds >= 1, f"--rounds must be at least 1, got {args.rounds}")
    cfg = config_from_args(args)
    if args.out is not None:
        check_file(args.out, overwrite=args.overwrite)
    train = load(cfg.data, "train", **cfg.split_options())
    target = load(cfg.data, args.on, **cfg.split_options())
    check_models([cfg])
    if args.kind == "bagging":
        res = bagging(
            cfg,
            train,
            target,
            args.members,
            seed=cfg.seed,
            jobs=args.jobs,
            on_member=lambda m, acc, oob: print(
                f"member {m + 1}: {args.on} accuracy {acc:.4f}, out-of-bag accuracy {oob:.4f}", flush=True
            ),
        )
        print(
            f"ensemble of {args.members}: soft voting {res.soft_accuracy:.4f}, hard voting {res.hard_accuracy:.4f} "
            f"(best member {max(res.member_accuracy):.4f}, mean member "
            f"{sum(res.member_accuracy) / len(res.member_accuracy):.4f}) on {args.on}"
        )
    else:
        res = boosting(cfg, train, target, args.rounds)
        print(
            f"{'round':>5s} {'w-error':>8s} {'alpha':>7s} {'H train err':>11s} {'w on mistakes':>13s} "
            f"{'ESS':>7s} {'max w x n':>9s} {'H ' + args.on + ' acc':>10s}"
        )
        for m, (r, acc) in enumerate(zip(res.rounds, res.test_accuracy_per_round)):
            print(
                f"{m + 1:5d} {r.error:8.4f} {r.alpha:7.3f} {r.ensemble_train_error:11.4f} "
                f"{r.weight_on_mistakes:13.3f} {r.effective_sample_size:7.1f} {r.max_weight_ratio:9.1f} {acc:10.4f}"
            )
        if len(res.rounds) < args.rounds:
            print(f"stopped after {len(res.rounds)} rounds (a learner was perfect or no better than chance)")
    if args.out is not None:
        atomic_write_text(json.dumps({"kind": args.kind, "config": cfg.to_dict(), **res.to_dict()}, indent=2), args.out)
    return 0
