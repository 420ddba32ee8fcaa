"""Data-parallel scaling on this machine: 1 process vs 2 processes under torchrun (gloo).

Each configuration trains simple_cnn on the same 2,048 mnist5k images for one epoch with a global
batch of 64; images/s is the training throughput the Trainer reports (all processes together).
Configurations run round-robin; medians over the repeats.
Efficiency = images/s(2 processes x 1 thread) / (2 x images/s(1 process x 1 thread)).

    python benchmarks/ddp_scaling.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ARGS = ["--data", "mnist5k", "--model", "simple_cnn", "--train-subset", "2048", "--epochs", "1", "--no-progress"]


def run(processes: int, threads: int, root: Path, k: int) -> float:
    out = root / f"p{processes}t{threads}-{k}"
    batch = str(64 // processes)
    if processes == 1:
        cmd = [sys.executable, "-m", "dlbasic.cli", "train"]
    else:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={processes}",
            "-m",
            "dlbasic.cli",
            "train",
        ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run(
        [*cmd, *ARGS, "--batch-size", batch, "--threads", str(threads), "--run-dir", str(out)],
        check=True,
        capture_output=True,
        env=env,
    )
    return json.loads((out / "summary.json").read_text())["images_per_second"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    configs = [(1, 1), (1, 2), (2, 1)]
    results: dict[tuple[int, int], list[float]] = {c: [] for c in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeats):
            for p, t in configs:
                results[(p, t)].append(run(p, t, Path(tmp), k))
    med = {c: statistics.median(v) for c, v in results.items()}
    efficiency = med[(2, 1)] / (2 * med[(1, 1)])
    print(
        f"simple_cnn, 2,048 mnist5k images, global batch 64, {args.repeats} repeats (round-robin, medians), "
        f"{os.cpu_count()} CPUs"
    )
    print(f"{'processes x threads':<22}{'images/s':>10}{'min..max':>20}")
    for (p, t), v in results.items():
        print(f"{f'{p} x {t}':<22}{med[(p, t)]:>10.0f}{min(v):>12.0f}..{max(v):.0f}")
    print(
        f"scaling efficiency (2 x 1 vs 1 x 1): {efficiency:.2f}; 2 processes vs 1 process x 2 threads: "
        f"{med[(2, 1)] / med[(1, 2)]:.2f}"
    )
    print(
        json.dumps(
            {
                "bench": "ddp_scaling",
                "images_per_s_1x1": round(med[(1, 1)], 1),
                "images_per_s_1x2": round(med[(1, 2)], 1),
                "images_per_s_2x1": round(med[(2, 1)], 1),
                "efficiency": round(efficiency, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
