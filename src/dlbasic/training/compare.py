"""Train variants of one config that differ in a single field (`--vary optimizer=sgd,adam`), over seeds, and
put their validation curves side by side, against epochs and against training seconds.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlbasic.config import TrainConfig, from_dict
from dlbasic.errors import UserError, check
from dlbasic.overrides import choices

CURVES = ("val_accuracy", "val_loss", "train_loss")


def parse_vary(text: str, base: TrainConfig | None = None) -> tuple[str, list[Any]]:
    """'optimizer=sgd,adam' -> ('optimizer', ['sgd', 'adam']), each value typed like the config field.

    Values are read by `overrides.choices` (`1e-3` is a float, `full` a string) and checked against the
    field's type, so `--vary lr=0.1,x` fails before anything trains. Dashes in the key become underscores.
    """
    try:
        key, raw = choices(text)
    except UserError as e:
        raise UserError(f"--vary: {e.message}", "e.g. --vary optimizer=sgd,adam") from None
    typed = [getattr(from_dict({key: v}, base), key) for v in raw]
    check(len(set(map(repr, typed))) == len(typed), f"--vary lists a value twice: {text.partition('=')[2]}")
    return key, typed


@dataclass
class CompareRun:
    """One (value, seed) run: its final numbers and per-epoch curves (seconds are cumulative training time)."""

    value: Any
    seed: int
    test_accuracy: float
    val_accuracy: float
    seconds: float
    curves: dict[str, list[float]]  # epoch, seconds, val_accuracy, val_loss, train_loss


@dataclass
class Comparison:
    """Every run of a `compare`: the varied `key`, its `values`, the `seeds`, the base config (a dict), the runs."""

    key: str
    values: list[Any]
    seeds: list[int]
    base: dict[str, Any]
    runs: list[CompareRun] = field(default_factory=list)

    def of(self, value: Any) -> list[CompareRun]:
        """The runs (one per seed) with `key` set to `value`."""
        return [r for r in self.runs if r.value == value]

    def rows(self) -> list[dict[str, Any]]:
        """One row per value: mean and std over seeds of the final numbers."""
        out = []
        for v in self.values:
            runs = self.of(v)
            row: dict[str, Any] = {self.key: v, "runs": len(runs)}
            for k in ("val_accuracy", "test_accuracy", "seconds"):
                xs = [getattr(r, k) for r in runs]
                row[k] = statistics.fmean(xs)
                row[f"{k}_std"] = statistics.stdev(xs) if len(xs) > 1 else 0.0
            row["val_loss"] = statistics.fmean(r.curves["val_loss"][-1] for r in runs)
            out.append(row)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (compare.json): the settings, the per-value rows and every run's curves."""
        return {
            "key": self.key,
            "values": self.values,
            "seeds": self.seeds,
            "base": self.base,
            "rows": self.rows(),
            "runs": [dataclasses.asdict(r) for r in self.runs],
        }


def compare(
    base: TrainConfig,
    key: str,
    values: Sequence[Any],
    seeds: Sequence[int] = (0,),
    train_fn: Callable[[TrainConfig], dict[str, Any]] | None = None,
    on_run: Callable[[CompareRun], None] | None = None,
    jobs: int = 1,
) -> Comparison:
    """Train `base` with `key` set to each value, once per seed; returns every run's curves.

    Args:
        train_fn: `cfg -> summary` (default: `dlbasic.training.run.train` without a run folder).
        on_run: called after each finished run (progress printing).
        jobs: runs at a time, each in its own worker process (`dlbasic.parallel`; needs the default `train_fn`).
    """
    from dlbasic.parallel import run_all

    check(len(values) >= 1 and len(seeds) >= 1, "compare needs at least one value and one seed")
    if key == "seed":
        raise UserError("--vary seed is what --seeds does", "use --seeds 0,1,2")
    check(jobs == 1 or train_fn is None, "compare runs a custom train_fn in this process only (jobs=1)")
    result = Comparison(key, list(values), list(seeds), base.to_dict())
    grid = [(v, seed) for v in values for seed in seeds]
    runs: list[CompareRun | None] = [None] * len(grid)

    def finished(i: int, summary: dict[str, Any]) -> None:
        runs[i] = compare_run(*grid[i], summary)
        if on_run is not None:
            on_run(runs[i])

    configs = [(from_dict({key: v, "seed": seed}, base),) for v, seed in grid]
    run_all(train_fn or train_summary, configs, jobs=jobs, threads=base.threads, on_result=finished)
    result.runs = [r for r in runs if r is not None]
    return result


