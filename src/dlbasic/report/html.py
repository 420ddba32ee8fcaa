"""The lab report: one self-contained HTML page (figures embedded as base64 PNG, no external files).

From the top: the verdict counts (empirical claims, then structural ones), a forest plot per family of claims
(`forest`), the structural checks in a list of their own, the table of the empirical claims (verdict, key
number, each comparison's outcome, interval, seeds and look), then a section per claim. A report.json of an
older lab, without comparisons, checks or forms, renders without the figures and the list.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from pathlib import Path
from typing import Any

from dlbasic.claims import GUIDES
from dlbasic.report.forest import OUTCOME_COLORS, VERDICT_COLORS, family_figures, look_text

COLORS = VERDICT_COLORS

STYLE = """
body { font: 15px/1.55 system-ui, sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em; color: #1f2328; }
h1 { margin-bottom: .2em; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; width: 100%; } th, td { border: 1px solid #d0d7de; padding: 4px 8px;
  text-align: left; vertical-align: top; } th { background: #f6f8fa; }
.v { color: #fff; border-radius: 10px; padding: 1px 8px; font-size: 13px; white-space: nowrap; }
.note { background: #f6f8fa; border-left: 4px solid #8c959f; padding: .4em .8em; }
.lit { background: #fff8c5; border-left: 4px solid #d4a72c; padding: .4em .8em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #d0d7de; }
pre { background: #f6f8fa; padding: .6em; overflow-x: auto; font-size: 12px; }
.meta { color: #57606a; font-size: 13px; }
.o { border: 1.5px solid; border-radius: 10px; padding: 0 6px; font-size: 12px; white-space: nowrap; }
.cmp { font-size: 13px; margin: 0; padding-left: 1.1em; } td .cmp { list-style: none; padding: 0; }
.checks { font-size: 14px; padding-left: 1.1em; } .checks li { margin: .15em 0; }
.yes { color: #1a7f37; font-weight: bold; } .no { color: #cf222e; font-weight: bold; }
figure.forest { margin: .6em 0 1.2em; } figure.forest img { border: none; }
h3 { margin: 1.2em 0 .2em; }
"""


def docs_url(page: Path) -> str:
    """The documentation site's address as a link from the report page `page` needs it, ending in "/".

    `$DLBASIC_DOCS_URL` when set (a hosted copy of the site); else the site/ folder that `make docs` builds in
    this source tree, relative to `page`.
    """
    url = os.environ.get("DLBASIC_DOCS_URL", "").strip()
    if url:
        return url.rstrip("/") + "/"
    site = Path(__file__).resolve().parents[3] / "site"
    try:
        return Path(os.path.relpath(site, Path(page).resolve().parent)).as_posix() + "/"
    except ValueError:  # another drive
        return site.as_uri() + "/"


def badge(verdict: str) -> str:
    """The verdict (supported, contradicted, inconclusive, error) as an HTML label coloured by its meaning."""
    return f'<span class="v" style="background:{COLORS.get(verdict, "#6e7781")}">{html.escape(verdict)}</span>'


def _image(root: Path, rel: str) -> str:
    data = base64.b64encode((root / rel).read_bytes()).decode()
    return f"data:image/png;base64,{data}"


def section(r: dict[str, Any], root: Path, docs: str = "") -> str:
    """One claim's section; `docs` is the documentation site's address, for the link to the claim's guide."""
    e = html.escape
    parts = [f'<h2 id="{e(r["id"])}">{e(r["id"])} {badge(r["verdict"])}</h2>']
    if r["id"] in GUIDES:
        parts.append(
            f'<p class="meta"><a href="{e(docs + GUIDES[r["id"]])}#{e(r["id"])}">the guide to this claim</a></p>'
        )
    if r.get("section"):
        parts.append(
            f'<p class="meta">notebook section: {e(r["section"])} · profile {e(str(r.get("profile", "")))}'
            + (f" · form: {e(r['form'])}" if r.get("form") else "")
            + f" · seeds {e(str(r.get('seeds', [])))} · {r.get('seconds', 0):.0f} s{runs_used(r)}</p>"
        )
    if r.get("note"):
        parts.append(f'<p class="note" lang="ko">{e(r["note"])}</p>')
    if r.get("claim"):
        parts.append(f"<p><b>Claim.</b> {e(r['claim'])}</p>")
    if r.get("literature"):
        parts.append(f'<p class="lit"><b>Literature.</b> {e(r["literature"])}</p>')
    if r.get("method"):
        parts.append(f"<p><b>Method.</b> {e(r['method'])}</p>")
    if r.get("rule"):
        parts.append(f"<p><b>Verdict rule (fixed before the run).</b> {e(r['rule'])}</p>")
    parts.append(
        f"<p><b>Verdict.</b> {badge(r['verdict'])} {e(r.get('key_number', ''))} — {e(r.get('reason', ''))}</p>"
    )
    if r.get("comparisons"):
        parts.append("<p><b>Comparisons.</b></p>" + comparison_list(r["comparisons"]))
    elif r.get("test"):
        parts.append(f"<p><b>Test.</b> {e(r['test'])}</p>")
    if r.get("checks"):
        parts.append("<p><b>Exact checks.</b></p>" + check_list(r["checks"]))
    for fig in r.get("figures", []):
        parts.append(
            f'<figure><img src="{_image(root, fig["path"])}" alt="{e(fig["caption"])}">'
            f"<figcaption>{e(fig['caption'])}</figcaption></figure>"
        )
    if r.get("numbers"):
        parts.append(
            "<details><summary>all numbers</summary><pre>"
            f"{e(json.dumps(r['numbers'], indent=2, default=str))}</pre></details>"
        )
    if r.get("traceback"):
        parts.append(f"<details open><summary>error</summary><pre>{e(r['traceback'])}</pre></details>")
    return "\n".join(parts)


def runs_used(r: dict[str, Any]) -> str:
    """' · 12 runs (3 shared with other studies, 2 stages)' from a result's `runs`; '' without them."""
    runs = r.get("runs")
    if not isinstance(runs, dict) or not runs.get("planned"):
        return ""
    n, shared, stages = runs["planned"], runs.get("shared", 0), runs.get("stages", 1)
    extra = [f"{shared} shared with other studies"] if shared else []
    extra += [f"{stages} stages"] if stages > 1 else []
    return f" · {n} run{'s' * (n != 1)}" + (f" ({', '.join(extra)})" if extra else "")


def pill(outcome: str) -> str:
    """A comparison's outcome (A better, B better, equivalent, non-inferior, inconclusive) in its plot colour."""
    color = OUTCOME_COLORS.get(outcome, OUTCOME_COLORS["inconclusive"])
    return f'<span class="o" style="color:{color}">{html.escape(outcome)}</span>'


def _pair(values: Any) -> tuple[Any, Any]:
    lo, hi, *_ = [*(values or []), None, None]
    return lo, hi


def _finite(*values: Any) -> bool:
    return all(isinstance(v, int | float) and math.isfinite(v) for v in values)


def effect_text(c: dict[str, Any]) -> str:
    """The mean difference and its 95 % interval in the measurement's units: points of accuracy, ECE, a ratio
    (exp of the log difference), or plain units; "no interval" with fewer than 2 seeds."""
    mean, (lo, hi), scale = c.get("mean"), _pair(c.get("ci")), c.get("scale", "units")
    if not _finite(mean, lo, hi):
        return "no interval (fewer than 2 seeds)"
    if scale == "accuracy":
        return f"{100 * mean:+.2f} points [{100 * lo:+.2f}, {100 * hi:+.2f}]"
    if scale == "log ratio":  # d = log A − log B (or log B − log A when lower is better): a factor for A
        side, sign = ("A", 1) if mean >= 0 else ("B", -1)
        low, high = sorted(math.exp(sign * v) for v in (lo, hi))
        return f"ratio in {side}'s favour ×{math.exp(sign * mean):.3g} [×{low:.3g}, ×{high:.3g}]"
    return f"{mean:+.3g} [{lo:+.3g}, {hi:+.3g}]"


def margin_text(c: dict[str, Any]) -> str:
    """The comparison's margin as the report's reader knows it: ±0.5 point, ±10 %, ±0.01."""
    m, scale = c.get("margin"), c.get("scale", "units")
    if not _finite(m):
        return ""
    if scale == "accuracy":
        return f"margin ±{100 * m:.2g} point"
    if scale == "log ratio":
        return f"margin ±{100 * (math.exp(m) - 1):.0f} %"
    return f"margin ±{m:.3g}"


def seeds_text(c: dict[str, Any]) -> str:
    """`forest.look_text` of a comparison as report.json holds it."""
    seeds = int(c.get("seeds") or 0)
    return look_text(seeds, int(c.get("look") or 1), c.get("schedule") or [seeds], c.get("verdict", ""))


def comparison_list(comparisons: list[dict[str, Any]]) -> str:
    """A claim's comparisons, one item each: what is compared, the outcome, the effect with its interval in
    units and in margins, the seeds and the look it stopped at, and what the outcome means for the claim."""
    e = html.escape
    items = []
    for c in comparisons:
        scaled = c.get("in_margins") or {}
        lo, hi = _pair(scaled.get("ci"))
        margins = (
            f" = {scaled['mean']:+.2f} [{lo:+.2f}, {hi:+.2f}] margins" if _finite(scaled.get("mean"), lo, hi) else ""
        )
        items.append(
            f"<li><b>{e(c.get('label', ''))}</b> ({e(c.get('form', ''))}): {pill(c.get('outcome', ''))} "
            f"{e(effect_text(c))}{e(margins)}, {e(margin_text(c))} · {e(seeds_text(c))} → "
            f"{badge(c.get('verdict', 'inconclusive'))}</li>"
        )
    return '<ul class="cmp">' + "".join(items) + "</ul>"


def check_list(checks: list[dict[str, Any]]) -> str:
    """Exact checks, a tick or a cross each."""
    return '<ul class="checks">' + "".join(f"<li>{_tick(c)}</li>" for c in checks) + "</ul>"


def _tick(c: dict[str, Any]) -> str:
    mark = '<span class="yes">✓</span>' if c.get("holds") else '<span class="no">✗</span>'
    return f"{mark} {html.escape(str(c.get('check', '')))}"


def structural(r: dict[str, Any]) -> bool:
    """Whether a result belongs in the structural list alone: its verdict is checked or failed, with no
    comparison (a claim with comparisons stays in the main table; its checks are listed too)."""
    return r.get("verdict") in ("checked", "failed") and not r.get("comparisons")


def checks_section(results: list[dict[str, Any]]) -> str:
    """The structural checks apart from the empirical verdicts: per claim, checked or failed, each check with
    a tick or a cross, or the key number of a structural claim that lists none ('' when no result has checks
    or a structural verdict: an older report)."""
    e = html.escape
    items = []
    for r in results:
        checks = r.get("checks") or []
        if not checks and not structural(r):
            continue
        status = ("checked" if all(c.get("holds") for c in checks) else "failed") if checks else r["verdict"]
        what = " · ".join(_tick(c) for c in checks) if checks else e(r.get("key_number", ""))
        items.append(f'<li><a href="#{e(r["id"])}">{e(r["id"])}</a> {badge(status)} {what}</li>')
    if not items:
        return ""
    return (
        '<h2 id="checks">Structural checks</h2>\n<p class="meta">Exact shapes, counts and identities that hold by '
        "construction: checked, never put through a t-test.</p>\n"
        f'<ul class="checks">{"".join(items)}</ul>'
    )


def counts_line(results: list[dict[str, Any]]) -> str:
    """The verdict counts: the empirical ones, then the structural ones (checked, failed), then errors."""
    n = {v: sum(r.get("verdict") == v for r in results) for v in COLORS}
    empirical = " · ".join(f"{badge(v)} {n[v]}" for v in ("supported", "contradicted", "inconclusive"))
    line = f"empirical claims: {empirical}"
    if n["checked"] or n["failed"]:
        line += f"; structural claims: {badge('checked')} {n['checked']} · {badge('failed')} {n['failed']}"
    if n["error"]:
        line += f"; {badge('error')} {n['error']}"
    return f'<p id="counts">{line}</p>'


def glance(results: list[dict[str, Any]]) -> str:
    """One forest plot per family of claims, each comparison's effect and interval against the margin band
    ('' when no result has comparisons)."""
    figures = family_figures(results)
    if not figures:
        return ""
    parts = [
        '<h2 id="glance">At a glance</h2>\n<p class="meta">Each decisive comparison: the mean difference d = A − B '
        "(positive favours A) and its 95 % interval, in units of its margin; the grey band is ±1 margin, smaller "
        "than a practitioner would act on. Colour: the outcome. Right: what it means for the claim (✓ supported, "
        "✗ contradicted, ? inconclusive), the seeds and the look it stopped at.</p>"
    ]
    for family, rows, image in figures:
        claims = len({r.claim for r in rows})
        data = base64.b64encode(image).decode()
        caption = f"{family}: {len(rows)} comparison{'s' * (len(rows) != 1)} of {claims} claim{'s' * (claims != 1)}"
        parts.append(
            f'<h3>{html.escape(family)}</h3><figure class="forest"><img id="forest-{html.escape(family)}" '
            f'src="data:image/png;base64,{data}" alt="forest plot: {html.escape(caption)}"></figure>'
        )
    return "\n".join(parts)


def table_row(r: dict[str, Any]) -> str:
    """A row of the main table: the claim, its verdict and key number, and each comparison's outcome with its
    interval, seeds and look."""
    e = html.escape
    cmp = "".join(
        f'<li title="{e(c.get("label", ""))}">{pill(c.get("outcome", ""))} {e(effect_text(c))} · '
        f"{e(seeds_text(c))}</li>"
        for c in r.get("comparisons") or []
    )
    return (
        f'<tr><td><a href="#{e(r["id"])}">{e(r["id"])}</a></td><td>{e(r.get("claim", ""))}</td>'
        f"<td>{badge(r['verdict'])}</td><td>{e(r.get('key_number', ''))}"
        + (f'<ul class="cmp">{cmp}</ul>' if cmp else "")
        + "</td></tr>"
    )


def write_report(report: dict[str, Any], root: Path, path: Path) -> None:
    """Write the lab report page for `report` (as saved in report.json); figures are read from `root`.

    Above the table: a forest plot per family of claims and the structural checks in a list of their own;
    the table holds the empirical claims (and errors); then a section per claim."""
    e = html.escape
    results = report["results"]
    table = [r for r in results if not structural(r)]
    apart = len(results) - len(table)
    env = report.get("environment", {})
    missing = report.get("missing_claims") or []
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>dlbasic lab report</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body>
<h1>dlbasic lab report</h1>
<p class="meta">{e(report.get("created", ""))} · profile {e(str(report.get("profile", {}).get("name", "")))} ·
torch {e(str(env.get("torch", "")))} · revision {e(str(env.get("git_revision", "")))} ·
{report.get("seconds", 0):.0f} s in all</p>
<p>Every claim of the course notebook, measured. Each verdict is computed from the measurements by a rule written
before the experiment ran.</p>
{counts_line(results)}
{f'<p class="lit">Claims without a study yet: {e(", ".join(missing))}</p>' if missing else ""}
{glance(results)}
{checks_section(results)}
<h2 id="table">Claims</h2>
{f'<p class="meta">{apart} structural claim{"s" * (apart != 1)} listed under Structural checks.</p>' if apart else ""}
<table><tr><th>claim id</th><th>claim</th><th>verdict</th><th>key number · comparisons</th></tr>
{"".join(table_row(r) + chr(10) for r in table)}</table>
{"".join(section(r, root, docs_url(path)) for r in results)}
</body></html>
"""
    path.write_text(page, encoding="utf-8")
