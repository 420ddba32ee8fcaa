"""The lab report in a real browser (Debian's headless Chromium): every image decodes, no console errors; the
forest plots of the families of claims are shown, unscaled, above the table."""

import re
import shutil
import subprocess

import pytest
from tests.studies.test_report_forest import sample_report

from dlbasic.cli import main
from dlbasic.report.html import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

PROBE = """<script>
window.addEventListener("load", () => {
  const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).length;
  document.title = `images=${document.images.length} broken=${broken} errors=${window.__errors}`;
});
</script>"""

GLANCE = """<script>
window.addEventListener("load", () => {
  const table = document.querySelector("table").getBoundingClientRect().top;
  const forests = [...document.querySelectorAll("img[id^='forest-']")];
  const shown = forests.filter(i => {
    const box = i.getBoundingClientRect();
    return i.complete && i.naturalWidth > 0 && box.height > 0 && box.bottom < table
      && getComputedStyle(i).visibility === "visible" && i.width === i.naturalWidth;
  }).length;
  const checks = document.querySelectorAll("#checks + p + ul.checks > li").length;
  document.title = `forests=${forests.length} shown=${shown} checks=${checks} errors=${window.__errors}`;
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


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_the_family_forest_plots_show_above_the_table(tmp_path):
    report = sample_report()
    page = tmp_path / "report.html"
    write_report(report, tmp_path, page)
    probe = tmp_path / "probe.html"
    text = page.read_text()
    probe.write_text(text.replace("<head>", "<head>" + CATCH, 1).replace("</body>", GLANCE + "</body>", 1))
    dom = chromium(
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1100,1400",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probe.as_uri(),
    ).stdout
    title = re.search(r"<title>(.*?)</title>", dom).group(1)
    forests, shown, checks, errors = (int(x) for x in re.findall(r"=(\d+)", title))
    with_checks = sum(bool(r.get("checks")) for r in report["results"])
    assert forests == shown == 4 and checks == with_checks and errors == 0, title
    shot = tmp_path / "glance.png"
    chromium(
        f"--user-data-dir={tmp_path / 'profile2'}", f"--screenshot={shot}", "--window-size=1100,2400", page.as_uri()
    )
    assert shot.is_file() and shot.stat().st_size > 50_000
