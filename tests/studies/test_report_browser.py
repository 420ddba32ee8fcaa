"""The lab report in a real browser (Debian's headless Chromium): every image decodes, no console errors."""

import re
import shutil
import subprocess

import pytest

from dlbasic.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

PROBE = """<script>
window.addEventListener("load", () => {
  const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).length;
  document.title = `images=${document.images.length} broken=${broken} errors=${window.__errors}`;
});
</script>"""

CATCH = """<script>window.__errors = 0; window.addEventListener("error", () => window.__errors++);
console.error = (...a) => { window.__errors++; };</script>"""


def chromium(*args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_report_renders_in_chromium_with_all_images(tmp_path):
    out = tmp_path / "lab"
    assert main(["lab", "--only", "conv-shapes", "--out", str(out)]) == 0
    page = (out / "report.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("<head>", "<head>" + CATCH, 1).replace("</body>", PROBE + "</body>", 1))
    dom = chromium(
        f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()
    ).stdout
    title = re.search(r"<title>(.*?)</title>", dom).group(1)
    images, broken, errors = (int(x) for x in re.findall(r"=(\d+)", title))
    assert images >= 1 and broken == 0 and errors == 0, title
    shot = tmp_path / "report.png"
    chromium(
        f"--user-data-dir={tmp_path / 'profile2'}",
        f"--screenshot={shot}",
        "--window-size=1100,1400",
        (out / "report.html").as_uri(),
    )
    assert shot.is_file() and shot.stat().st_size > 10_000
