"""`dlbasic optim-race`: optimizers racing on a 2-D landscape, each at its grid-searched learning rate."""

from __future__ import annotations

import argparse
from pathlib import Path

ALL = "sgd,momentum,nesterov,adagrad,adadelta,rmsprop,adam,radam,adamp"

EXAMPLES = f"""examples:
  dlbasic optim-race                                   # rosenbrock, {ALL}
  dlbasic optim-race --landscape quadratic --optimizers sgd,momentum,nesterov --steps 100
  dlbasic optim-race --landscape beale --lrs 0.001,0.01,0.1 --out runs/beale --no-gif
"""


def _floats(text: str) -> list[float]:
    import math

    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive finite numbers, got {text!r}")
    return values


def _point(text: str) -> tuple[float, float]:
    import math

    try:
        values = [float(v) for v in text.split(",")] if text.count(",") == 1 else []
    except ValueError:
        values = []
    if len(values) != 2 or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected two finite numbers X,Y, got {text!r}")
    return values[0], values[1]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `dlbasic optim-race` sub-command and its options to `sub`."""
    p = sub.add_parser(
        "optim-race",
        help="optimizer paths on a 2-D test function (PNG + GIF)",
        description="Run each optimizer from the same start on a 2-D test function. Each "
        "optimizer's learning rate is chosen by a grid search (lowest final loss); the "
        "table of chosen learning rates and final losses is printed and saved. Writes "
        "race.png (contours with all paths, loss against step), race.gif, race.md and "
        "race.json (every grid point).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--landscape",
        default="rosenbrock",
        help="rosenbrock, beale, himmelblau, quadratic, saddle (default rosenbrock)",
    )
    p.add_argument("--optimizers", default=ALL, help=f"comma-separated optimizer names (default {ALL})")
    p.add_argument("--steps", type=int, default=300, help="optimizer steps (default 300)")
    p.add_argument(
        "--lrs",
        type=_floats,
        default=None,
        metavar="LR,LR,...",
        help="learning-rate grid (default 1e-4 ... 10 in half decades)",
    )
    p.add_argument("--start", type=_point, default=None, metavar="X,Y", help="start (default: the landscape's)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default runs/race-<landscape>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder (one dlbasic made)")
    p.add_argument("--frames", type=int, default=60, help="frames of the GIF (default 60)")
    p.add_argument("--no-gif", action="store_true", help="skip the animation")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """`dlbasic optim-race`: race the optimizers on the landscape, print the table and write the figures; returns 0."""
    from dlbasic.errors import check
    from dlbasic.optim.race import DEFAULT_LRS, race, race_table, write_race
    from dlbasic.outputs import check_dir, open_dir

    check(args.steps >= 1, f"--steps must be at least 1, got {args.steps}")
    check(args.frames >= 2, f"--frames must be at least 2, got {args.frames}")
    names = [n.strip() for n in args.optimizers.split(",") if n.strip()]
    check(bool(names), "--optimizers names no optimizer", f"e.g. --optimizers {ALL}")
    out = args.out or Path("runs") / f"race-{args.landscape}"
    where = {"overwrite": args.overwrite, "option": "--out", "what": "output folder"}
    check_dir(out, **where)
    result = race(args.landscape, names, steps=args.steps, lrs=args.lrs or DEFAULT_LRS, start=args.start)
    written = write_race(result, open_dir(out, command="optim-race", **where), gif=not args.no_gif, frames=args.frames)
    print(
        f"{result.landscape.name} from {result.start}, {result.steps} steps; "
        f"lr per optimizer: lowest final loss on the grid"
    )
    print(race_table(result))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
