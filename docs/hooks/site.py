"""MkDocs hooks of the dlbasic site: examples run at build time, the lab's verdicts, MathJax, the API pages.

- Every page's code blocks run (docs/hooks/examples.py) in a working folder of the page's own; the figures
  the page shows (`![caption](path)`) are taken from that folder, and `<!-- output -->` becomes the text
  the block printed. A failing example stops the build.
- `<!-- verdict: CLAIM -->` becomes the lab's latest verdict on that claim (README.md's generated table),
  linked to its entry on the lab page; `<!-- verdicts -->` becomes the whole table, one entry per claim.
- MathJax (tex-svg-full.js of the `django-static-mathjax` package, which needs no font files) is served
  from the site itself: the pages fetch nothing from elsewhere.
- The API reference: one page per subpackage of dlbasic, every public module on it (mkdocstrings).
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import sys
import tempfile
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).parent))
import examples
import reference
import verdicts

log = logging.getLogger("mkdocs.hooks.dlbasic")
MATHJAX = "assets/mathjax/tex-svg-full.js"

_state: dict = {}


def on_config(config):
    _state["root"] = Path(config.config_file_path).parent
    _state["work"] = Path(tempfile.mkdtemp(prefix="dlbasic-docs-"))
    _state["results"] = {}
    return config


def on_files(files: Files, config) -> Files:
    _add_reference(files, config)
    _add_mathjax(files, config)
    for page in list(files.documentation_pages()):  # the loop adds files
        _run_examples(page, files, config)
    return files


def _run_examples(page: File, files: Files, config) -> None:
    if page.generated_by:
        return
    text = page.content_string
    blocks = examples.extract(text)
    if not any(b.runs for b in blocks):
        return
    work = _state["work"] / page.src_uri.replace("/", "__")
    try:
        results = examples.run_page(text, work, page.src_uri)
    except examples.ExampleError as e:
        raise PluginError(f"docs example failed: {e}") from None
    _state["results"][page.src_uri] = results
    seconds = sum(r.seconds for r in results)
    log.info(f"{page.src_uri}: {len(results)} code blocks ran in {seconds:.1f} s")
    folder = Path(page.src_uri).parent.as_posix()
    for rel in examples.images(text):
        made = work / rel
        if not made.is_file():
            continue  # a picture kept in docs/ (mkdocs reports one that is missing)
        uri = f"{folder}/{rel}" if folder != "." else rel
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, abs_src_path=str(made)))


def _add_mathjax(files: Files, config) -> None:
    spec = importlib.util.find_spec("mathjax")
    script = Path(spec.origin).parent / "static" / "mathjax" / "es5" / "tex-svg-full.js" if spec else None
    if script is None or not script.is_file():
        raise PluginError("MathJax is not installed: pip install -e '.[docs]' (the django-static-mathjax package)")
    files.append(File.generated(config, MATHJAX, abs_src_path=str(script)))


def _add_reference(files: Files, config) -> None:
    for uri, content in reference.pages(_state["root"] / "src" / "dlbasic").items():
        files.append(File.generated(config, uri, content=content))


def on_page_markdown(markdown: str, page, config, files) -> str:
    results = _state["results"].get(page.file.src_uri, [])
    if results:
        markdown = _with_outputs(markdown, results)
    return verdicts.expand(markdown, page.file.src_uri, _state["root"] / "README.md")


def _with_outputs(markdown: str, results) -> str:
    ran = iter(results)  # in the order of the page's runnable blocks
    pieces, at = [], 0
    for block in examples.extract(markdown):
        result = next(ran) if block.runs else None
        if block.output_span is None:
            continue
        if result is None:
            raise PluginError(f"line {block.line}: <!-- output --> follows a block that does not run")
        start, end = block.output_span
        indent = " " * (len(markdown[block.start : block.end]) - len(markdown[block.start : block.end].lstrip(" ")))
        shown = examples.shown_output(result).replace("\n", "\n" + indent)
        pieces += [markdown[at:start], f"\n\n{indent}```text\n{indent}{shown}\n{indent}```\n"]
        at = end
    return "".join(pieces) + markdown[at:]


def on_post_build(config) -> None:
    shutil.rmtree(_state.get("work", ""), ignore_errors=True)


def on_build_error(error) -> None:
    shutil.rmtree(_state.get("work", ""), ignore_errors=True)
