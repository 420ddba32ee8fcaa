"""Loading a CamVid-sized `segfolder:` source: `data show` (first and second run) and `segment train` at size 96.

Makes, in a temporary folder, 700 synthetic 480x360 RGB PNG images with 12-class id masks (smooth regions, a
few void pixels), then runs each command in a fresh process that reports its wall time (torch's import
included) and its peak resident memory (`resource.getrusage(RUSAGE_SELF).ru_maxrss`). The first `data show`
decodes the pairs into the cache of decoded folders; the second maps them. Bars: second `data show` <= 15 s
and <= 1 GB; `segment train --data ...,size=96` <= 1.5 GB.

    python benchmarks/segmentation_load.py [--count 700] [--train-subset 128] [--keep DIR]

The last line is one JSON object: {"bench": "segmentation_load", ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = """
import json, resource, sys, time
start = time.perf_counter()
from dlbasic.cli import main
rc = main(sys.argv[1:])
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
print("RESULT " + json.dumps({"rc": rc, "seconds": seconds, "peak_mb": peak}))
"""


def make_set(root: Path, count: int, width: int = 480, height: int = 360, classes: int = 12, seed: int = 0) -> None:
    """`count` image/mask pairs in root/images and root/masks: blocky class regions, images shaded per class."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir(parents=True)
    yy, xx = np.mgrid[0:height, 0:width]
    colours = rng.integers(0, 256, (classes, 3))
    for i in range(count):
        blocks = rng.integers(0, classes, (height // 40 + 1, width // 40 + 1))
        shift = rng.integers(0, 40, 2)
        ids = blocks[(yy + shift[0]) // 40 % blocks.shape[0], (xx + shift[1]) // 40 % blocks.shape[1]].astype(np.uint8)
        ids[:2, :2] = 255  # void
        noise = rng.integers(-20, 21, (height, width, 3))
        image = np.clip(colours[ids % classes] + noise, 0, 255).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"{i:04d}.png")
        Image.fromarray(ids, "L").save(root / "masks" / f"{i:04d}.png")


def measure(argv: list[str], env: dict[str, str]) -> dict:
    """Run `dlbasic argv` in a fresh process; its rc, seconds and peak_mb."""
    done = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, env=env, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"dlbasic {' '.join(argv)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return json.loads(line[len("RESULT ") :])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=700, help="image/mask pairs (default 700)")
    p.add_argument("--train-subset", type=int, default=128, help="segment train on this many images (0: all)")
    p.add_argument("--keep", type=Path, default=None, help="make the set here and keep it (default: a temp dir)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp) / "set"
        if not (root / "masks").is_dir():
            make_set(root, args.count)
        env = {**os.environ, "DLBASIC_CACHE": str(Path(tmp) / "cache")}
        spec = f"segfolder:{root}"
        out = str(Path(tmp) / "show.png")
        rows = {
            "data show, first run": measure(["data", "show", spec, "--out", out, "--overwrite"], env),
            "data show, second run": measure(["data", "show", spec, "--out", out, "--overwrite"], env),
        }
        train = ["segment", "train", "--data", f"{spec},size=96", "--epochs", "1", "--batch-size", "16"]
        train += ["--train-subset", str(args.train_subset)] if args.train_subset else []
        train += ["--no-progress", "--run-dir", str(Path(tmp) / "run")]
        rows["segment train, size=96"] = measure(train, env)
    bars = {"data show, second run": (15.0, 1024.0), "segment train, size=96": (None, 1536.0)}
    print(f"{args.count} pairs of 480x360 images and masks, 12 classes")
    print(f"{'run':<26} {'seconds':>8} {'peak MB':>8}  bar")
    for name, r in rows.items():
        seconds, mb = bars.get(name, (None, None))
        bar = " ".join(x for x in (f"<= {seconds:g} s" if seconds else "", f"<= {mb:g} MB" if mb else "") if x)
        print(f"{name:<26} {r['seconds']:>8.1f} {r['peak_mb']:>8.0f}  {bar}")
    met = {
        "show_second_seconds_ok": rows["data show, second run"]["seconds"] <= 15,
        "show_second_peak_ok": rows["data show, second run"]["peak_mb"] <= 1024,
        "train_peak_ok": rows["segment train, size=96"]["peak_mb"] <= 1536,
    }
    print(json.dumps({"bench": "segmentation_load", "count": args.count, "runs": rows, **met}))


if __name__ == "__main__":
    main()
