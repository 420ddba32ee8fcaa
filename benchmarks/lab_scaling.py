"""How the lab scales with workers, from the measured durations of its runs.

Reads a lab folder's report.json (each study's `runs.seconds_by_stage`: the seconds of each run, stage by
stage) and replays the lab's scheduler on W workers: runs longest first, a study's next stage only once its
previous stage has ended, a run that two studies share computed once. Prints the sum of the runs, the
longest run and its share of the sum, and the projected lab time on 1, 2, 8, 32 and 128 workers (with the
speed-up over one worker); the bar is a longest run of at most 5 % of the sum.

    python benchmarks/lab_scaling.py runs/lab-quick            # a lab folder that has finished
    python benchmarks/lab_scaling.py runs/lab-quick --workers 8 32 128

The projection leaves out what does not shrink with workers: starting the workers, loading data once per
worker, and the main process's planning, collecting and report (a few seconds in all).
"""

from __future__ import annotations

import argparse
import heapq
import json
from pathlib import Path


def stages_of(report: dict) -> dict[str, list[list[float]]]:
    """Study id -> its stages' run seconds, from report.json (runs shared between studies appear in each)."""
    out = {}
    for result in report["results"]:
        stages = (result.get("runs") or {}).get("seconds_by_stage")
        if stages:
            out[result["id"]] = [list(map(float, stage)) for stage in stages]
    return out


def project(stages: dict[str, list[list[float]]], workers: int) -> float:
    """Seconds the lab takes on `workers`: list scheduling, longest ready run first, stages in order."""
    ready: list[tuple[float, str, int]] = []  # (-seconds, study, stage)
    left = {sid: len(s[0]) for sid, s in stages.items()}  # runs of the current stage not yet ended
    stage = dict.fromkeys(stages, 0)
    for sid, s in stages.items():
        for seconds in s[0]:
            heapq.heappush(ready, (-seconds, sid, 0))
    running: list[tuple[float, str]] = []  # (end time, study)
    now = 0.0
    while ready or running:
        while ready and len(running) < workers:
            seconds, sid, _ = heapq.heappop(ready)
            heapq.heappush(running, (now - seconds, sid))
        now, sid = heapq.heappop(running)
        left[sid] -= 1
        if left[sid] == 0 and stage[sid] + 1 < len(stages[sid]):
            stage[sid] += 1
            left[sid] = len(stages[sid][stage[sid]])
            for seconds in stages[sid][stage[sid]]:
                heapq.heappush(ready, (-seconds, sid, stage[sid]))
    return now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lab", type=Path, help="a finished lab folder (with report.json)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 8, 32, 128])
    args = parser.parse_args()
    report = json.loads((args.lab / "report.json").read_text())
    stages = stages_of(report)
    runs = [(seconds, sid) for sid, s in stages.items() for stage in s for seconds in stage]
    total = sum(seconds for seconds, _ in runs)
    longest, where = max(runs)
    print(
        f"{len(runs)} runs of {len(stages)} studies, {total:.0f} s in all (measured wall time of the lab: "
        f"{report.get('seconds', float('nan')):.0f} s)"
    )
    print(f"longest run: {longest:.1f} s ({where}), {longest / total:.1%} of the sum (bar: at most 5 %)")
    heaviest = sorted(((sum(map(sum, s)), sid) for sid, s in stages.items()), reverse=True)[:5]
    print("heaviest studies: " + ", ".join(f"{sid} {seconds:.0f} s" for seconds, sid in heaviest))
    one = project(stages, 1)
    for w in args.workers:
        t = project(stages, w)
        print(f"{w:>4} workers: {t:7.1f} s  ({one / t:5.1f}x one worker)")


if __name__ == "__main__":
    main()
