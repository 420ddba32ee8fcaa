"""The `dlbasic` command itself: help and version without importing torch, one-line mistakes."""

import subprocess
import sys
import time

import pytest

SCRIPT = """
import sys
from dlbasic.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print("torch imported" if "torch" in sys.modules else "torch not imported")
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["train", "--help"],
        ["segment", "train", "--help"],
        ["detect", "eval", "--help"],
        ["lab", "--help"],
        ["train", "--epohcs", "3"],
    ],
)
def test_help_version_and_mistakes_do_not_import_torch(argv):
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(argv=argv)], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip().endswith("torch not imported"), proc.stdout + proc.stderr


def test_help_is_fast():
    """`dlbasic --help` needs argparse and the command modules only: well under a second (torch takes 2-8 s)."""
    best = min(_seconds([sys.executable, "-m", "dlbasic.cli", "--help"]) for _ in range(3))
    assert best < 1.0, best


def _seconds(cmd) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True, timeout=60)
    return time.perf_counter() - start
