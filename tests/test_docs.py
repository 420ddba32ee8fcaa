"""The documentation's examples run, and its links between claims, guides, the lab and the report hold.

Every page's ```python blocks run in order in one fresh namespace, and its ```bash blocks run each `dlbasic`
line through the CLI's `main()`, in a temporary folder (docs/hooks/examples.py, which the site build uses
too); the figures a page shows must come out of its code. MkDocs is not needed here.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest
import yaml

from dlbasic.claims import GUIDES
from dlbasic.report.html import docs_url, write_report
from dlbasic.studies import list_studies

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"docs_{name}", DOCS / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


examples = _module("examples")
verdicts = _module("verdicts")
reference = _module("reference")

PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md") if "hooks" not in p.parts)
RUNNABLE = [p for p in PAGES if any(b.runs for b in examples.extract((DOCS / p).read_text(encoding="utf-8")))]


def test_the_docs_have_runnable_examples_and_few_that_do_not_run():
    blocks = [b for p in PAGES for b in examples.extract((DOCS / p).read_text(encoding="utf-8"))]
    runs = [b for b in blocks if b.runs]
    marked = [b for b in blocks if b.norun is not None]
    assert len(RUNNABLE) >= 9 and len(runs) >= 60
    assert len(marked) <= 8, [f"{b.line}: {b.norun}" for b in marked]
    assert all(b.norun.strip() for b in marked)  # each says why


@pytest.mark.parametrize("page", PAGES)
def test_bash_blocks_that_run_hold_only_dlbasic_commands(page):
    text = (DOCS / page).read_text(encoding="utf-8")
    for block in examples.extract(text):
        examples.check_block(block, page)
        if block.output_span is not None:
            assert block.runs, f"{page}:{block.line}: <!-- output --> after a block that does not run"


@pytest.mark.parametrize("page", RUNNABLE)
def test_page_examples_run_and_make_the_figures_it_shows(page, tmp_path):
    text = (DOCS / page).read_text(encoding="utf-8")
    start = time.perf_counter()
    results = examples.run_page(text, tmp_path, page)
    seconds = time.perf_counter() - start
    assert len(results) == sum(b.runs for b in examples.extract(text))
    for image in examples.images(text):
        assert (tmp_path / image).is_file() or (DOCS / page).parent.joinpath(image).is_file(), image
    for result in results:
        if result.block.output is not None:
            assert examples.shown_output(result).strip(), f"{page}:{result.block.line} printed nothing"
    print(f"{page}: {len(results)} blocks in {seconds:.1f} s")


def test_a_failing_example_names_its_page_and_line(tmp_path):
    page = "# t\n\n```python\nx = 1\n```\n\n```bash\ndlbasic train --epohcs 3\n```\n"
    with pytest.raises(examples.ExampleError, match=r"t.md:7: `dlbasic train --epohcs 3` exited with 2"):
        examples.run_page(page, tmp_path, "t.md")
    with pytest.raises(examples.ExampleError, match=r"t.md:3: a bash block that runs holds only"):
        examples.run_page("# t\n\n```bash\npip install x\n```\n", tmp_path, "t.md")
    marked = "<!-- norun: installs -->\n```bash\npip install x\n```\n"
    assert examples.run_page(marked, tmp_path, "t.md") == []


def test_outputs_are_cut_as_asked():
    text = "```python\nprint(1)\n```\n<!-- output: -2 -->\n"
    (block,) = examples.extract(text)
    result = examples.Result(block, "a\nb\nc\nd\n", 0.0)
    assert examples.shown_output(result) == "...\nc\nd"


@pytest.mark.parametrize("claim", list_studies())
def test_every_claim_has_a_guide_section_with_its_verdict(claim):
    assert claim in GUIDES, f"dlbasic.claims.GUIDES has no guide for {claim}"
    guide = DOCS / GUIDES[claim].removesuffix(".html")
    text = guide.with_suffix(".md").read_text(encoding="utf-8")
    assert f"{{#{claim}}}" in text, f"{guide}.md has no section with the anchor #{claim}"
    assert f"<!-- verdict: {claim} -->" in text


def test_the_lab_page_lists_every_claim_with_its_verdict():
    head, rows = verdicts.read_table(ROOT / "README.md")
    assert head and rows and set(rows) <= set(list_studies())
    page = verdicts.expand("<!-- verdicts -->", "lab.md", ROOT / "README.md")
    for claim in list_studies():
        assert f"{{#{claim}}}" in page
        assert f"({verdicts.guide_of(claim)}#{claim})" in page
    one = verdicts.expand("<!-- verdict: dropout -->", "guides/regularization.md", ROOT / "README.md")
    assert "(../lab.md#dropout)" in one and rows["dropout"].verdict in one


def test_the_guides_are_in_the_nav_in_the_notes_order_and_every_reference_page_too():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def paths(items):
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            yield from paths(value) if isinstance(value, list) else [value]

    nav = list(paths(config["nav"]))
    assert [p for p in nav if p.startswith("guides/")] == list(verdicts.CHAPTERS)
    assert set(reference.pages(ROOT / "src" / "dlbasic")) <= set(nav)
    assert set(nav) - set(reference.pages(ROOT / "src" / "dlbasic")) <= set(PAGES)


def test_the_reference_covers_every_public_module():
    pages = reference.pages(ROOT / "src" / "dlbasic")
    text = "\n".join(pages.values())
    for path in (ROOT / "src" / "dlbasic").rglob("*.py"):
        parts = path.relative_to(ROOT / "src").with_suffix("").parts
        if any(p.startswith("_") and p != "__init__" for p in parts):
            continue
        name = ".".join(p for p in parts if p != "__init__")
        assert f"::: {name}\n" in text, name


def test_the_lab_report_links_each_claim_to_its_guide(tmp_path, monkeypatch):
    report = {"results": [{"id": "dropout", "verdict": "supported", "claim": "c"}]}
    out = tmp_path / "runs" / "lab" / "report.html"
    out.parent.mkdir(parents=True)
    monkeypatch.delenv("DLBASIC_DOCS_URL", raising=False)
    write_report(report, tmp_path, out)
    base = docs_url(out)
    assert (out.parent / base).resolve() == ROOT / "site"
    assert f'href="{base}guides/regularization.html#dropout"' in out.read_text()
    monkeypatch.setenv("DLBASIC_DOCS_URL", "https://docs.example/dlbasic")
    write_report(report, tmp_path, out)
    assert 'href="https://docs.example/dlbasic/guides/regularization.html#dropout"' in out.read_text()
