"""The report at a glance (dlbasic.report.forest, dlbasic.report.html): a forest plot per family of claims
from the comparisons of report.json, the structural checks in a list of their own, seeds by look."""

import base64
import io
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dlbasic.claims import CLAIM_IDS
from dlbasic.lab.verdicts import ACCURACY, ECE, RATIO, check, part, verdict
from dlbasic.report import forest
from dlbasic.report.html import effect_text, write_report


def staged(label, effect, sd, *, form="difference", margin=ACCURACY, log=False, lower=False, schedule=(3, 6), seed=0):
    """A part whose arms differ by `effect` (A − B, in the measurement's units, log units when `log`) with
    seed noise `sd`, looked at after each stage of `schedule` until decided."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.85, 0.9, schedule[-1]) if not log else rng.uniform(50, 200, schedule[-1])
    noise = rng.normal(effect, sd, schedule[-1]) * (-1 if lower else 1)
    a = base * np.exp(noise) if log else base + noise
    for n in schedule:
        p = part(label, a[:n], base[:n], form=form, margin=margin, log=log, lower_is_better=lower, schedule=schedule)
        if p.comparison.decided:
            return p
    return p


def result(cid, form, parts=(), checks=(), key=""):
    v = verdict(list(parts), key or f"{cid} key number", checks=list(checks))
    return {
        "id": cid,
        "section": f"section of {cid}",
        "claim": f"the notebook's claim of {cid}",
        "form": form,
        "verdict": v.verdict,
        "key_number": v.key_number,
        "reason": v.reason,
        "test": v.test,
        "comparisons": v.comparisons,
        "checks": v.checks,
        "numbers": {},
        "seeds": [0, 1, 2],
        "figures": [],
        "runs": {"planned": 6, "shared": 0, "stages": 1},
        "seconds": 12.0,
    }


LOG = {"margin": RATIO, "log": True}
LOWER_LOG = {**LOG, "lower": True}
NI = {"form": "non-inferiority"}
SAMPLE = [  # (claim, form, [(label, effect, sd, options)], [(check, holds)]): CLAIMS.md v0.3's comparisons
    ("generalization", "difference", [
        ("test loss past the validation optimum, end vs optimum", 0.4, 0.05, LOG),
        ("train−test gap with 20 % label noise, noisy vs clean", 0.06, 0.01, {})], []),
    ("cross-validation", "difference", [("regret, 5-fold vs hold-out", 0.004, 0.01, {"lower": True})], []),
    ("bagging", "difference", [("test accuracy, bagged vs one net", 0.012, 0.004, {})], []),
    ("boosting", "structural + difference", [("test accuracy, boosted vs its first learner", 0.03, 0.01, {})],
     [("D_{m+1} weighs round m's mistakes more", True)]),
    ("gd-variants", "structural", [], [("one step reads 1, B or N examples", True)]),
    ("batch-size", "difference", [
        ("test accuracy, batch 32 vs 10 % of the set", 0.003, 0.006, {}),
        ("sharpness, large vs small batch", 0.5, 0.2, LOG)], []),
    ("learning-rate", "difference", [
        ("final training loss, best lr vs a decade below", 2.0, 0.1, LOWER_LOG),
        ("final training loss, best lr vs a decade above", 0.9, 0.2, LOWER_LOG)], []),
    ("nesterov", "difference", [("steps to the threshold, NAG vs momentum", -0.3, 0.05, LOG)], []),
    ("early-stopping", "non-inferiority",
     [("test error, stopped vs trained to the end", 0.001, 0.002, {**NI, "lower": True})], []),
    ("mixing", "difference", [
        ("test accuracy, Mixup vs plain", 0.02, 0.004, {}),
        ("test accuracy, CutMix vs plain", 0.001, 0.004, {})], []),
    ("cutmix-ratio", "structural", [], [("label weight = kept area after clipping", True)]),
    ("dropout", "difference", [("ECE, p = 0.5 vs 0", 0.02, 0.004, {"margin": ECE})], []),
    ("group-norm", "sameness + difference", [
        ("GN test accuracy, batch 2 vs 32", 0.0, 0.001, {"form": "sameness"}),
        ("BN test accuracy, batch 32 vs 2", 0.05, 0.01, {})], []),
    ("conv-shapes", "structural", [], [("conv output 28x28x6 → 24x24x16", True), ("parameter count 2,416", True)]),
    ("one-by-one", "structural", [], [("1x1 conv keeps 28x28, maps 192 → 32 channels", False)]),
    ("relu", "difference", [
        ("steps to 10 % training error, ReLU vs sigmoid", 3.0, 0.3, LOWER_LOG),
        ("steps to 10 % training error, ReLU vs tanh", 0.2, 0.3, LOWER_LOG)], []),
    ("vgg-3x3", "structural + non-inferiority", [("test accuracy, 3x3 stack vs 5x5 at 28x28", -0.001, 0.003, NI)],
     [("receptive field 5x5 from two 3x3", True)]),
    ("resnet", "difference", [
        ("training error, 8 vs 20 plain layers", 0.02, 0.004, {"lower": True}),
        ("training error, 20 residual vs 20 plain layers", 0.0, 0.003, {"lower": True})], []),
]  # fmt: skip


def sample_report():
    """A report.json as a lab of CLAIMS.md v0.3 writes it: every family, every outcome, staged and single
    looks, clipped effects, structural claims (one failed), multi-part claims and an error."""
    results = [
        result(cid, form, [staged(*p[:3], seed=k, **p[3]) for p in parts], [check(*c) for c in checks])
        for k, (cid, form, parts, checks) in enumerate(SAMPLE)
    ]
    error = {"id": "densenet", "verdict": "error", "key_number": "", "reason": "RuntimeError: boom"}
    results.append({**error, "traceback": "Traceback ...", "figures": [], "numbers": {}, "form": "structural"})
    return {
        "profile": {"name": "quick"},
        "environment": {"torch": "2.x"},
        "results": results,
        "seconds": 300.0,
        "created": "2026-12-07 18:00:00",
        "missing_claims": [],
    }


@pytest.fixture(scope="module")
def report():
    return sample_report()


def test_a_family_figure_has_one_row_per_comparison_in_the_notebooks_order(report):
    shuffled = list(reversed(report["results"]))
    rows = forest.rows(shuffled, "optimization")
    expected = [
        f"{r['id']}: {c['label']}"
        for r in report["results"]
        if r["id"] in ("batch-size", "learning-rate", "nesterov")
        for c in r["comparisons"]
    ]
    assert [r.label for r in rows] == expected
    ids = [r.claim for r in rows]
    assert ids == sorted(ids, key=CLAIM_IDS.index)
    assert forest.rows(report["results"], "evaluation")[0].label.startswith("generalization: test loss")
    assert not forest.rows([], "architectures")


def test_rows_are_coloured_by_outcome_and_carry_the_effect_in_margins(report):
    rows = forest.rows(report["results"], "regularization")
    by_label = {r.label: r for r in rows}
    assert {r.outcome for r in rows} >= {"A better", "equivalent", "non-inferior"}
    for r in rows:
        assert r.color == forest.OUTCOME_COLORS[r.outcome]
    c = next(x for x in report["results"] if x["id"] == "dropout")["comparisons"][0]
    row = by_label["dropout: ECE, p = 0.5 vs 0"]
    assert row.mean == pytest.approx(c["mean"] / ECE) and (row.lo, row.hi) == pytest.approx([v / ECE for v in c["ci"]])
    assert len({forest.OUTCOME_COLORS[o] for o in forest.OUTCOME_COLORS}) == len(forest.OUTCOME_COLORS)


def _drawn(ax, gid):
    return [line for line in ax.get_lines() if line.get_gid() == gid]


def test_the_figure_draws_each_row_in_its_colour_and_marks_a_clipped_effect(report):
    rows = forest.rows(report["results"], "optimization")
    limit = forest.axis_limit(rows)
    assert limit == forest.LIMITS[1]  # a decade of learning rate: 20 margins, beyond the widest axis
    clipped = [r.label for r in rows if r.clipped(limit)]
    assert clipped == [rows[1].label, rows[2].label, rows[3].label]  # sharpness's hi, both learning rates
    fig = forest.forest(rows, limit)
    ax = fig.axes[0]
    assert [line.get_color() for line in _drawn(ax, "interval")] == [
        r.color for r in rows
    ]  # one interval line per row, in its outcome's colour
    assert [t.get_text().replace("\n", " ") for t in ax.get_yticklabels()] == [r.label for r in rows]
    assert ax.get_xlim() == (-limit, limit)
    far = rows[2]  # learning rate a decade below: the whole interval lies beyond the axis
    assert far.lo > limit
    row_2 = [line for line in ax.get_lines() if list(line.get_ydata()) in ([-2], [-2, -2])]
    assert {line.get_marker() for line in row_2 if line.get_gid() != "interval"} == {">"}  # an arrow, no dot
    assert all(line.get_xdata()[0] > 0.95 * limit for line in _drawn(ax, "edge"))  # at the edge
    printed = [t.get_text() for t in ax.texts]
    assert f"{far.mean:+.1f} [{far.lo:+.1f}, {far.hi:+.1f}]" in printed  # and its values are printed
    assert sum("[" in t for t in printed) == len(clipped)
    assert "✗ B better · 3 seeds, look 1/2" in printed  # nesterov: a part contradicted at its first look
    assert "difference in margins" in ax.get_xlabel()
    plt.close(fig)
    inside = forest.Row("x", "x: y", "A better", "supported", 2.0, 1.5, 2.5, 3, 1, 1)
    assert not inside.clipped(3.0) and forest.Row("x", "x", "A better", "supported", 2.0, 1.5, 3.5, 3, 1, 1).clipped(3)


def test_nothing_is_cut_off_the_figure():
    long = "a label far longer than two lines of the row labels allow, so it is cut with an ellipsis at the end"
    rows = [
        forest.Row("bagging", f"bagging: {long}", "inconclusive", "inconclusive", -30.0, -45.0, -15.0, 12, 3, 3),
        forest.Row("boosting", "boosting: x", "non-inferior", "supported", 0.5, -0.9, 1.9, 12, 3, 3),
        forest.Row("resnet", "resnet: one seed", "inconclusive", "inconclusive", None, None, None, 1, 1, 1),
    ]
    fig = forest.forest(rows, forest.axis_limit(rows))
    assert len([line for line in fig.axes[0].get_lines() if line.get_gid() == "interval"]) == 2
    assert "fewer than 2 seeds: no interval" in [t.get_text() for t in fig.axes[0].texts]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    texts = [*fig.axes[0].texts, *fig.axes[0].get_yticklabels(), fig.axes[0].xaxis.label]
    for t in texts:
        extent = t.get_window_extent(renderer)
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1 and box.y0 <= extent.y0, t.get_text()
    label = fig.axes[0].get_yticklabels()[0].get_text()
    assert label.count("\n") == forest.LABEL_LINES - 1 and label.endswith("…")
    plt.close(fig)


def test_every_family_gets_a_figure_on_one_shared_axis(report):
    figures = forest.family_figures(report["results"])
    assert [f for f, _, _ in figures] == ["evaluation", "optimization", "regularization", "architectures"]
    for _, rows, image in figures:
        assert image.startswith(b"\x89PNG") and rows
        width, height = plt.imread(io.BytesIO(image)).shape[1::-1]
        assert width == 960 and height > 60 + 20 * len(rows)  # the page's width: shown unscaled, aligned


def test_seeds_and_look_say_where_a_comparison_stopped():
    assert forest.look_text(6, 2, [3, 6], "supported") == "decided at look 2 of 2: 6 seeds"
    assert forest.look_text(3, 1, [3, 6, 12], "contradicted") == "decided at look 1 of 3: 3 seeds"
    assert forest.look_text(12, 3, [3, 6, 12], "inconclusive") == "undecided at the last look (3 of 3): 12 seeds"
    assert forest.look_text(3, 1, [3, 6], "inconclusive") == "stopped at look 1 of 2: 3 seeds"
    assert forest.look_text(5, 1, [5], "supported") == "5 seeds, one look"
    nan = {"mean": None, "ci": [None, None], "margin": ACCURACY, "scale": "accuracy", "seeds": 1}
    assert effect_text(nan) == "no interval (fewer than 2 seeds)" and forest.in_margins(nan) == (None, None, None)
    old = {"mean": 0.01, "ci": [0.0, 0.02], "margin": ACCURACY, "scale": "accuracy"}  # without in_margins
    assert forest.in_margins(old) == pytest.approx((2.0, 0.0, 4.0))
    assert effect_text(old) == "+1.00 points [+0.00, +2.00]"
    ratio = {**old, "scale": "log ratio", "margin": 0.0953}
    assert effect_text({**ratio, "mean": 0.2, "ci": [0.1, 0.3]}) == "ratio in A's favour ×1.22 [×1.11, ×1.35]"
    assert effect_text({**ratio, "mean": -0.2, "ci": [-0.3, 0.1]}) == "ratio in B's favour ×1.22 [×0.905, ×1.35]"


def _page(report, folder):
    out = folder / "report.html"
    write_report(report, folder, out)
    return out.read_text()


@pytest.fixture(scope="module")
def page(report, tmp_path_factory):
    return _page(report, tmp_path_factory.mktemp("report"))


def test_the_page_shows_the_families_above_the_table_and_the_checks_apart(report, page):
    head = page.split('<h2 id="generalization"', 1)[0]
    table = head.index("<table")
    for family in ("evaluation", "optimization", "regularization", "architectures"):
        assert head.index(f'id="forest-{family}"') < table
    images = re.findall(r'id="forest-\w+" src="data:image/png;base64,([^"]+)"', head)
    assert len(images) == 4 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    checks = head[head.index('id="checks"') :]
    for text in ("one step reads 1, B or N examples", "parameter count 2,416", "D_{m+1} weighs"):
        assert text in checks
    assert re.search(r'one-by-one</a> <span[^>]*>failed</span> <span class="no">✗</span> 1x1 conv', checks)
    assert '<span class="yes">✓</span> parameter count 2,416' in checks
    rows = re.findall(r'<tr><td><a href="#([\w-]+)"', head[table:])
    assert "gd-variants" not in rows and "conv-shapes" not in rows  # structural claims are listed apart
    assert rows[:3] == ["generalization", "cross-validation", "bagging"] and "densenet" in rows
    counts = re.search(r'<p id="counts">(.*?)</p>', head, re.S).group(1)
    n = {v: sum(r["verdict"] == v for r in report["results"]) for v in forest.VERDICT_COLORS}
    assert f"checked</span> {n['checked']}" in counts and f"failed</span> {n['failed']}" in counts
    assert counts.index("supported") < counts.index("structural") < counts.index("checked")


def test_each_comparison_says_its_outcome_interval_seeds_and_look(report, page):
    decided = [
        (r["id"], c)
        for r in report["results"]
        for c in r.get("comparisons", [])
        if len(c["schedule"]) > 1 and c["look"] == 2
    ]
    assert decided, "the sample needs a comparison decided at its second look"
    cid, c = decided[0]
    section = page.split(f'<h2 id="{cid}"', 1)[1].split("<h2", 1)[0]
    text = forest.look_text(c["seeds"], c["look"], c["schedule"], c["verdict"])
    assert text in section and c["outcome"] in section and "margin ±" in section
    row = page.split(f'<tr><td><a href="#{cid}"', 1)[1].split("</tr>", 1)[0]
    assert c["outcome"] in row and text in row and f'title="{c["label"]}"' in row


def test_an_old_report_without_comparisons_checks_or_form_still_renders(tmp_path):
    old = {
        "results": [
            {"id": "dropout", "verdict": "supported", "claim": "c", "key_number": "+1 point", "reason": "r"},
            {"id": "conv-shapes", "verdict": "supported", "claim": "c", "key_number": "", "reason": "r"},
            {"id": "gd-variants", "verdict": "error", "reason": "boom", "traceback": "t"},
        ]
    }
    page = _page(old, tmp_path)
    assert page.count("<tr><td><a") == 3 and 'id="forest-' not in page and 'id="checks"' not in page
    old["results"][1] = {**old["results"][1], "verdict": "checked", "key_number": "6 shapes"}  # no checks listed
    page = _page(old, tmp_path)
    assert page.count("<tr><td><a") == 2 and re.search(r"conv-shapes</a> <span[^>]*>checked</span> 6 shapes", page)
