"""Trainer throughput vs a bare hand-written PyTorch loop: same model, data, batch and optimizer.

Both run one pass over the same 1,280 training images (20 steps of 64) of mnist5k with
simple_cnn and Adam, alternating (round-robin) so machine drift hits both alike; the
medians of images/s are compared. Bar: trainer / bare >= 0.95.

    python benchmarks/train_throughput.py [--repeats 9] [--steps 20] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from dlbasic.data import load
from dlbasic.models import create_model
from dlbasic.training import Trainer


def bare_epoch(model, opt, x_all, y_all, mean, std, batch_size, seed):
    """The loop a user writes by hand: shuffle, slice, normalize, forward, loss, backward, step."""
    model.train()
    order = torch.randperm(len(y_all), generator=torch.Generator().manual_seed(seed))
    total, correct = 0.0, 0
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        x, y = (x_all[idx] - mean) / std, y_all[idx]
        out = model(x)
        loss = F.cross_entropy(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
        correct += (out.argmax(1) == y).sum().item()
    return total, correct


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()

    data = load("mnist5k", "train")
    data = data.subset(torch.arange(args.steps * args.batch_size))
    mean, std = data.mean.view(1, -1, 1, 1), data.std.view(1, -1, 1, 1)
    n = len(data)

    torch.manual_seed(0)
    model_a = create_model("simple_cnn", 10, 1, 28)
    model_b = create_model("simple_cnn", 10, 1, 28)
    model_b.load_state_dict(model_a.state_dict())
    opt_a = torch.optim.Adam(model_a.parameters(), lr=1e-3)
    opt_b = torch.optim.Adam(model_b.parameters(), lr=1e-3)
    trainer = Trainer(model_a, opt_a, data, None, epochs=1, batch_size=args.batch_size, progress=False)

    def run_trainer():
        trainer.sums, trainer.batch_in_epoch = {}, 0
        trainer.train_epoch()

    def run_bare():
        bare_epoch(model_b, opt_b, data.images, data.labels, mean, std, args.batch_size, 0)

    run_trainer()  # warm-up both (allocator, kernels)
    run_bare()
    times = {"trainer": [], "bare": []}
    for _ in range(args.repeats):
        for name, fn in (("trainer", run_trainer), ("bare", run_bare)):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    ips = {k: n / statistics.median(v) for k, v in times.items()}
    ratio = ips["trainer"] / ips["bare"]
    print(f"simple_cnn on mnist5k, batch {args.batch_size}, {n} images per pass, {args.repeats} repeats "
          f"(round-robin, medians), torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'loop':<10}{'images/s':>12}{'spread (min..max s)':>26}")
    for k in ("bare", "trainer"):
        print(f"{k:<10}{ips[k]:>12.0f}{min(times[k]):>14.3f}..{max(times[k]):.3f}")
    print(f"trainer / bare = {ratio:.3f} (bar >= 0.95)")
    print(json.dumps({"bench": "train_throughput", "trainer_images_per_s": round(ips["trainer"], 1),
                      "bare_images_per_s": round(ips["bare"], 1), "ratio_vs_bare": round(ratio, 3)}))


if __name__ == "__main__":
    main()
