"""PIL's warnings while decoding ("Palette images with Transparency ...") are shown once per file, naming it."""

import warnings

import numpy as np
import pytest
from PIL import Image

from dlbasic.cli import main
from dlbasic.data import folder
from dlbasic.data.images import decode

PIL_TEXT = "Palette images with Transparency expressed in bytes should be converted to RGBA images"


def write_palette(path, seed: int) -> None:
    """A palette PNG whose transparency is a byte string: converting it to RGB makes PIL warn."""
    rng = np.random.default_rng(seed)
    im = Image.fromarray(rng.integers(0, 4, (8, 8)).astype(np.uint8), "P")
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, transparency=bytes([0, 128, 255, 255]))


def test_decode_names_the_file(tmp_path):
    write_palette(tmp_path / "a.png", 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decode(tmp_path / "a.png", "RGB")
    assert [str(w.message) for w in caught] == [f"{tmp_path / 'a.png'}: {PIL_TEXT}"]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_folder_warns_once_per_file_on_stderr(tmp_path, capsys, monkeypatch, workers):
    """In this process or in worker processes: each file's warning once, from this process."""
    monkeypatch.setenv("DLBASIC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(folder, "_workers", lambda n: workers)
    files = [tmp_path / "data" / c / f"{c}{i}.png" for c in ("cat", "dog") for i in range(3)]
    for k, path in enumerate(files):
        write_palette(path, k)
    out = tmp_path / "s.png"
    assert main(["data", "show", f"folder:{tmp_path / 'data'}", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "Palette images" in line]
    assert sorted(lines) == sorted(f"dlbasic data: warning: {p}: {PIL_TEXT}" for p in files)
