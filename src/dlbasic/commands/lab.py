"""`dlbasic lab`: the main job. Runs a study for every claim of the notebook and writes the report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

EXAMPLES = """examples:
  dlbasic lab                                   # every study, quick profile (a few minutes on 2 CPU cores)
  dlbasic lab --only batch-size,resnet --profile full --data idx:data/mnist
  dlbasic lab --out runs/lab-x --resume         # continue an interrupted lab; finished studies are kept
  dlbasic lab --out runs/lab-x --overwrite      # replace an earlier lab folder
  dlbasic lab --jobs 1                          # one study after another, in this process
  dlbasic lab --executor ray --address HEAD:6379  # on a Ray cluster (pip install 'dlbasic[ray]')
  dlbasic lab --list                            # the studies and their claims
  dlbasic lab --profile full --data idx:DIR --estimate --jobs 32  # what it would cost, without running it
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `dlbasic lab` sub-command and its options to `sub`."""
    p = sub.add_parser(
        "lab",
        help="measure every claim of the notebook and write an HTML report",
        description="Run the lab: one study per claim of the course notebook. Each study measures "
        "its claim on real data and computes a verdict (supported, contradicted, "
        "inconclusive) by a rule fixed in advance; what holds by construction is checked exactly. "
        "Writes report.html (self-contained) and report.json.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_study_options(p)
    _add_runner_options(p)
    p.set_defaults(func=run)


def _add_study_options(p: argparse.ArgumentParser) -> None:
    """What the lab measures: the profile, the studies, the data, the seeds."""
    p.add_argument(
        "--profile",
        default="quick",
        choices=["quick", "full"],
        help="quick: every study, 3 seeds, a few minutes on a 2-core CPU; full: 5 seeds, 3x the epochs",
    )
    p.add_argument("--only", default=None, metavar="IDS", help="comma-separated study ids (default: all)")
    p.add_argument(
        "--data",
        default=None,
        metavar="SPEC",
        help="data source for the training studies, at each study's budget: as many images as its own data has, "
        "drawn stratified from SPEC",
    )
    p.add_argument(
        "--test-data",
        default=None,
        metavar="SPEC",
        help="with --data: test on this source (its official test set, else its images; classes by name), at "
        "each study's test budget",
    )
    p.add_argument("--seed", type=int, default=0, help="shifts every study's seeds (verdict stability checks)")


def _add_runner_options(p: argparse.ArgumentParser) -> None:
    """Where and how the lab runs: its folder, workers, executor, and what it prints instead of running."""
    p.add_argument("--out", type=Path, default=None, help="lab folder (default runs/lab-<time>)")
    p.add_argument("--resume", action="store_true", help="keep the finished studies in --out and run the rest")
    p.add_argument("--overwrite", action="store_true", help="replace an existing lab folder --out (one dlbasic made)")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: the studies train small models, and the quick profile's "
        "time and verdicts were measured with one thread)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="studies run at a time, each in its own worker process with --threads threads (default: "
        "one per CPU core; 1: one after another in this process; with --executor ray and "
        "--address: as many as the cluster's CPUs take). Results do not depend on it",
    )
    p.add_argument(
        "--executor",
        default="local",
        choices=["local", "ray"],
        help="local: worker processes on this machine; ray: a Ray task per study, on a local Ray "
        "instance or the cluster at --address (pip install 'dlbasic[ray]')",
    )
    p.add_argument(
        "--address",
        default=None,
        metavar="ADDR",
        help="with --executor ray: the Ray cluster to run on (HEAD:6379, from `ray start --head`)",
    )
    p.add_argument(
        "--readme",
        type=Path,
        default=None,
        metavar="FILE",
        help="afterwards, rewrite the verdict table between the lab-verdicts markers of FILE (README.md)",
    )
    p.add_argument("--list", action="store_true", help="list the studies and exit")
    p.add_argument(
        "--estimate",
        action="store_true",
        help="print what the lab would cost (per study: runs and seconds, from the declared runs and the cost "
        "model; the wall time on --jobs workers) and exit without running it",
    )


def run(args: argparse.Namespace) -> int:
    """`dlbasic lab`: run the selected studies into the lab folder (or `--list` them) and write the report."""

    from dlbasic.config import check_threads
    from dlbasic.errors import UserError, check
    from dlbasic.lab import get_study, make_profile
    from dlbasic.lab.engine import select
    from dlbasic.outputs import check_dir, hold, is_unstarted, made_by_dlbasic

    ids = select(args.only)
    if args.list:
        for sid in ids:
            print(f"{sid:<18} {get_study(sid).claim}")
        return 0
    check(args.threads >= 1, f"--threads must be at least 1, got {args.threads}")
    check(args.jobs is None or args.jobs >= 1, f"--jobs must be at least 1, got {args.jobs}")
    check(
        args.address is None or args.executor == "ray", "--address names a Ray cluster", "pass --executor ray with it"
    )
    if args.executor == "ray":
        from dlbasic.lab.executors import require_ray

        require_ray()
    if args.readme is not None:
        from dlbasic.report.readme import START

        check(
            args.readme.is_file() and START in args.readme.read_text(encoding="utf-8", errors="replace"),
            f"--readme {args.readme} has no verdict table markers",
            f"add the line {START} and its end marker",
        )
    check_threads(args.threads)
    check(
        args.test_data is None or args.data is not None,
        "--test-data needs --data",
        "the studies' own data (8x8 and 28x28 digits) cannot share one test source; pass --data with it",
    )
    profile = make_profile(args.profile, args.seed, args.data, args.test_data)
    if args.estimate:
        print_estimate(profile, args.only, args.jobs, args.data)
        return 0
    if args.resume and args.out is None:
        raise UserError("--resume needs the lab folder", "pass --out runs/lab-<time>")
    if args.resume and args.overwrite:
        raise UserError("--resume and --overwrite contradict each other", "pass one of them")
    out = args.out or Path("runs") / f"lab-{time.strftime('%Y%m%d-%H%M%S')}"
    if out.is_dir() and not is_unstarted(out):
        if not (args.resume or args.overwrite):
            raise UserError(
                f"lab folder {out} already exists",
                "pass --resume to continue it, --overwrite to replace it, or choose another --out",
            )
        if args.resume and not made_by_dlbasic(out):
            raise UserError(
                f"{out} holds files dlbasic did not write; --resume only continues a lab folder", "choose another --out"
            )
    check_dir(out, overwrite=args.overwrite, resume=args.resume, option="--out", what="lab folder")
    with hold(out, "lab folder", "--out"):  # one lab at a time in a folder, from here to its report
        _run(args, out, profile)
    print(f"\nreport: {out / 'report.html'} (and report.json)")
    if args.readme is not None:
        from dlbasic.report.readme import update_readme

        update_readme(args.readme, out / "report.json")
        print(f"verdict table written to {args.readme}")
    return 0


def _run(args: argparse.Namespace, out: Path, profile) -> None:
    import torch

    from dlbasic.lab.engine import run_lab
    from dlbasic.outputs import output_dir

    if args.data is not None:
        open_data(args.data, args.test_data)
    torch.set_num_threads(args.threads)
    with output_dir(
        out, command="lab", overwrite=args.overwrite, resume=args.resume, option="--out", what="lab folder"
    ):
        results = run_lab(
            out,
            profile,
            args.only,
            args.resume,
            jobs=args.jobs,
            threads=args.threads,
            executor=args.executor,
            address=args.address,
        )
    print()
    for r in results:
        print(f"{r['id']:<18} {r['verdict']:<13} {r.get('key_number', '')}")


def open_data(spec: str, test_data: str | None = None) -> None:
    """Open `--data` (and `--test-data` with it) once before any study runs, so a bad spec is one line, not a
    failed study."""
    from dlbasic.data import load

    load(spec, "test" if test_data else "train", test_data=test_data)


def print_estimate(profile, only: str | None, jobs: int | None, data: str | None) -> None:
    """`dlbasic lab --estimate`: per study its runs and expected seconds, then the total and the wall time."""
    import os

    from dlbasic.lab.costs import duration
    from dlbasic.lab.engine import estimate

    if data is not None:
        open_data(data)
    workers = jobs or os.cpu_count() or 1
    e = estimate(profile, only, workers)
    print(f"{'study':<18} {'runs':>5} {'shared':>6} {'expected':>9}")
    for sid, s in sorted(e["studies"].items(), key=lambda kv: -kv[1]["seconds"]):
        print(f"{sid:<18} {s['runs']:>5} {s['shared']:>6} {duration(s['seconds']):>9}")
    print(
        f"profile {profile.name}, data {data or 'each study its own'}: {duration(e['core_seconds'])} of runs on one "
        f"thread each (the longest {duration(e['longest'])}); about {duration(e['wall_seconds'])} on {workers} "
        f"worker{'s' * (workers != 1)}"
    )
