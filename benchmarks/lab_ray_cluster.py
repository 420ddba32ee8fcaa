"""The lab on a Ray cluster of three nodes on this machine that loses a worker node mid-lab.

Starts a head and two worker nodes (`ray.cluster_utils.Cluster`, one CPU each), runs the lab on them, removes a
worker node `--kill-after` seconds in (Ray runs its tasks again on the others), and compares the report with a
reference lab folder's (a serial `dlbasic lab --jobs 1 --out REF`), timings aside.

    dlbasic lab --jobs 1 --out runs/lab-serial
    python benchmarks/lab_ray_cluster.py --reference runs/lab-serial --out runs/lab-cluster

Needs Ray (`pip install 'dlbasic[ray]'`).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

from kill_resume_lab import numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, required=True, help="a finished lab folder to compare with")
    parser.add_argument("--out", type=Path, required=True, help="the cluster lab's folder (must not exist)")
    parser.add_argument("--only", default=None, help="comma-separated study ids (default: all)")
    parser.add_argument("--kill-after", type=float, default=60.0, help="seconds before a worker node is removed")
    args = parser.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    from dlbasic.lab import make_profile
    from dlbasic.lab.engine import run_lab

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)

    def kill() -> None:
        time.sleep(args.kill_after)
        saved = len(list((args.out / "runs").glob("*.json"))) if (args.out / "runs").is_dir() else 0
        cluster.remove_node(workers[0])
        print(f"removed a worker node {args.kill_after:.0f} s in, with {saved} runs saved", flush=True)

    killer = threading.Thread(target=kill)
    killer.start()
    start = time.perf_counter()
    try:
        run_lab(args.out, make_profile(), args.only, jobs=None, threads=1, executor="ray")
    finally:
        killer.join()
        ray.shutdown()
        cluster.shutdown()
    ours = json.loads((args.out / "report.json").read_text())["results"]
    reference = {r["id"]: r for r in json.loads((args.reference / "report.json").read_text())["results"]}
    differ = [r["id"] for r in ours if numbers(r) != numbers(reference.get(r["id"], {}))]
    print(f"{time.perf_counter() - start:.0f} s; studies whose numbers differ from the reference: {differ or 'none'}")


if __name__ == "__main__":
    main()
