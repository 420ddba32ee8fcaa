"""Run the lab: every study (or a subset) through the scheduler, each study's result saved as it ends
(`results/<id>.json`, kept by `--resume`), every finished run in the run cache (`runs/`), then the HTML and
JSON report."""

from __future__ import annotations

import contextlib
import json
import math
import platform
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dlbasic import __version__
from dlbasic.checkpoint import atomic_write_bytes, atomic_write_text
from dlbasic.claims import CLAIM_IDS
from dlbasic.errors import UserError, check, did_you_mean
from dlbasic.lab.context import LabContext, Profile, problem, warn
from dlbasic.lab.costs import Costs
from dlbasic.lab.executors import make_executor
from dlbasic.lab.registry import get_study, list_studies
from dlbasic.lab.runs import RunCache, lab_identity, png
from dlbasic.lab.scheduler import Scheduler, StudyState
from dlbasic.lab.study import VERDICTS


def select(only: str | None) -> list[str]:
    """The study ids to run, in the notebook's order; `only` is a comma-separated subset."""
    available = set(list_studies())
    ordered = [c for c in CLAIM_IDS if c in available] + sorted(available - set(CLAIM_IDS))
    if not only:
        return ordered
    wanted = [s.strip() for s in only.split(",") if s.strip()]
    check(bool(wanted), f"--only {only!r} names no study", "give comma-separated study ids, see `dlbasic lab --list`")
    for s in wanted:
        if s not in available:
            raise UserError(f"unknown study {s!r}", did_you_mean(s, available))
    return [s for s in ordered if s in wanted]


def finite(obj: Any) -> Any:
    """The same structure with NaN and infinities as None, so report.json is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def _save_result(result: dict[str, Any], root: Path) -> dict[str, Any]:
    """Figures (PNG bytes, as `study_result` gives them) to PNG files, the rest to results/<id>.json;
    returns the JSON-able result."""
    figures = []
    for k, (caption, image) in enumerate(result.pop("figures")):
        path = root / "figures" / f"{result['id']}-{k}.png"
        atomic_write_bytes(image, path)
        figures.append({"caption": caption, "path": str(path.relative_to(root))})
    result["figures"] = figures
    result = finite(result)
    text = json.dumps(result, indent=2, default=float, allow_nan=False)
    atomic_write_text(text, root / "results" / f"{result['id']}.json")
    return result


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM stops the lab as Ctrl-C does (workers stopped, finished studies kept), not mid-write."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def load_result(path: Path, study_id: str, root: Path) -> dict[str, Any] | None:
    """A study's saved result, or None (with a warning naming the file) for one that is unreadable or not valid."""
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
        _check_result(result, study_id, root)
    except (OSError, ValueError) as e:
        warn(f"cannot read saved result {path} ({problem(e)}); running {study_id} again")
        return None
    return result


def _check_result(result: Any, study_id: str, root: Path) -> None:
    """Raise ValueError unless `result` is a finished study's result as `_save_result` writes it."""
    if not isinstance(result, dict) or result.get("id") != study_id:
        raise ValueError(f"not the result of {study_id}")
    if result.get("verdict") not in VERDICTS:
        raise ValueError(f"verdict {result.get('verdict')!r}")
    if not isinstance(result.get("key_number", ""), str) or not isinstance(result.get("numbers", {}), dict):
        raise ValueError("malformed key_number or numbers")
    seconds = result.get("seconds", 0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f"seconds {seconds!r}")
    figures = result.get("figures", [])
    if not isinstance(figures, list):
        raise ValueError("malformed figures")
    folder = (root / "figures").resolve()
    for fig in figures:
        if not (isinstance(fig, dict) and isinstance(fig.get("caption"), str) and isinstance(fig.get("path"), str)):
            raise ValueError("malformed figure")
        path = (root / fig["path"]).resolve()
        if path.parent != folder or not path.is_file():
            raise ValueError(f"figure {fig['path']} is missing")


def environment() -> dict[str, Any]:
    """What ran the lab: dlbasic, torch, numpy, scikit-learn and Python versions, platform, threads, git revision."""
    try:
        rev = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        rev = None
    import numpy
    import sklearn

    return {
        "dlbasic": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "git_revision": rev,
    }


