"""The lab report: one self-contained HTML page (figures embedded as base64 PNG, no external files)."""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from typing import Any

from dlbasic.lab.claims import GUIDES

COLORS = {
    "supported": "#1a7f37",
    "contradicted": "#cf222e",
    "inconclusive": "#9a6700",
    "checked": "#0969da",
    "failed": "#8250df",
    "error": "#6e7781",
}

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
            f" · seeds {e(str(r.get('seeds', [])))} · {r.get('seconds', 0):.0f} s{runs_used(r)}</p>"
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
    if r.get("test"):
        parts.append(f"<p><b>Test.</b> {e(r['test'])}</p>")
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


def write_report(report: dict[str, Any], root: Path, path: Path) -> None:
    """Write the lab report page for `report` (as saved in report.json); figures are read from `root`."""
    e = html.escape
    results = report["results"]
    counts = {v: sum(r["verdict"] == v for r in results) for v in COLORS}
    rows = "\n".join(
        f'<tr><td><a href="#{e(r["id"])}">{e(r["id"])}</a></td><td>{e(r.get("claim", ""))}</td>'
        f"<td>{badge(r['verdict'])}</td><td>{e(r.get('key_number', ''))}</td></tr>"
        for r in results
    )
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
before the experiment ran. {" · ".join(f"{badge(v)} {n}" for v, n in counts.items() if n)}</p>
{f'<p class="lit">Claims without a study yet: {e(", ".join(missing))}</p>' if missing else ""}
<table><tr><th>claim id</th><th>claim</th><th>verdict</th><th>key number</th></tr>
{rows}
</table>
{"".join(section(r, root, docs_url(path)) for r in results)}
</body></html>
"""
    path.write_text(page, encoding="utf-8")
