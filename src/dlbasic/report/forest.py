r"""The report's forest plots: one figure per family of claims, a row per decisive comparison, its mean
difference and 95 % interval in units of its margin against the margin band, coloured by outcome.

A comparison's d = A − B (positive favours A) is divided by its margin m (CLAIMS.md v0.3: accuracy 0.005,
ECE 0.01, ratios log 1.1), so rows of every scale share one axis: the band (−1, +1) is "smaller than a
practitioner would act on", and the outcome can be read off the interval,

.. math:: \text{A better: } \mathrm{lo}/m > 1, \quad \text{B better: } \mathrm{hi}/m < -1, \quad
   \text{equivalent: } -1 < \mathrm{lo}/m,\ \mathrm{hi}/m < 1, \quad \text{non-inferior: } \mathrm{lo}/m > -1.

Effects beyond the axis are drawn to its edge with an arrow and their values printed beside it.

>>> r = rows([{"id": "dropout", "comparisons": [{"label": "p 0.5 vs 0", "outcome": "A better",
...     "verdict": "supported", "in_margins": {"mean": 24.0, "ci": [16.0, 32.0]}, "seeds": 3, "look": 1,
...     "schedule": [3, 6]}]}], "regularization")
>>> r[0].label, r[0].clipped(axis_limit(r)), look_text(3, 1, [3, 6], "supported")
('dropout: p 0.5 vs 0', True, 'decided at look 1 of 2: 3 seeds')
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from dlbasic.claims import CLAIM_IDS, FAMILIES, FAMILY_GUIDES

VERDICT_COLORS = {
    "supported": "#1a7f37",
    "contradicted": "#cf222e",
    "inconclusive": "#9a6700",
    "checked": "#0969da",
    "failed": "#8250df",
    "error": "#6e7781",
}
OUTCOME_COLORS = {  # Okabe & Ito's palette, told apart with any colour vision
    "A better": "#0072b2",
    "B better": "#d55e00",
    "equivalent": "#cc79a7",
    "non-inferior": "#009e73",
    "inconclusive": "#8c8c8c",
}
GLYPHS = {"supported": "✓", "contradicted": "✗", "inconclusive": "?"}
FAMILY_ORDER = tuple(FAMILY_GUIDES)  # evaluation, optimization, regularization, architectures
LIMITS = (3.0, 8.0)  # the axis reaches at least ±3 margins, at most ±8: beyond, an effect is clipped
XLABEL = "difference in margins (accuracy 0.005, ECE 0.01, ratios 10 %)"
WIDTH = 9.6  # inches: 960 pixels at 100 dpi, the report's width
LABEL_WIDTH, LABEL_LINES = 46, 2  # a row's label wraps at 46 characters, cut after 2 lines (the section
# below the table holds every label whole)


@dataclass(frozen=True)
class Row:
    """One comparison as a row of a forest plot: its label ("claim-id: label"), outcome, the claim part's
    verdict, mean and interval in margins (None where fewer than 2 seeds gave none) and seeds by look."""

    claim: str
    label: str
    outcome: str
    verdict: str
    mean: float | None
    lo: float | None
    hi: float | None
    seeds: int
    look: int
    looks: int

    @property
    def color(self) -> str:
        """The colour of its outcome."""
        return OUTCOME_COLORS.get(self.outcome, OUTCOME_COLORS["inconclusive"])

    def clipped(self, limit: float) -> bool:
        """Whether the mean or an end of the interval lies beyond ±`limit`."""
        return any(v is not None and abs(v) > limit for v in (self.mean, self.lo, self.hi))


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def in_margins(c: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    """A comparison's mean and interval in units of its margin (from `in_margins`, else mean/margin)."""
    scaled = c.get("in_margins")
    if isinstance(scaled, dict):
        lo, hi, *_ = [*(scaled.get("ci") or []), None, None]
        return _number(scaled.get("mean")), _number(lo), _number(hi)
    margin = _number(c.get("margin"))
    if not margin:
        return None, None, None
    lo, hi, *_ = [*(c.get("ci") or []), None, None]
    values = [_number(v) for v in (c.get("mean"), lo, hi)]
    return tuple(None if v is None else v / margin for v in values)  # type: ignore[return-value]


def look_text(seeds: int, look: int, schedule: Sequence[int], verdict: str) -> str:
    """How many seeds a comparison used and at which look it stopped: "decided at look 2 of 3: 6 seeds";
    "3 seeds, one look" without stages; "undecided at the last look" or "stopped at look 1 of 2" (another
    part decided the claim) for an inconclusive part."""
    n = f"{seeds} seed{'s' * (seeds != 1)}"
    looks = len(schedule)
    if looks <= 1:
        return f"{n}, one look"
    if verdict != "inconclusive":
        return f"decided at look {look} of {looks}: {n}"
    if look >= looks:
        return f"undecided at the last look ({look} of {looks}): {n}"
    return f"stopped at look {look} of {looks}: {n}"


