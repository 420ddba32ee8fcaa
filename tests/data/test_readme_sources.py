"""The README's data-source table lists every option of every source."""

import dataclasses
import re
from pathlib import Path

from dlbasic.data.box_sources import OPTIONS
from dlbasic.data.scenes import SceneConfig
from dlbasic.data.sources import list_sources
from dlbasic.segmentation.data import FolderOptions

README = Path(__file__).resolve().parents[2] / "README.md"


def source_rows() -> dict[str, str]:
    """Source name -> its options cell, from the table headed `| spec | what | options | test split |`."""
    lines = README.read_text().splitlines()
    start = lines.index("| spec | what | options | test split |")
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        name = re.match(r"`([a-z0-9]+)", cells[0]).group(1)
        rows[name] = cells[2]
    return rows


def test_every_source_and_option_is_in_the_readme_table():
    rows = source_rows()
    assert set(list_sources()) | {"segfolder"} == set(rows)
    options = {
        "segfolder": [f.name for f in dataclasses.fields(FolderOptions) if f.name != "root"],
        "scenes": [f.name for f in dataclasses.fields(SceneConfig)],
        **{kind: list(keys) for kind, keys in OPTIONS.items()},
    }
    for name, cell in rows.items():
        listed = re.findall(r"`([a-z_]+)=", cell)
        assert listed == options.get(name, []), (name, listed)
        assert listed or cell.startswith("none"), (name, cell)