def train_summary(cfg: TrainConfig) -> dict[str, Any]:
    """What `compare` keeps of a `dlbasic.training.run.train` run without a run folder."""
    from dlbasic.training.run import train

    s = train(cfg, None, progress=False)
    return {k: s[k] for k in ("history", "test_accuracy", "val_accuracy", "seconds")}


def compare_run(value: Any, seed: int, s: dict[str, Any]) -> CompareRun:
    """A `CompareRun` from a training summary: final numbers and per-epoch curves (NaN for missing or infinite ones)."""
    h = s["history"]
    seconds = [sum(e["train_seconds"] for e in h[: i + 1]) for i in range(len(h))]
    curves = {"epoch": [e["epoch"] for e in h], "seconds": seconds, **{k: [_num(e.get(k)) for e in h] for k in CURVES}}
    return CompareRun(value, seed, _num(s["test_accuracy"]), _num(s["val_accuracy"]), _num(s["seconds"]), curves)


def _num(x: Any) -> float:
    return float(x) if x is not None and math.isfinite(float(x)) else math.nan


def _mean_curve(runs: list[CompareRun], name: str) -> list[float]:
    """Mean over seeds, epoch by epoch, over the epochs every run has (early stopping may shorten some)."""
    n = min(len(r.curves[name]) for r in runs)
    return [statistics.fmean(r.curves[name][i] for r in runs) for i in range(n)]


def plot_comparison(result: Comparison):
    """Validation accuracy and loss against epochs (top) and training seconds (bottom), mean over seeds."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    for v in result.values:
        runs = result.of(v)
        epochs, seconds = _mean_curve(runs, "epoch"), _mean_curve(runs, "seconds")
        for col, metric in enumerate(("val_accuracy", "val_loss")):
            y = _mean_curve(runs, metric)
            axes[0, col].plot(epochs, y, marker="o", ms=3, label=f"{result.key}={v}")
            axes[1, col].plot(seconds, y, marker="o", ms=3, label=f"{result.key}={v}")
    for row, xlabel in enumerate(("epoch", "training seconds (mean over seeds)")):
        for col, ylabel in enumerate(("validation accuracy", "validation loss")):
            ax = axes[row, col]
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
    axes[0, 1].set_yscale("log")
    axes[1, 1].set_yscale("log")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(
        f"{result.base['model']} on {result.base['data']}: varying {result.key} "
        f"(mean of seeds {', '.join(map(str, result.seeds))})"
    )
    fig.tight_layout()
    return fig


def markdown_table(result: Comparison) -> str:
    """A Markdown table, one row per value: val/test accuracy and seconds as mean ± std over seeds, final val loss."""
    lines = [
        f"| {result.key} | val accuracy | test accuracy | final val loss | training seconds |",
        "|---|---|---|---|---|",
    ]
    for r in result.rows():
        lines.append(
            f"| {r[result.key]} | {r['val_accuracy']:.4f} ± {r['val_accuracy_std']:.4f} | "
            f"{r['test_accuracy']:.4f} ± {r['test_accuracy_std']:.4f} | {r['val_loss']:.4f} | "
            f"{r['seconds']:.1f} ± {r['seconds_std']:.1f} |"
        )
    return "\n".join(lines)


def write_comparison(result: Comparison, out: str | Path) -> list[Path]:
    """compare.png, compare.md and compare.json (every run's curves) in `out`."""
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig = plot_comparison(result)
    fig.savefig(out / "compare.png", dpi=110)
    plt.close(fig)
    (out / "compare.md").write_text(markdown_table(result) + "\n")
    text = json.dumps(result.to_dict(), indent=2, default=str).replace("NaN", "null")
    (out / "compare.json").write_text(text + "\n")
    return [out / "compare.png", out / "compare.md", out / "compare.json"]
