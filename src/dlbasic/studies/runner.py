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
from dlbasic.errors import UserError, did_you_mean
from dlbasic.studies.context import LabContext, Profile
from dlbasic.studies.registry import list_studies, run_study

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
    out = root / "results" / f"{result['id']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=float, allow_nan=False))
    return result


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
    """Run the selected studies into `root` and write report.html and report.json there."""
    from dlbasic.report.html import write_report

    ids = select(only)
    root.mkdir(parents=True, exist_ok=True)
    ctx = LabContext(profile, root)
    results, start = [], time.perf_counter()
    for i, sid in enumerate(ids, 1):
        saved = root / "results" / f"{sid}.json"
        if resume and saved.is_file():
            results.append(json.loads(saved.read_text()))
            echo(f"[{i}/{len(ids)}] {sid}: done before ({results[-1]['verdict']})")
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
    (root / "report.json").write_text(json.dumps(finite(report), indent=2, default=str, allow_nan=False))
    write_report(report, root, root / "report.html")
    return results
