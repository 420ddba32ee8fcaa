"""`dlbasic compare`: train variants of one config (`--vary KEY=V1,V2,...`) over seeds and plot them together."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dlbasic.commands._options import add_jobs_option, add_train_options, config_from_args
from dlbasic.errors import check
from dlbasic.outputs import check_dir, open_dir

EXAMPLES = """examples:
  dlbasic compare --data mnist5k --model simple_cnn --vary optimizer=sgd,momentum,nesterov,adagrad,adadelta,rmsprop,adam
  dlbasic compare --data digits --model mlp --vary batch_size=1,32,full --seeds 0,1,2 --epochs 10
  dlbasic compare --data digits --optimizer sgd --vary lr=0.01,0.1,1 --out runs/lr
  dlbasic compare --data digits --vary optimizer=sgd,adam --seeds 0,1 --jobs 2 --threads 1   # two runs at a time
"""


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct seeds, got {text!r}")
    if not all(0 <= s < 2**32 for s in seeds):
        raise argparse.ArgumentTypeError(f"seeds must be in 0..{2**32 - 1}, got {text!r}")
    return seeds


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `dlbasic compare` sub-command and its options to `sub`."""
    p = sub.add_parser(
        "compare",
        help="train variants of a config side by side (curves + table)",
        description="Train the same config with one field set to each of several values, once per "
        "seed, and write compare.png (validation accuracy and loss against epochs and "
        "against training seconds, mean over seeds), compare.md (the table) and "
        "compare.json (every run's curves). Any TrainConfig field can vary; values are "
        "typed like the field.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--vary", required=True, metavar="KEY=V1,V2,...", help="the config field and its values")
    p.add_argument("--seeds", type=_seeds, default=[0], metavar="S1,S2,...", help="seeds per value (default 0)")
    add_jobs_option(p, "runs")
    p.add_argument("--out", type=Path, default=None, help="output folder (default runs/compare-<key>-<time>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder (one dlbasic made)")
    add_train_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """`dlbasic compare`: train each `--vary` value over the seeds, write the comparison, print its table."""
    from dlbasic.preflight import check_variants
    from dlbasic.training.compare import compare, markdown_table, parse_vary, write_comparison

    base = config_from_args(args)
    key, values = parse_vary(args.vary, base)
    out = args.out or Path("runs") / f"compare-{key}-{time.strftime('%Y%m%d-%H%M%S')}"
    where = {"overwrite": args.overwrite, "option": "--out", "what": "output folder"}
    check_dir(out, **where)
    check_variants(base, [{key: value} for value in values], ("val", "test"))  # every run trains, validates, tests
    check(args.jobs >= 1, f"--jobs must be at least 1, got {args.jobs}")
    total = len(values) * len(args.seeds)
    done = [0]

    def report(r) -> None:
        done[0] += 1
        print(
            f"[{done[0]}/{total}] {key}={r.value} seed {r.seed}: val accuracy {r.val_accuracy:.4f}, "
            f"test accuracy {r.test_accuracy:.4f}, {r.seconds:.1f} s",
            flush=True,
        )

    result = compare(base, key, values, args.seeds, on_run=report, jobs=args.jobs)
    written = write_comparison(result, open_dir(out, command="compare", **where))
    print(markdown_table(result))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
