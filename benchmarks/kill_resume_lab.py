"""Kill the lab at random moments, resume it, and compare with a lab that ran uninterrupted.

For each trial: `dlbasic lab --only IDS --jobs J --out DIR` starts in a process of its own and is killed
(SIGKILL: no chance to clean up) at a moment drawn uniformly over the uninterrupted lab's duration; then
`dlbasic lab --out DIR --resume` finishes it. A trial passes when the resumed lab computed only the runs that
had not finished (the others are read from DIR/runs) and its report has the uninterrupted lab's numbers
(timings aside).

    python benchmarks/kill_resume_lab.py --only bagging,boosting,generalization --trials 5
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CODE = "import sys; from dlbasic.cli import main; sys.exit(main())"


def numbers(obj):
    """A result without what depends on timing or on how the runs were obtained."""
    if isinstance(obj, dict):
        return {
            k: numbers(v)
            for k, v in obj.items()
            if k not in ("figures", "runs") and "seconds" not in k and "time" not in k
        }
    if isinstance(obj, list):
        return [numbers(v) for v in obj]
    return obj


def lab(out: Path, only: str, jobs: int, *extra: str) -> subprocess.Popen:
    argv = [sys.executable, "-c", CODE, "lab", "--only", only, "--jobs", str(jobs), "--out", str(out), *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="bagging,boosting,generalization")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="kill-resume-lab-"))
    try:
        start = time.perf_counter()
        reference = lab(work / "reference", args.only, args.jobs)
        reference.communicate()
        seconds = time.perf_counter() - start
        expected = numbers(report(work / "reference")["results"])
        unique = len(list((work / "reference" / "runs").glob("*.json")))
        print(f"uninterrupted: {seconds:.0f} s, {unique} runs computed")
        passed = 0
        for trial in range(args.trials):
            out = work / f"trial-{trial}"
            at = rng.uniform(1.0, seconds)
            p = lab(out, args.only, args.jobs)
            time.sleep(at)
            p.kill()
            p.communicate()
            saved = len(list((out / "runs").glob("*.json"))) if (out / "runs").is_dir() else 0
            if not (out / ".dlbasic").exists():  # killed before the folder was made: a fresh start
                resumed = lab(out, args.only, args.jobs)
            else:
                resumed = lab(out, args.only, args.jobs, "--resume")
            stdout, stderr = resumed.communicate()
            if resumed.returncode != 0:
                print(f"trial {trial}: killed at {at:.1f} s; resume failed: {stderr.strip()[-300:]}")
                continue
            kept = {line.split()[1].rstrip(":") for line in stdout.splitlines() if "done before" in line}
            results = report(out)["results"]
            computed = sum(r["runs"]["computed"] for r in results if r["id"] not in kept)
            files = len(list((out / "runs").glob("*.json")))
            same = numbers(results) == expected
            only_missing = computed == unique - saved and files == unique
            passed += same and only_missing
            print(
                f"trial {trial}: killed at {at:.1f} s with {saved} of {unique} runs saved; resumed: {len(kept)} "
                f"studies kept, {computed} runs computed ({unique - saved} missing); report equal: {same}"
            )
        print(f"{passed} of {args.trials} trials passed")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
