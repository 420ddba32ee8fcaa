"""`data show` reports mask labels outside the named classes with their share of pixels and `ignore=`."""

import numpy as np
from PIL import Image

from dlbasic.cli import main


def test_labels_outside_the_named_classes(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
    for i in range(4):
        ids = rng.integers(0, 3, (10, 10)).astype(np.uint8)
        ids[0, :3] = 7  # 3 pixels of an unnamed id per mask: 12 of 400 pixels, 3.00 %
        ids[1, 0] = 9 if i == 0 else ids[1, 0]  # 1 of 400: 0.25 %
        Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(tmp_path / "images" / f"s{i}.png")
        Image.fromarray(ids, "L").save(tmp_path / "masks" / f"s{i}.png")
    (tmp_path / "classes.txt").write_text("background\ncat\ndog\n")
    assert main(["data", "show", f"segfolder:{tmp_path}", "--out", str(tmp_path / "s.png")]) == 0
    out = capsys.readouterr().out
    want = (
        "labels outside the 3 named classes: 7 (3.00% of pixels), 9 (0.25% of pixels); they are void; "
        "ignore=7 makes 7 the void value (now 255)"
    )
    assert want in out
    assert main(["data", "show", f"segfolder:{tmp_path},ignore=7", "--out", str(tmp_path / "t.png")]) == 0
    out = capsys.readouterr().out
    assert "labels outside the 3 named classes: 9 (0.25% of pixels)" in out and "7 (3.00%" not in out
