"""Kill a training run at random moments, resume it each time, and compare the end with an uninterrupted run.

For every case (a task on real or synthetic data) the same command runs once uninterrupted; then a second
copy is stopped at `--kills` random moments, each one of:
  mid-step   SIGKILL a random fraction of a step after the n-th new checkpoint.pt (n = 1..3);
  in-write   SIGKILL as soon as a temporary file of an atomic write (`.checkpoint.pt.*.tmp`, best.pt's,
             metrics.jsonl's) appears after the n-th new checkpoint;
  sigint     Ctrl-C a random fraction of a step after the n-th new checkpoint (the run saves and stops);
and each time continued with a plain `--resume` (the run folder only: every setting comes from config.yaml).
A copy that finishes before its kills are spent starts over in a fresh folder. Every finished copy must
equal the uninterrupted run bit for bit: metrics.jsonl (all but the timing columns), summary.json (all but
timings), and the weights of checkpoint.pt and best.pt.

Real data comes from `../shared/data` beside the repository (kangaroo photos for detection, ISBI membranes
for segmentation, MNIST for classification); cases on data that is absent are skipped.

    python benchmarks/kill_resume.py [--kills 10] [--cases all|NAME,...] [--seed 0] [--keep DIR]

One line per case, then a JSON object: {"bench": "kill_resume", "cases": {name: {"identical": ...}}}.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
KANGAROO = shlex.quote(f"voc:{SHARED / 'kangaroo'}")
ISBI = shlex.quote(f"segfolder:{SHARED / 'isbi2012-membrane'},invert=1")
MNIST = shlex.quote(f"idx:{SHARED / 'mnist'}")
SCENES = "scenes:canvas=64,digits=1-2,count=48"
DETECT = "--checkpoint-every 2 --batch-size 8 --threads 1 --device cpu --warmup-steps 2"
# the command after `dlbasic`, and the real data it needs (None: synthetic)
CASES: dict[str, tuple[str, Path | None]] = {
    "classify-mnist": (
        f"train --data {MNIST} --train-subset 384 --epochs 3 --batch-size 32 --augment flip,crop --mixup 0.2 "
        "--dropout 0.1 --checkpoint-every 3 --threads 1",
        SHARED / "mnist",
    ),
    "classify-digits": (
        "train --data digits --model mlp --epochs 3 --batch-size 64 --augment crop --weight-noise 0.01 "
        "--checkpoint-every 4 --threads 1",
        None,
    ),
    "segment-isbi": (
        f"segment train --data {ISBI} --image-size 64 --epochs 3 --batch-size 4 --augment flip,crop "
        "--checkpoint-every 2 --threads 1 --precision fp32",
        SHARED / "isbi2012-membrane",
    ),
    "segment-scenes": (
        f"segment train --data {SCENES} --epochs 3 --batch-size 8 --augment flip --checkpoint-every 2 --threads 1 "
        "--precision fp32",
        None,
    ),
    "faster_rcnn-kangaroo": (
        f"detect train --model faster_rcnn --data {KANGAROO} --image-size 96 --epochs 3 --train-limit 48 "
        f"--test-limit 8 {DETECT}",
        SHARED / "kangaroo",
    ),
    "faster_rcnn-scenes": (
        f"detect train --model faster_rcnn --data {SCENES} --epochs 3 --test-limit 4 {DETECT}",
        None,
    ),
    "yolo_v1-kangaroo": (
        f"detect train --model yolo_v1 --data {KANGAROO} --image-size 96 --epochs 3 --train-limit 48 "
        f"--test-limit 8 {DETECT}",
        SHARED / "kangaroo",
    ),
    "yolo_v1-scenes": (f"detect train --model yolo_v1 --data {SCENES} --epochs 3 --test-limit 4 {DETECT}", None),
}
TIMING = ("seconds", "per_second", "seconds_per_image", "time_to_target")  # columns that measure time
MOMENTS = ("mid-step", "in-write", "sigint")


def dlbasic(*args: str) -> list[str]:
    return [sys.executable, "-m", "dlbasic.cli", *args, "--no-progress"]


def _results(row: dict) -> str:
    """A row of results without its timings, as JSON text: floats exactly (repr), NaN equal to NaN."""
    return json.dumps({k: v for k, v in row.items() if not k.endswith(TIMING) and k != "history"}, sort_keys=True)


def outcome(run: Path) -> dict:
    """What must not differ between two runs of one command: results without timings, and the weights."""
    rows = [_results(json.loads(line)) for line in (run / "metrics.jsonl").read_text().splitlines()]
    summary = _results(json.loads((run / "summary.json").read_text()))
    weights = {}
    for name in ("checkpoint.pt", "best.pt"):
        if (run / name).is_file():
            state = torch.load(run / name, map_location="cpu", weights_only=True)
            weights[name] = state["model"]
            if name == "checkpoint.pt":
                weights["optimizer"] = state["optimizer"]["state"]
    return {"metrics": rows, "summary": summary, "weights": weights}


def same(a: object, b: object) -> bool:
    """Bit-identical: tensors by `torch.equal` (and dtype), containers element by element, the rest by ==."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and torch.equal(a, b)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def first_difference(a: dict, b: dict) -> str:
    for key in ("metrics", "summary"):
        if not same(a[key], b[key]):
            return f"{key}: {a[key]} != {b[key]}"
    for name, state in a["weights"].items():
        other = b["weights"].get(name, {})
        bad = [k for k in state if not same(state[k], other.get(k))]
        if bad:
            return f"{name}: {len(bad)} tensors differ, e.g. {bad[0]}"
    return ""