def order(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Results in the notebook's order (CLAIM_IDS); ids it does not name come last, as given."""
    rank = {c: k for k, c in enumerate(CLAIM_IDS)}
    return sorted(results, key=lambda r: rank.get(r.get("id"), len(rank)))


def rows(results: Sequence[dict[str, Any]], family: str) -> list[Row]:
    """The rows of `family`'s forest plot: every comparison of its claims, in the notebook's order."""
    out = []
    for r in order(results):
        if FAMILIES.get(r.get("id")) != family:
            continue
        for c in r.get("comparisons") or []:
            schedule = c.get("schedule") or [c.get("seeds", 0)]
            out.append(
                Row(
                    r["id"],
                    f"{r['id']}: {c.get('label', '')}",
                    c.get("outcome", "inconclusive"),
                    c.get("verdict", "inconclusive"),
                    *in_margins(c),
                    int(c.get("seeds") or 0),
                    int(c.get("look") or 1),
                    len(schedule),
                )
            )
    return out


def axis_limit(all_rows: Sequence[Row]) -> float:
    """The half-width of the axis that every family's figure shares: the largest |value| in margins, rounded
    up, within LIMITS."""
    values = [abs(v) for r in all_rows for v in (r.mean, r.lo, r.hi) if v is not None]
    return float(min(LIMITS[1], max(LIMITS[0], math.ceil(max(values, default=0) * 1.05))))


def _wrap(text: str) -> str:
    lines = textwrap.wrap(text, LABEL_WIDTH)
    if len(lines) > LABEL_LINES:
        lines = [*lines[: LABEL_LINES - 1], lines[LABEL_LINES - 1][: LABEL_WIDTH - 1].rstrip() + "…"]
    return "\n".join(lines)


def _draw_row(ax: Any, y: float, row: Row, limit: float) -> None:
    """A row: the interval as a line, the mean as a dot; values beyond the axis end at its edge in an arrow
    with the value printed beside it."""
    edge = limit * 0.985
    clip = lambda v: max(-edge, min(edge, v))  # noqa: E731
    if row.lo is not None and row.hi is not None:
        ax.plot([clip(row.lo), clip(row.hi)], [y, y], color=row.color, lw=2.2, solid_capstyle="butt", gid="interval")
        for end in (row.lo, row.hi):
            if abs(end) > limit:
                ax.plot(clip(end), y, marker=">" if end > 0 else "<", color=row.color, ms=7, gid="edge")
    if row.mean is not None:
        outside = abs(row.mean) > limit
        marker, gid = ((">" if row.mean > 0 else "<"), "edge") if outside else ("o", "mean")
        ax.plot(clip(row.mean), y, marker=marker, color=row.color, ms=7, gid=gid)
    if row.clipped(limit):
        text = f"{row.mean:+.1f}" if row.mean is not None else ""
        if row.lo is not None and row.hi is not None:
            text += f" [{row.lo:+.1f}, {row.hi:+.1f}]"
        right = (row.mean if row.mean is not None else row.hi or 0) > 0
        x = edge if right else -edge
        ax.text(x, y - 0.42, text, ha="right" if right else "left", va="center", fontsize=7, color=row.color)
    elif row.mean is None:
        ax.text(0, y, "fewer than 2 seeds: no interval", ha="center", va="center", fontsize=7, color="#57606a")


def forest(family_rows: Sequence[Row], limit: float) -> Any:
    """A forest plot of `family_rows` on the axis ±`limit` (margins): the margin band shaded, a line at 0,
    rows top to bottom; each row's part verdict and seeds by look on its right."""
    n = max(1, len(family_rows))
    height = 0.95 + 0.4 * n  # inches: a row 0.4, the legend above and the axis below 0.95
    fig, ax = plt.subplots(figsize=(WIDTH, height))
    fig.subplots_adjust(left=0.3, right=0.78, top=1 - 0.35 / height, bottom=0.55 / height)
    ax.axvspan(-1, 1, color="#d0d7de", alpha=0.55, lw=0)
    ax.axvline(0, color="#57606a", lw=0.8)
    ys = [-k for k in range(len(family_rows))]
    for k, (y, row) in enumerate(zip(ys, family_rows)):
        if k and row.claim != family_rows[k - 1].claim:
            ax.axhline(y + 0.5, color="#d0d7de", lw=0.6)
        _draw_row(ax, y, row, limit)
        glyph = GLYPHS.get(row.verdict, "?")
        ax.text(
            1.03,
            y,
            f"{glyph} {row.outcome} · {row.seeds} seeds, look {row.look}/{row.looks}",
            transform=ax.get_yaxis_transform(),
            va="center",
            fontsize=7.5,
            color=VERDICT_COLORS.get(row.verdict, "#57606a"),
        )
    ax.set_yticks(ys, [_wrap(r.label) for r in family_rows], fontsize=8)
    ax.set_ylim(-n + 0.4, 0.6)
    ax.set_xlim(-limit, limit)
    ax.set_xlabel(f"← B better     {XLABEL}     A better →", fontsize=8.5)
    ax.tick_params(axis="x", labelsize=8)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", alpha=0.25)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    present = [o for o in OUTCOME_COLORS if any(r.outcome == o for r in family_rows)]
    handles = [Line2D([], [], color=OUTCOME_COLORS[o], marker="o", lw=2.2, label=o) for o in present]
    handles.append(Patch(color="#d0d7de", label="within ±1 margin"))
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=len(handles), frameon=False, fontsize=8)
    return fig


def family_figures(results: Sequence[dict[str, Any]]) -> list[tuple[str, list[Row], bytes]]:
    """(family, its rows, the forest plot as PNG) for each family with a comparison, in FAMILY_ORDER, all on
    one axis."""
    by_family = {f: rows(results, f) for f in FAMILY_ORDER}
    limit = axis_limit([r for rs in by_family.values() for r in rs])
    return [(f, rs, png(forest(rs, limit))) for f, rs in by_family.items() if rs]


def png(fig: Any) -> bytes:
    """The figure as PNG at 100 dpi, its full size (not cropped to its content, so that every family's axis
    lies at the same place on the page); closed afterwards."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=100)
    finally:
        plt.close(fig)
    return buffer.getvalue()
