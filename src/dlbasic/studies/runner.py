"""Run the lab: every study (or a subset), results saved one by one so `--resume` skips finished
ones, then the HTML and JSON report."""

from __future__ import annotations

import json
import math
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from dlbasic import __version__
from dlbasic.errors import UserError, check, did_you_mean
from dlbasic.studies.base import VERDICTS
from dlbasic.studies.context import LabContext, Profile, problem, warn
from dlbasic.studies.registry import list_studies, run_study
from dlbasic.training.checkpoint import atomic_write_text

# Every claim id of the notebook's claims table, in the notebook's order.
CLAIM_IDS = (
    "generalization", "cross-validation", "bias-variance", "bagging", "boosting", "gd-variants", "batch-size",
    "learning-rate", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop-adam", "early-stopping",
    "weight-decay", "augmentation", "noise", "mixing", "cutmix-ratio", "dropout", "batch-norm", "group-norm",
    "conv-shapes", "one-by-one", "relu", "vgg-3x3", "inception", "resnet", "bottleneck", "densenet", "fcn",
    "deconv", "detection-speed",
)


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
    """Figures to PNG files, the rest to results/<id>.json; returns the JSON-able result."""
    figures = []
    for k, (caption, fig) in enumerate(result.pop("figures")):
        path = root / "figures" / f"{result['id']}-{k}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, bbox_inches="tight")
        import matplotlib.pyplot as plt

        plt.close(fig)
        figures.append({"caption": caption, "path": str(path.relative_to(root))})
    result["figures"] = figures
    result = finite(result)
    text = json.dumps(result, indent=2, default=float, allow_nan=False)
    atomic_write_text(text, root / "results" / f"{result['id']}.json")
    return result


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
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        rev = None
    import numpy
    import sklearn

    return {"dlbasic": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "scikit-learn": sklearn.__version__, "python": sys.version.split()[0],
            "platform": platform.platform(), "cpu_threads": torch.get_num_threads(), "git_revision": rev}


def run_lab(root: Path, profile: Profile, only: str | None = None, resume: bool = False,
            echo=print) -> list[dict[str, Any]]:
    """Run the selected studies into `root` and write report.html and report.json there.

    With `resume`, a study whose result is saved in `root/results` is kept; an unreadable saved result
    is reported (a warning naming the file) and the study runs again.
    """
    from dlbasic.report.html import write_report

    ids = select(only)
    root.mkdir(parents=True, exist_ok=True)
    ctx = LabContext(profile, root)
    results, start = [], time.perf_counter()
    for i, sid in enumerate(ids, 1):
        saved = root / "results" / f"{sid}.json"
        kept = load_result(saved, sid, root) if resume and saved.exists() else None
        if kept is not None:
            results.append(kept)
            echo(f"[{i}/{len(ids)}] {sid}: done before ({kept['verdict']})")
            continue
        echo(f"[{i}/{len(ids)}] {sid}: running ... ({time.perf_counter() - start:.0f} s so far; "
             f"left: {', '.join(ids[i:]) or 'none'})")
        try:
            result = _save_result(run_study(sid, profile.name, ctx), root)
        except UserError:
            raise
        except Exception as e:  # one broken study must not lose the others' results
            result = {"id": sid, "verdict": "error", "key_number": "", "reason": f"{type(e).__name__}: {e}",
                      "traceback": traceback.format_exc(), "figures": [], "numbers": {}, "seconds": 0.0}
            echo(traceback.format_exc())
        results.append(result)
        echo(f"      {sid}: {result['verdict']} ({result['key_number']}) in {result['seconds']:.0f} s")
    missing = [c for c in CLAIM_IDS if c not in {r["id"] for r in results}] if not only else []
    report = {"profile": profile.__dict__, "environment": environment(), "results": results,
              "missing_claims": missing, "seconds": time.perf_counter() - start,
              "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    atomic_write_text(json.dumps(finite(report), indent=2, default=str, allow_nan=False), root / "report.json")
    write_report(report, root, root / "report.html")
    return results
