"""The documentation site in a real browser (Debian's headless Chromium), read from its folder (file://).

The home page and a guide must load every figure, show their code blocks, and typeset their formulas with the
MathJax the site serves itself, without console errors; their screenshots must not be blank; and no page may
load anything from the network. The site is `$DLBASIC_DOCS_SITE` when set (CI builds it with `make docs`
first), else it is built here into a temporary folder, which needs the `docs` extra (MkDocs).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PREBUILT = os.environ.get("DLBASIC_DOCS_SITE")
HAS_MKDOCS = importlib.util.find_spec("mkdocs") is not None and importlib.util.find_spec("material") is not None

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
    pytest.mark.skipif(
        not PREBUILT and not HAS_MKDOCS, reason="MkDocs is not installed (pip install -e '.[docs]'; make docs)"
    ),
]

# counted once the page has loaded and MathJax has typeset it; the counts become the page's title
PROBE = """<script>
window.addEventListener("load", () => {
  const done = () => {
    const images = [...document.querySelectorAll("article img")];
    const broken = images.filter(i => !i.complete || i.naturalWidth === 0).length;
    const code = document.querySelectorAll("article pre code").length;
    const maths = document.querySelectorAll("article mjx-container").length;
    const raw = [...document.querySelectorAll("article .arithmatex")]
      .filter(e => !e.querySelector("mjx-container")).length;
    document.title = `images=${images.length} broken=${broken} code=${code} maths=${maths} raw=${raw}`
      + ` errors=${window.__errors}`;
  };
  (window.MathJax && MathJax.startup ? MathJax.startup.promise : Promise.resolve()).then(done, done);
});
</script>"""
CATCH = """<script>window.__errors = 0; window.addEventListener("error", () => window.__errors++);
console.error = (...a) => { window.__errors++; };</script>"""
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A copy of the built site (the probes are written beside its pages)."""
    copy = tmp_path_factory.mktemp("docs") / "site"
    if PREBUILT:
        built = Path(PREBUILT)
        assert (built / "index.html").is_file(), f"$DLBASIC_DOCS_SITE={PREBUILT} holds no built site"
        shutil.copytree(built, copy)
        return copy
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(copy)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert build.returncode == 0, build.stderr[-3000:]
    return copy


def counts(site: Path, page: str, tmp_path: Path) -> dict[str, int]:
    html = (site / page).read_text(encoding="utf-8")
    probe = (site / page).with_name("probe-" + Path(page).name)
    probe.write_text(html.replace("<head>", "<head>" + CATCH, 1).replace("</body>", PROBE + "</body>", 1))
    profile = f"--user-data-dir={tmp_path / 'profile'}"
    dom = chromium(profile, "--virtual-time-budget=15000", "--dump-dom", probe.as_uri())
    title = re.search(r"<title>(.*?)</title>", dom.stdout, re.S).group(1)
    assert "images=" in title, f"the probe did not run: {title!r}"
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", title)}


def screenshot(site: Path, page: str, tmp_path: Path) -> Path:
    shot = tmp_path / (Path(page).stem + ".png")
    chromium(
        f"--user-data-dir={tmp_path / 'profile-shot'}",
        f"--screenshot={shot}",
        "--window-size=1280,1600",
        "--virtual-time-budget=15000",
        (site / page).as_uri(),
    )
    return shot


def assert_not_blank(shot: Path) -> None:
    from PIL import Image

    assert shot.is_file() and shot.stat().st_size > 20_000, shot
    with Image.open(shot) as im:
        colours = im.convert("RGB").resize((320, 400)).getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50, f"{shot} looks blank ({len(colours)} colours)"


@pytest.mark.parametrize(
    ("page", "least"),
    [
        ("index.html", {"images": 1, "code": 2, "maths": 0}),
        ("guides/optimization.html", {"images": 2, "code": 5, "maths": 10}),
    ],
)
def test_page_renders_its_figures_code_and_maths(site, tmp_path, page, least):
    seen = counts(site, page, tmp_path)
    assert seen["broken"] == 0 and seen["errors"] == 0 and seen["raw"] == 0, seen
    for what, n in least.items():
        assert seen[what] >= n, (what, seen)
    assert_not_blank(screenshot(site, page, tmp_path))


def test_the_site_loads_nothing_from_the_network(site):
    fetched = re.compile(
        r"""<(?:script|img|iframe)[^>]*\ssrc=["']?(?:https?:)?//|<link[^>]*\shref=["']?(?:https?:)?//"""
    )
    css_url = re.compile(r"""url\(\s*["']?(?:https?:)?//""")
    offenders = []
    for path in site.rglob("*"):
        if path.suffix == ".html":
            for m in fetched.finditer(path.read_text(encoding="utf-8", errors="replace")):
                tag = m.group(0)
                if "<link" in tag and re.search(r"""rel=["']?(?:canonical|alternate)""", tag):
                    continue
                offenders.append(f"{path.relative_to(site)}: {tag}")
        elif path.suffix == ".css" and css_url.search(path.read_text(encoding="utf-8", errors="replace")):
            offenders.append(str(path.relative_to(site)))
    assert not offenders, offenders[:10]


def test_a_new_user_goes_from_home_to_own_images_and_the_dropout_verdict(site):
    home = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="getting-started.html#your-own-images"' in home
    assert 'href="lab.html#dropout"' in home
    start = (site / "getting-started.html").read_text(encoding="utf-8")
    assert 'id="your-own-images"' in start and "dlbasic train --data folder:my_images" in re.sub(r"<[^>]+>", "", start)
    lab = (site / "lab.html").read_text(encoding="utf-8")
    assert 'id="dropout"' in lab and 'href="guides/regularization.html#dropout"' in lab


def test_every_public_module_function_and_class_has_an_api_entry(site):
    """mkdocstrings lists what it rendered in objects.inv (Sphinx's inventory: 4 header lines, then zlib)."""
    import ast
    import zlib

    body = zlib.decompress((site / "objects.inv").read_bytes().split(b"\n", 4)[4]).decode()
    rendered = {line.split(" ", 1)[0] for line in body.splitlines() if line}
    missing = []
    for path in sorted((ROOT / "src" / "dlbasic").rglob("*.py")):
        parts = path.relative_to(ROOT / "src").with_suffix("").parts
        if any(p.startswith("_") and p != "__init__" for p in parts):
            continue
        module = ".".join(p for p in parts if p != "__init__")
        names = [] if parts[-1] == "__init__" else ast.parse(path.read_text(encoding="utf-8")).body
        public = [n.name for n in names if isinstance(n, ast.FunctionDef | ast.ClassDef) and not n.name.startswith("_")]
        missing += [name for name in [module, *(f"{module}.{n}" for n in public)] if name not in rendered]
    assert not missing, missing