def run_lab(
    root: Path,
    profile: Profile,
    only: str | None = None,
    resume: bool = False,
    echo=print,
    *,
    jobs: int | None = 1,
    threads: int | None = None,
    executor: str = "local",
    address: str | None = None,
) -> list[dict[str, Any]]:
    """Run the selected studies into `root` and write report.html and report.json there.

    With `resume`, a study whose result is saved in `root/results` is kept; an unreadable saved result
    is reported (a warning naming the file) and the study runs again. Runs finished before (in `root/runs`,
    by any lab of the same code, profile and data) are read, not computed again.

    The runs go to `executor` (`executors.make_executor`): "local" computes `jobs` at a time in worker
    processes (None: one per CPU core; 1: one after another in this process), "ray" as Ray tasks on a local
    instance or the cluster at `address`; each with `threads` torch threads (None: this process's count).
    Ctrl-C or SIGTERM stops the workers and keeps every finished run and study.
    """
    ids = select(only)
    root.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results = _kept_results(root, ids, echo) if resume else {}
    todo = [sid for sid in ids if sid not in results]
    if todo:
        runner = RunSpec(executor, threads or torch.get_num_threads(), jobs, address)
        _run_studies(root, profile, ids, todo, results, runner, echo)
    ordered = [results[sid] for sid in ids]
    _write_report(root, profile, ordered, [c for c in CLAIM_IDS if c not in results] if not only else [], start)
    return ordered


@dataclass(frozen=True)
class RunSpec:
    """Where the runs go: the executor's name, torch threads per worker, local workers, a Ray address."""

    executor: str
    threads: int
    jobs: int | None
    address: str | None


def _kept_results(root: Path, ids: list[str], echo) -> dict[str, dict[str, Any]]:
    """The studies of `ids` whose results `root/results` holds (a resumed lab keeps them)."""
    results: dict[str, dict[str, Any]] = {}
    for sid in ids:
        saved = root / "results" / f"{sid}.json"
        kept = load_result(saved, sid, root) if saved.exists() else None
        if kept is not None:
            results[sid] = kept
            echo(f"[{len(results)}/{len(ids)}] {sid}: done before ({kept['verdict']})")
    return results


def _run_studies(root, profile, ids, todo, results, spec: RunSpec, echo) -> None:
    """Plan, compute and judge the studies `todo`, adding each result to `results` (and saving it) as it ends."""
    ctx = LabContext(profile, root)
    scheduler: Scheduler | None = None

    def done(sid: str, state: StudyState) -> None:
        result = study_result(state, ctx, scheduler.shared(sid) if scheduler else 0)
        if result["verdict"] == "error":  # not saved: --resume runs it again (its finished runs are kept)
            print(result["traceback"], file=sys.stderr, end="", flush=True)
        else:
            result = _save_result(result, root)
        results[sid] = result
        said = result["key_number"] or result.get("reason", "")
        runs = result["runs"]
        echo(
            f"[{len(results)}/{len(ids)}] {sid}: {result['verdict']} ({said}) in {result['seconds']:.0f} s, "
            f"{runs['planned']} run{'s' * (runs['planned'] != 1)}"
        )

    states = {sid: StudyState(get_study(sid)) for sid in todo}
    scheduler = Scheduler(states, ctx, lab_identity(profile), RunCache(root), Costs(profile), done, echo)
    with _sigterm_as_interrupt():
        try:
            scheduler.start()
            jobs = max(1, len(scheduler.jobs))
            scheduler.run(make_executor(spec.executor, profile, root, spec.threads, spec.jobs, spec.address, jobs))
            for sid in todo:  # a run shared with a study that asked for it after this one finished
                result = results[sid]
                if result["verdict"] != "error" and result["runs"]["shared"] != scheduler.shared(sid):
                    result["runs"]["shared"] = scheduler.shared(sid)
                    text = json.dumps(result, indent=2, default=float, allow_nan=False)
                    atomic_write_text(text, root / "results" / f"{sid}.json")
        except KeyboardInterrupt:
            saved = sum(r["verdict"] != "error" for r in results.values())
            echo(
                f"stopped: {saved} of {len(ids)} studies saved in {root / 'results'}, every finished run in "
                f"{root / 'runs'}; --resume computes only the rest"
            )
            raise


