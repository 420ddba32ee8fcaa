"""Trainer throughput vs a bare hand-written PyTorch loop: same model, data, batch and optimizer.

Each runs one pass over the same 1,280 training images (20 steps of 64) with simple_cnn and Adam,
alternating (round-robin) so machine drift hits all alike; the medians of images/s are compared.
The datasets keep 8-bit images as uint8 and the Trainer converts each batch (`ImageDataset.batch`),
so the bare loop does what a hand-written loop over the same data does: it takes the dataset's uint8
images and converts each batch itself (`x[idx].float().div_(255)`). `bare_float` is the loop over a
float32 copy of the whole set made beforehand (the old storage), for context; the bar is against `bare`.
Besides wall time, each pass's process CPU time is recorded: with one torch thread it is the work done,
which other processes on a busy machine do not inflate (they only add wall time).
Sources: mnist5k, and a `folder:` of 4,000 28x28 JPEGs made from mnist5k digits in /tmp (its
pixels memory-mapped from the decode cache, here a temporary folder).
Bar: trainer / bare >= 0.95 for each source.

    python benchmarks/train_throughput.py [--repeats 9] [--steps 20] [--batch-size 64] [--folder-count 4000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from dlbasic.data import load
from dlbasic.models import create_model
from dlbasic.training import Trainer


def bare_epoch(model, opt, x_all, y_all, mean, std, batch_size, seed):
    """The loop a user writes by hand: shuffle, slice, convert uint8, normalize, forward, loss, backward, step."""
    model.train()
    order = torch.randperm(len(y_all), generator=torch.Generator().manual_seed(seed))
    total, correct = 0.0, 0
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        x = x_all[idx]
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x
        x, y = (x - mean) / std, y_all[idx]
        out = model(x)
        loss = F.cross_entropy(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
        correct += (out.argmax(1) == y).sum().item()
    return total, correct


def measure(data, args) -> dict:
    """Round-robin medians of images/s of the Trainer and the bare loops on one pass over `data`."""
    mean, std = data.mean.view(1, -1, 1, 1), data.std.view(1, -1, 1, 1)
    pixels = data.pixels if data.rows is None else data.pixels[data.rows]  # the dataset's own (uint8) images
    floats = data.images  # a float32 copy of the whole set, made beforehand
    torch.manual_seed(0)
    models = [create_model("simple_cnn", 10, data.in_channels, data.image_size) for _ in range(3)]
    for m in models[1:]:
        m.load_state_dict(models[0].state_dict())
    opts = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in models]
    trainer = Trainer(models[0], opts[0], data, None, epochs=1, batch_size=args.batch_size, progress=False)

    def run_trainer():
        trainer.sums, trainer.batch_in_epoch = {}, 0
        trainer.train_epoch()

    runs = {
        "trainer": run_trainer,
        "bare": lambda: bare_epoch(models[1], opts[1], pixels, data.labels, mean, std, args.batch_size, 0),
        "bare_float": lambda: bare_epoch(models[2], opts[2], floats, data.labels, mean, std, args.batch_size, 0),
    }
    for fn in runs.values():  # warm-up (allocator, kernels)
        fn()
    times, cpu = {k: [] for k in runs}, {k: [] for k in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            times[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    return {
        k: (len(data) / statistics.median(v), min(v), max(v), len(data) / statistics.median(cpu[k]))
        for k, v in times.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--folder-count", type=int, default=4000)
    args = ap.parse_args()

    from folder_load import make_digit_folder

    folder = make_digit_folder(
        Path(tempfile.gettempdir()) / f"dlbasic-folder-{args.folder_count}-28", args.folder_count, size=28, mode="L"
    )
    out = {"bench": "train_throughput", "repeats": args.repeats, "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory(prefix="dlbasic-cache-") as cache:
        os.environ["DLBASIC_CACHE"] = cache
        for name, spec in (("mnist5k", "mnist5k"), ("folder", f"folder:{folder}")):
            data = load(spec, "train", image_size=28 if name == "folder" else None)
            data = data.subset(torch.arange(args.steps * args.batch_size))
            ips = measure(data, args)
            ratio, vs_float = ips["trainer"][0] / ips["bare"][0], ips["trainer"][0] / ips["bare_float"][0]
            cpu_ratio, cpu_vs_float = ips["trainer"][3] / ips["bare"][3], ips["trainer"][3] / ips["bare_float"][3]
            print(
                f"simple_cnn on {spec} (pixels {data.pixels.dtype}), batch {args.batch_size}, {len(data)} images "
                f"per pass, {args.repeats} repeats (round-robin, medians), torch {torch.__version__}, "
                f"{torch.get_num_threads()} threads"
            )
            print(f"{'loop':<12}{'images/s':>12}{'spread (min..max s)':>26}{'images/CPU s':>16}")
            for k in ("bare", "bare_float", "trainer"):
                print(f"{k:<12}{ips[k][0]:>12.0f}{ips[k][1]:>14.3f}..{ips[k][2]:<10.3f}{ips[k][3]:>16.0f}")
            print(f"trainer / bare = {ratio:.3f} (bar >= 0.95); trainer / bare_float = {vs_float:.3f}")
            print(f"by CPU time: trainer / bare = {cpu_ratio:.3f}; trainer / bare_float = {cpu_vs_float:.3f}\n")
            out.update(
                {
                    f"{name}_trainer_images_per_s": round(ips["trainer"][0], 1),
                    f"{name}_bare_images_per_s": round(ips["bare"][0], 1),
                    f"{name}_ratio_vs_bare": round(ratio, 3),
                    f"{name}_ratio_vs_bare_float": round(vs_float, 3),
                    f"{name}_cpu_ratio_vs_bare": round(cpu_ratio, 3),
                    f"{name}_cpu_ratio_vs_bare_float": round(cpu_vs_float, 3),
                }
            )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
