"""FCN on scenes of MNIST digits (96x96, 1-4 digits, 11 classes) and on ISBI 2012 membranes.

Backbone: the zoo's vgg11 (batch norm, 1/4 width) in its small-input layout (three poolings, stride 8), so the
skips come from strides 2 and 4 and FCN-8s predicts at stride 2. With the paper's stride-32 backbone FCN-8s
predicts at stride 8, too coarse for 2-4 pixel pen strokes: even the true class fractions of each 8x8 cell,
upsampled bilinearly, score only mIoU 0.155 on these scenes (0.469 at stride 4, 0.846 at stride 2).

1. FCN-8s trained for a wall-clock budget (default 10 minutes): held-out mIoU, seconds, images/s.
2. FCN-32s, FCN-16s, FCN-8s at an equal budget (same epochs, data, seed, optimizer): mIoU side by side,
   and their training-step times measured round-robin (>= 7 repeats, medians).
3. isbi2012-membrane (when ../shared/data is present): a small FCN-8s at 128x128; membrane IoU against the
   majority-class baseline (all "not membrane", membrane IoU 0) and against "all membrane".

    OMP_NUM_THREADS=2 python benchmarks/fcn_scenes.py [--minutes 10] [--compare-epochs 4] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from dlbasic.callbacks import Callback
from dlbasic.models import create_model
from dlbasic.segmentation.data import load_segmentation
from dlbasic.segmentation.metrics import confusion_matrix, iou_per_class
from dlbasic.segmentation.train import segmentation_config, train_segmentation
from dlbasic.training.device import autocast_dtype, resolve_channels_last, resolve_precision

ISBI = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "isbi2012-membrane"


class TimeBudget(Callback):
    """Stops training once `seconds` of training time have passed (checked after every step)."""

    def __init__(self, seconds: float):
        self.seconds, self.start = seconds, None

    def on_fit_start(self, trainer) -> None:
        self.start = time.perf_counter()

    def on_batch_end(self, trainer, logs) -> None:
        if time.perf_counter() - self.start > self.seconds:
            trainer.stop_training = True


STRIDE = {"stride": 8}  # backbone stride 8: FCN-8s predicts at stride 2 (see the module docstring)


def run(model: str, data: str, epochs: int, seconds: float | None = None, **kw) -> dict:
    cfg = segmentation_config(
        model=model, data=data, epochs=epochs, device="cpu", scheduler="cosine", model_options=dict(STRIDE), **kw
    )
    start = time.perf_counter()
    s = train_segmentation(cfg, callbacks=[TimeBudget(seconds)] if seconds else None, progress=False)
    return {
        "model": model,
        "test_mean_iou": s["test_mean_iou"],
        "test_pixel_accuracy": s["test_pixel_accuracy"],
        "test_iou": s["test_iou"],
        "epochs": s["epochs"],
        "seconds": time.perf_counter() - start,
        "train_seconds": s["seconds"],
        "images_per_second": s["images_per_second"],
        "summary": s,
    }


def step_times(models: list[str], repeats: int = 7, batch: int = 32) -> dict[str, float]:
    """Median seconds of one forward+backward+Adam step on a 96x96 batch, models interleaved round-robin,
    in the precision and memory format the trainer resolves for them (`--precision auto`)."""
    cpu = torch.device("cpu")
    precision = resolve_precision(segmentation_config().precision, cpu)
    dtype = autocast_dtype(precision)
    nets = {m: create_model(m, 11, 1, 96, **STRIDE) for m in models}
    formats = {
        m: torch.channels_last if resolve_channels_last(None, cpu, n) else torch.contiguous_format
        for m, n in nets.items()
    }
    nets = {m: n.to(memory_format=formats[m]) for m, n in nets.items()}
    opts = {m: torch.optim.Adam(n.parameters(), 1e-3) for m, n in nets.items()}
    x, y = torch.rand(batch, 1, 96, 96), torch.randint(0, 11, (batch, 96, 96))
    times: dict[str, list[float]] = {m: [] for m in models}
    for r in range(repeats + 1):
        for m in models:
            t = time.perf_counter()
            with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                loss = F.cross_entropy(nets[m](x.contiguous(memory_format=formats[m])).float(), y)
            opts[m].zero_grad()
            loss.backward()
            opts[m].step()
            if r:  # the first round warms up
                times[m].append(time.perf_counter() - t)
    return {m: statistics.median(v) for m, v in times.items()}


def isbi(epochs: int, size: int) -> dict | None:
    if not ISBI.is_dir():
        return None
    spec = f"segfolder:{ISBI.resolve()},invert=1,size={size}"  # label PNGs: black = membrane (class 1 here)
    r = run("fcn8s_vgg11", spec, epochs, batch_size=4, lr=3e-3, val_fraction=0.1, test_fraction=0.2)
    test = load_segmentation(spec, "test")
    truth = test.labels
    out = {
        "model_membrane_iou": r["test_iou"]["1"],
        "model_mean_iou": r["test_mean_iou"],
        "test_images": len(test),
        "size": size,
        "epochs": epochs,
        "seconds": r["seconds"],
        "membrane_fraction": float((truth == 1).float().mean()),
    }
    for name, fill in (("majority", 0), ("all_membrane", 1)):
        cm = confusion_matrix(torch.full_like(truth, fill), truth, 2)
        out[f"{name}_membrane_iou"] = float(iou_per_class(cm)[1].nan_to_num(0.0))
        out[f"{name}_mean_iou"] = float(iou_per_class(cm).nan_to_num(0.0).mean())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="training budget of the FCN-8s run (0: skip it)")
    p.add_argument("--count", type=int, default=2000, help="training scenes (val and test get a quarter each)")
    p.add_argument("--compare-epochs", type=int, default=3, help="epochs of each variant in the comparison")
    p.add_argument("--isbi-epochs", type=int, default=30)
    p.add_argument("--quick", action="store_true", help="tiny budgets, to check the script runs")
    args = p.parse_args()
    if args.quick:
        args.minutes, args.count, args.compare_epochs, args.isbi_epochs = 0.3, 200, 1, 2
    data = f"scenes:canvas=96,digits=1-4,count={args.count}"
    threads = torch.get_num_threads()

    variants = ["fcn32s_vgg11", "fcn16s_vgg11", "fcn8s_vgg11"]
    steps = step_times(variants)
    # the cosine schedule needs a length: the epochs the measured step time allows, with 25 % for validation
    # and data handling (the budget still stops it)
    epochs = max(1, int(60 * args.minutes / (steps["fcn8s_vgg11"] / 32 * args.count * 1.25)))
    main_run = run("fcn8s_vgg11", data, epochs=epochs, seconds=60 * args.minutes) if args.minutes > 0 else None
    compare = {m: run(m, data, args.compare_epochs) for m in variants}
    membrane = isbi(args.isbi_epochs, 128)

    if main_run:
        print(f"FCN-8s (vgg11 1/4 width, backbone stride 8) on {data}, {threads} threads, budget {args.minutes:g} min")
        print(
            f"  held-out mIoU {main_run['test_mean_iou']:.3f}  pixel acc {main_run['test_pixel_accuracy']:.3f}  "
            f"epochs {main_run['epochs']}  train {main_run['train_seconds']:.0f} s  "
            f"{main_run['images_per_second']:.0f} images/s"
        )
    print(f"\nequal budget: {args.compare_epochs} epochs each; step time = median of 7 round-robin steps (batch 32)")
    print(f"{'model':18s} {'mIoU':>6s} {'pix acc':>8s} {'seconds':>8s} {'step ms':>8s}")
    for m, r in compare.items():
        print(
            f"{m:18s} {r['test_mean_iou']:6.3f} {r['test_pixel_accuracy']:8.3f} {r['seconds']:8.0f} "
            f"{1000 * steps[m]:8.0f}"
        )
    if membrane:
        print(
            f"\nisbi2012-membrane at {membrane['size']}px, {membrane['epochs']} epochs, "
            f"{membrane['test_images']} held-out images"
        )
        print(
            f"  membrane IoU: FCN-8s {membrane['model_membrane_iou']:.3f}, majority baseline "
            f"{membrane['majority_membrane_iou']:.3f}, all-membrane {membrane['all_membrane_membrane_iou']:.3f}"
        )
        print(
            f"  mean IoU:     FCN-8s {membrane['model_mean_iou']:.3f}, majority baseline "
            f"{membrane['majority_mean_iou']:.3f}"
        )
    print(
        json.dumps(
            {
                "bench": "fcn_scenes",
                "threads": threads,
                "budget_minutes": args.minutes,
                **(
                    {
                        "fcn8s_miou": round(main_run["test_mean_iou"], 4),
                        "fcn8s_seconds": round(main_run["train_seconds"], 1),
                        "fcn8s_images_per_s": round(main_run["images_per_second"], 1),
                        "fcn8s_epochs": main_run["epochs"],
                    }
                    if main_run
                    else {}
                ),
                "compare_epochs": args.compare_epochs,
                **{f"equal_budget_{m.split('_')[0]}_miou": round(r["test_mean_iou"], 4) for m, r in compare.items()},
                **{f"{m.split('_')[0]}_step_ms": round(1000 * t, 1) for m, t in steps.items()},
                **(
                    {f"isbi_{k}": round(v, 4) if isinstance(v, float) else v for k, v in membrane.items()}
                    if membrane
                    else {}
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
