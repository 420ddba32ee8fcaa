"""Batched augmentation throughput: flip + random resized crop + rotation + CutMix on 256 x 1 x 28 x 28.

Three things timed round-robin in one process (these machines drift +-30 % between runs), medians:
  batched   `Augment(["flip", "crop", "rotate"])` then `Mix(cutmix_alpha=1)` on the whole batch;
  loop      the same per sample in a Python loop, as a per-image dataset transform would do it: each
            sample draws its own theta, lam and box and is warped / pasted alone (same primitives, batch 1);
  train     one simple_cnn training step (forward, cross entropy, backward, Adam step) on the same batch.
Before timing, the loop is run on the batched pipeline's own parameters and must give the same output.

    python benchmarks/augment_throughput.py [--repeats 9] [--batch 256]

The last line is one JSON object: {"bench": "augment_throughput", "speedup_vs_loop": ..., ...}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from dlbasic.data.transforms import Augment, sample_affine, warp_images
from dlbasic.models import create_model
from dlbasic.regularization.mixing import Mix, box_lambda, partner_index, rand_box, sample_beta

NAMES = ["flip", "crop", "rotate"]


def batched(aug: Augment, mix: Mix, x: torch.Tensor, y: torch.Tensor, g: torch.Generator):
    x, y = aug(x, y, g)
    return mix(x, y, g)


def loop(
    aug: Augment, x: torch.Tensor, y: torch.Tensor, g: torch.Generator, num_classes: int, given: tuple | None = None
):
    """Per-sample reference. `given` = (theta, boxes, lam, index) replays the batched draws instead."""
    b, _, h, w = x.shape
    index = given[3] if given else partner_index(b, g)
    warped = []
    for i in range(b):  # 1) geometric augmentation, one image at a time
        theta = given[0][i : i + 1] if given else sample_affine(1, h, w, NAMES, g, **aug.options)
        warped.append(warp_images(x[i : i + 1], theta))
    x = torch.cat(warped)
    out, targets = [], []
    for i in range(b):  # 2) CutMix, one image at a time, pasting a slice of its partner
        if given:
            box, lam = given[1][i], float(given[2][i])
        else:
            box = rand_box(h, w, sample_beta(1.0, 1, g), g)[0]
            lam = float(box_lambda(box.view(1, 4), h, w))
        x1, y1, x2, y2 = box.tolist()
        img = x[i].clone()
        img[:, y1:y2, x1:x2] = x[index[i], :, y1:y2, x1:x2]
        out.append(img)
        target = torch.zeros(num_classes)
        target[y[i]] += lam
        target[y[index[i]]] += 1 - lam
        targets.append(target)
    return torch.stack(out), torch.stack(targets)


def check_equal(aug: Augment, mix: Mix, x: torch.Tensor, y: torch.Tensor) -> float:
    """Largest difference between the batched pipeline and the loop replaying its draws."""
    g = torch.Generator().manual_seed(0)
    theta = aug.sample(x.shape[0], 28, 28, g)
    params = mix.sample(x.shape[0], 28, 28, g)
    ref_x, ref_t = loop(aug, x, y, g, mix.num_classes, (theta, params.boxes, params.lam, params.index))
    got_x, got_t = mix.apply(warp_images(x, theta), y, params)
    return max((got_x - ref_x).abs().max().item(), (got_t - ref_t).abs().max().item())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    torch.manual_seed(0)
    x = torch.rand(args.batch, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch,))
    aug = Augment(NAMES)
    mix = Mix(cutmix_alpha=1.0, per_sample=True, num_classes=10)
    max_diff = check_equal(aug, mix, x, y)
    assert max_diff < 1e-6, f"loop and batched pipelines disagree by {max_diff}"

    model = create_model("simple_cnn", 10, 1, 28)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    g = torch.Generator().manual_seed(1)
    runs = {
        "batched": lambda: batched(aug, mix, x, y, g),
        "loop": lambda: loop(aug, x, y, g, 10),
        "train_step": train_step,
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    for fn in runs.values():  # warm-up
        fn()
    for _ in range(args.repeats):  # round-robin
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    speedup = med["loop"] / med["batched"]
    share = med["batched"] / med["train_step"]

    print(
        f"augment throughput, batch {args.batch} x 1 x 28 x 28, flip+crop+rotate+CutMix, "
        f"{args.repeats} round-robin repeats, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"{'pipeline':<12}{'median ms':>12}{'min ms':>10}{'max ms':>10}")
    for k, v in times.items():
        print(f"{k:<12}{1e3 * med[k]:>12.2f}{1e3 * min(v):>10.2f}{1e3 * max(v):>10.2f}")
    print(
        f"batched vs loop: {speedup:.1f}x faster (bar >= 10x); batched / train step: {100 * share:.1f} % "
        f"(bar < 10 %); loop replaying batched draws: max |diff| {max_diff:.1e}"
    )
    print(
        json.dumps(
            {
                "bench": "augment_throughput",
                "batch": args.batch,
                "repeats": args.repeats,
                "batched_ms": round(1e3 * med["batched"], 3),
                "loop_ms": round(1e3 * med["loop"], 3),
                "train_step_ms": round(1e3 * med["train_step"], 3),
                "speedup_vs_loop": round(speedup, 2),
                "fraction_of_train_step": round(share, 4),
                "loop_max_abs_diff": max_diff,
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "pass": bool(speedup >= 10 and share < 0.10),
            }
        )
    )


if __name__ == "__main__":
    main()