def _write_report(root: Path, profile: Profile, results: list[dict[str, Any]], missing: list[str], start) -> None:
    """report.json and report.html of the lab in `root`."""
    from dlbasic.report.html import write_report

    report = {
        "profile": profile.__dict__,
        "environment": environment(),
        "results": results,
        "missing_claims": missing,
        "seconds": time.perf_counter() - start,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    atomic_write_text(json.dumps(finite(report), indent=2, default=str, allow_nan=False), root / "report.json")
    write_report(report, root, root / "report.html")


def study_result(state: StudyState, ctx: LabContext, shared: int = 0) -> dict[str, Any]:
    """The result of a study whose runs are done: its numbers collected and judged, the figures as PNG bytes,
    and how many runs it used (planned, computed here, read from the run cache, shared with other studies).
    A study whose run failed twice, or whose `plan`, `collect` or `judge` raised, gets an error result."""
    study = state.study
    runs = {
        "planned": len(state.runs),
        "computed": state.computed,
        "cached": state.cached,
        "shared": shared,
        "stages": state.stages,
        # the seconds of each stage's runs (shared ones in every study that asked), for benchmarks/lab_scaling.py
        "seconds_by_stage": [
            [round(seconds, 3) for n, seconds in state.run_seconds.items() if state.stage_of.get(n) == k]
            for k in range(1, state.stages + 1)
        ],
    }
    base = {
        "id": study.id,
        "section": study.section,
        "claim": study.claim,
        "note": study.note,
        "literature": study.literature,
        "method": study.method,
        "rule": study.rule,
        "form": study.form,
        "profile": ctx.profile.name,
        "runs": runs,
        "seconds": state.seconds,
    }
    try:
        if state.error is not None:
            raise RuntimeError(state.error)
        m = study.collect(ctx, state.results)
        verdict = study.judge(m.numbers)
        figures = [(caption, png(fig)) for caption, fig in m.figures]
    except UserError:
        raise
    except Exception as e:
        trace = state.trace if state.error is not None else traceback.format_exc()
        reason = state.error if state.error is not None else f"{type(e).__name__}: {e}"
        return {
            **base,
            "verdict": "error",
            "key_number": "",
            "reason": reason,
            "traceback": trace,
            "figures": [],
            "numbers": {},
        }
    return {
        **base,
        "verdict": verdict.verdict,
        "key_number": verdict.key_number,
        "reason": verdict.reason,
        "test": verdict.test,
        "comparisons": verdict.comparisons,
        "checks": verdict.checks,
        "numbers": m.numbers,
        "seeds": list(m.seeds),
        "figures": figures,
    }


def estimate(profile: Profile, only: str | None = None, workers: int = 1) -> dict[str, Any]:
    """What a lab of `profile` is expected to cost, from the runs its studies declare and the cost model
    (`costs.Costs`), without running anything: per study its first stage's runs and the seconds of all its
    stages (later stages from its measured total), and the lab's wall time on `workers` (runs longest first;
    a run two studies declare counted once)."""
    from dlbasic.lab.costs import eta
    from dlbasic.lab.runs import run_key

    ctx, model, identity = LabContext(profile), Costs(profile), lab_identity(profile)
    seen: set[str] = set()
    studies, pending, runs_only = {}, [], []
    for sid in select(only):
        study = get_study(sid)
        runs = study.plan(ctx, {})
        unique = [r for r in runs if run_key(r, identity) not in seen]
        seen.update(run_key(r, identity) for r in runs)
        declared = [model.declared(study, r) for r in unique]
        later = max(0.0, model.study_total(study) - sum(model.declared(study, r) for r in runs))
        studies[sid] = {"runs": len(runs), "shared": len(runs) - len(unique), "seconds": sum(declared) + later}
        pending += declared + ([later] if later else [])
        runs_only += declared
    pending.sort(reverse=True)
    return {
        "studies": studies,
        "core_seconds": sum(pending),
        "longest": max(runs_only, default=0.0),  # of the runs declared (later stages not yet split into runs)
        "workers": workers,
        "wall_seconds": eta([], pending, workers),
    }