def _checkpoint_id(path: Path) -> tuple[int, int] | None:
    try:
        s = os.stat(path)
    except FileNotFoundError:
        return None
    return s.st_ino, s.st_mtime_ns


def _tmp_files(run: Path) -> list[str]:
    try:
        return [e.name for e in os.scandir(run) if e.name.startswith(".") and e.name.endswith(".tmp")]
    except FileNotFoundError:
        return []


def interrupt(proc: subprocess.Popen, run: Path, moment: str, after: int, step_seconds: float, rng: random.Random):
    """Stop `proc` at `moment` once checkpoint.pt was replaced `after` times; None if it finished first.

    Returns (what happened, whether a temporary file was left behind)."""
    ckpt, seen, new = run / "checkpoint.pt", _checkpoint_id(run / "checkpoint.pt"), 0
    while proc.poll() is None and new < after:
        now = _checkpoint_id(ckpt)
        if now is not None and now != seen:
            seen, new = now, new + 1
        time.sleep(0.002)
    if moment == "in-write":
        while proc.poll() is None and not _tmp_files(run):
            time.sleep(0.0005)
    else:
        deadline = time.time() + rng.random() * step_seconds
        while proc.poll() is None and time.time() < deadline:
            time.sleep(0.002)
    if proc.poll() is not None:
        return None
    proc.send_signal(signal.SIGINT if moment == "sigint" else signal.SIGKILL)
    try:
        proc.wait(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    left = bool(_tmp_files(run))
    return f"{moment} after {after} checkpoints (rc {proc.returncode})", left


def run_case(name: str, command: list[str], kills: int, work: Path, rng: random.Random) -> dict:
    full = work / f"{name}-full"
    start = time.perf_counter()
    done = subprocess.run(dlbasic(*command, "--run-dir", str(full)), capture_output=True, text=True)
    if done.returncode:
        return {"identical": False, "error": done.stderr.strip().splitlines()[-1:]}
    seconds = time.perf_counter() - start
    reference = outcome(full)
    state = torch.load(full / "checkpoint.pt", map_location="cpu", weights_only=True)
    step_seconds = seconds / max(1, state["global_step"])  # an upper bound: includes start-up and evaluation
    resume_prefix = command[: 2 if command[0] in ("segment", "detect") else 1]
    copies, events, differences, leftovers = 0, [], [], 0
    while kills > 0:
        copies += 1
        run = work / f"{name}-killed-{copies}"
        argv = dlbasic(*command, "--run-dir", str(run))
        while True:
            log = work / f"{name}-stderr.txt"
            with open(log, "w") as err:
                proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
            what = None
            if kills > 0:
                moment = rng.choice(MOMENTS)
                what = interrupt(proc, run, moment, rng.randint(1, 3), step_seconds, rng)
            if what is None:
                if proc.wait():
                    last = (log.read_text().strip().splitlines() or ["?"])[-1]
                    differences.append(f"copy {copies} failed: {last}")
                break
            kills -= 1
            events.append(what[0])
            leftovers += what[1]
            argv = dlbasic(*resume_prefix, "--run-dir", str(run), "--resume")
        if (run / "summary.json").is_file():
            diff = first_difference(reference, outcome(run))
            if diff:
                differences.append(f"copy {copies}: {diff}")
    return {
        "identical": not differences,
        "kills": len(events),
        "killed_while_writing": leftovers,
        "copies": copies,
        "uninterrupted_seconds": round(seconds, 1),
        "moments": events,
        "differences": differences,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=10, help="random kill moments per case (default 10)")
    parser.add_argument("--cases", default="all", help=f"comma-separated, of: {', '.join(CASES)}")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--keep", type=Path, default=None, help="keep the run folders here")
    args = parser.parse_args()
    names = list(CASES) if args.cases == "all" else args.cases.split(",")
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown cases: {', '.join(unknown)}")
    work = args.keep or Path(tempfile.mkdtemp(prefix="kill_resume-"))
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    try:
        for name in names:
            command, needs = CASES[name]
            if needs is not None and not needs.exists():
                results[name] = {"skipped": f"{needs} is absent"}
                print(f"{name}: skipped ({needs} is absent)", flush=True)
                continue
            r = run_case(name, shlex.split(command), args.kills, work, random.Random(f"{args.seed}-{name}"))
            results[name] = r
            verdict = "bit-identical" if r["identical"] else "DIFFERENT"
            print(
                f"{name}: {verdict} after {r.get('kills', 0)} kills ({r.get('killed_while_writing', 0)} during a "
                f"write) in {r.get('copies', 0)} copies; uninterrupted {r.get('uninterrupted_seconds', '?')} s"
                + (f"; {r['differences'] or r.get('error')}" if not r["identical"] else ""),
                flush=True,
            )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"bench": "kill_resume", "kills": args.kills, "seed": args.seed, "cases": results}))


if __name__ == "__main__":
    main()
