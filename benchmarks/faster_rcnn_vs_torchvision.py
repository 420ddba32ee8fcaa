"""Our Faster R-CNN beside torchvision's, configured alike: training step time, inference time, mAP.

torchvision's `FasterRCNN` is built around the same backbone module (`SmallBackbone`, which already has
`out_channels`; a deep copy, so both start from the same weights) and every other weight is copied from
ours, so both detectors start identical. Matched settings (ours -> torchvision's argument):

* anchors: sizes (12, 20, 32), ratios (1, 2) on the stride-4 map; torchvision puts anchors at the cell
  corners, ours at the cell centres (offset 0.5), so its base anchors are shifted by half a stride: the
  same anchors, in the same order;
* RPN: `RPNHead` with the same 3x3 conv and 1x1 convs; pre-NMS top-n 600 / 300 (train / test), post-NMS
  top-n 150 / 50, NMS 0.7, fg / bg IoU 0.7 / 0.3, 256 anchors per image, positive fraction 0.5, box
  weights (1, 1, 1, 1), smooth L1 beta 1/9 over the sampled anchors; minimum proposal size 1 pixel
  (torchvision's attribute `rpn.min_size`, 1e-3 by default, set to ours);
* RoI heads: RoI max pooling 4x4 at scale 1/4 (torchvision.ops.roi_pool, equal to ours bit for bit,
  in place of torchvision's MultiScaleRoIAlign), two fc layers of 256 (TwoMLPHead), class and box
  layers (FastRCNNPredictor); fg / bg IoU 0.5 / 0.5, 64 regions per image, positive fraction 0.25, box
  weights (10, 10, 5, 5), ground truth added to the proposals; score threshold 0.05, NMS 0.5,
  100 detections per image;
* transform: min_size = max_size = the image size, image_mean 0 and image_std 1, so torchvision neither
  rescales nor normalizes (it still runs the identity interpolation and copies into a padded batch);
* training: the same batches in the same order, Adam (dlbasic.optim, lr 2e-3, weight decay 1e-4), linear
  warm-up and cosine decay per step (dlbasic.training.schedules), the same number of steps.

Differences left: torchvision's Fast R-CNN box loss uses smooth L1 beta 1/9, ours beta 1 (the paper);
torchvision's RPN decodes the deltas of every anchor before its top-n, ours only of the top-n; it keeps
proposals with sigmoid(objectness) >= 0 (all) and runs NMS per level (one level here); its detections drop
boxes under 0.01 pixels, ours under 1; its samplers draw from the global random stream, ours from a seeded
generator (different samples); its labels are 1..K (converted back for evaluation); it takes a list of
images and returns boxes scaled back by 1.0.

Training steps are timed round-robin (ours, then torchvision's, alternating which goes first), each step
forward + backward + optimizer + scheduler; inference one image at a time, round-robin over `--repeats`
rounds; medians. mAP with `evaluate_detections` on the same test images.

    /tmp/tvenv/bin/python benchmarks/faster_rcnn_vs_torchvision.py [--seeds 0,1,2] [--epochs 4] [--profile]

Needs an environment where torchvision imports (e.g. torch 2.14.1 + torchvision 0.29.1).
Measured on a shared 2-core machine (torch 2.14.1, torchvision 0.29.1, seeds 0-2, 248 steps): training step
ours / torchvision 1.43, 1.48 (loaded), 1.17 (quiet) while our RPN ran the blocked torch NMS; with the compiled
NMS kernel and batched box coding, two runs (loaded, load average 2-9 and 1-4): 0.74, 0.76, 0.78 and 0.77, 0.76,
0.81 per seed (0.79 and 0.78 over all steps); inference per image 0.81 and 0.94 (was 1.09); mAP unchanged,
0.30-0.35 for both (the same values: our results are bit-identical to before).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch
from torch import nn

from dlbasic.detection.data.splits import load_split
from dlbasic.detection.metrics import evaluate_detections
from dlbasic.detection.models.registry import build_detector
from dlbasic.optim import create_optimizer
from dlbasic.training.schedules import create_scheduler

DATA = "scenes:canvas=96,digits=1-4,scale=0.8-1.6,count=1000"


def roi_max_pool(output_size: int, spatial_scale: float) -> nn.Module:
    """torchvision's `box_roi_pool` (it must be a MultiScaleRoIAlign) doing RoI max pooling on feature map "0"."""
    from torchvision.ops import MultiScaleRoIAlign, roi_pool

    class RoIMaxPool(MultiScaleRoIAlign):
        def forward(self, features, proposals, image_shapes):
            return roi_pool(features["0"], proposals, output_size, spatial_scale)

    return RoIMaxPool(["0"], output_size, 0)


def torchvision_twin(ours: nn.Module, num_classes: int, image_size: int) -> nn.Module:
    """torchvision's FasterRCNN with our settings and a copy of our weights."""
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.rpn import RPNHead

    rpn, heads = ours.rpn, ours.roi_heads
    gen = rpn.anchor_generator
    anchors = AnchorGenerator(tuple(tuple(int(s) for s in x) for x in gen.sizes), tuple(gen.aspect_ratios))
    stride = ours.backbone.stride
    anchors.cell_anchors = [a + gen.offset * stride for a in anchors.cell_anchors]  # cell centres, as ours
    backbone = copy.deepcopy(ours.backbone)  # has out_channels
    c = backbone.out_channels
    pool = heads.pooler
    model = FasterRCNN(
        backbone,
        num_classes=None,
        min_size=image_size,
        max_size=image_size,
        image_mean=[0.0] * ours.backbone.body[0][0].in_channels,
        image_std=[1.0] * ours.backbone.body[0][0].in_channels,
        rpn_anchor_generator=anchors,
        rpn_head=RPNHead(c, anchors.num_anchors_per_location()[0]),
        rpn_pre_nms_top_n_train=rpn.pre_nms_top_n["training"],
        rpn_pre_nms_top_n_test=rpn.pre_nms_top_n["testing"],
        rpn_post_nms_top_n_train=rpn.post_nms_top_n["training"],
        rpn_post_nms_top_n_test=rpn.post_nms_top_n["testing"],
        rpn_nms_thresh=rpn.nms_thresh,
        rpn_fg_iou_thresh=rpn.matcher.high_threshold,
        rpn_bg_iou_thresh=rpn.matcher.low_threshold,
        rpn_batch_size_per_image=rpn.sampler.batch_size_per_image,
        rpn_positive_fraction=rpn.sampler.positive_fraction,
        box_roi_pool=roi_max_pool(pool.output_size, pool.spatial_scale),
        box_head=TwoMLPHead(pool.out_features(c), heads.head.fc[0].out_features),
        box_predictor=FastRCNNPredictor(heads.head.fc[2].out_features, num_classes + 1),
        box_score_thresh=heads.score_thresh,
        box_nms_thresh=heads.nms_thresh,
        box_detections_per_img=heads.detections_per_img,
        box_fg_iou_thresh=heads.matcher.high_threshold,
        box_bg_iou_thresh=heads.matcher.low_threshold,
        box_batch_size_per_image=heads.sampler.batch_size_per_image,
        box_positive_fraction=heads.sampler.positive_fraction,
        bbox_reg_weights=heads.box_coder.weights,
    )
    model.rpn.min_size = rpn.min_size
    theirs = [p for n, p in model.named_parameters() if not n.startswith("backbone.")]
    mine = [p for n, p in ours.named_parameters() if not n.startswith("backbone.")]
    assert [p.shape for p in theirs] == [p.shape for p in mine], "the two detectors' layers differ"
    with torch.no_grad():
        for p, q in zip(theirs, mine):
            p.copy_(q)
    return model


def tv_targets(targets):
    return [{"boxes": t["boxes"].float(), "labels": t["labels"].long() + 1} for t in targets]


def run_ours(model, images, targets=None):
    return model(images, targets)


def run_tv(model, images, targets=None):
    out = model(list(images), tv_targets(targets) if targets is not None else None)
    if model.training:
        return out
    return [{**d, "labels": d["labels"] - 1} for d in out]


RUN = {"ours": run_ours, "torchvision": run_tv}


@torch.no_grad()
def predict(name, model, images, batch=16):
    model.eval()
    out = []
    for s in range(0, len(images), batch):
        out.extend(RUN[name](model, images[s : s + batch]))
    return out


def train_pair(models, split, epochs, batch_size, seed):
    """Train both on the same batches; returns each one's step times (seconds)."""
    opts, scheds = {}, {}
    n = len(split.train_images)
    steps = n // batch_size
    for name, m in models.items():
        m.train()
        opts[name] = create_optimizer(
            "adam", [p for p in m.parameters() if p.requires_grad], lr=2e-3, weight_decay=1e-4
        )
        scheds[name] = create_scheduler(
            "cosine", opts[name], epochs=epochs, steps_per_epoch=steps, warmup_steps=min(50, epochs * steps // 10)
        )
    times = {name: [] for name in models}
    g = torch.Generator().manual_seed(seed)
    k = 0
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        for s in range(steps):
            idx = perm[s * batch_size : (s + 1) * batch_size]
            images = split.train_images[idx]
            targets = [split.train_targets[i] for i in idx.tolist()]
            order = list(models) if k % 2 == 0 else list(reversed(models))
            for name in order:
                start = time.perf_counter()
                losses = RUN[name](models[name], images, targets)
                loss = sum(losses.values())
                opts[name].zero_grad(set_to_none=True)
                loss.backward()
                opts[name].step()
                scheds[name].step()
                times[name].append(time.perf_counter() - start)
            k += 1
    for m in models.values():
        m.eval()
    return times, steps * epochs


def profile_step(model, split, batch_size):
    """Top 10 ops by self CPU time of one training step of ours (after a warm-up step), and the cProfile top 10."""
    import cProfile
    import io
    import pstats

    from torch.profiler import ProfilerActivity, profile

    model.train()
    opt = create_optimizer("adam", model.parameters(), lr=1e-5, weight_decay=1e-4)
    images, targets = split.train_images[:batch_size], split.train_targets[:batch_size]

    def step():
        loss = sum(model(images, targets).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))
    pr = cProfile.Profile()
    pr.enable()
    step()
    pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(10)
    print(s.getvalue())
    model.eval()


def main() -> None:
    import torchvision  # fails early where torchvision does not import

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=DATA)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--train-limit", type=int, default=0)
    p.add_argument("--test-limit", type=int, default=0)
    p.add_argument("--timed-images", type=int, default=16)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--profile", action="store_true", help="also profile one training step of ours")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    split = load_split(args.data, train_limit=args.train_limit, test_limit=args.test_limit)
    num_classes, size = len(split.classes), split.train_images.shape[-1]
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    step_times = {"ours": [], "torchvision": []}
    last = None
    for seed in seeds:
        ours = build_detector("faster_rcnn", num_classes, split.train_images.shape[1], seed=seed)
        models = {"ours": ours, "torchvision": torchvision_twin(ours, num_classes, size)}
        times, steps = train_pair(models, split, args.epochs, args.batch_size, seed)
        row = {"seed": seed, "steps": steps}
        for name, m in models.items():
            step_times[name] += times[name][1:]  # the first step warms up
            row[f"{name}_step_ms"] = 1000 * statistics.median(times[name][1:])
            metrics = evaluate_detections(predict(name, m, split.test_images), list(split.test_targets))
            row[f"{name}_map"], row[f"{name}_map_50"] = metrics["map"], metrics["map_50"]
        print(
            f"seed {seed}: {steps} steps; step ms ours {row['ours_step_ms']:.1f} torchvision "
            f"{row['torchvision_step_ms']:.1f}; map ours {row['ours_map']:.3f} "
            f"torchvision {row['torchvision_map']:.3f}",
            flush=True,
        )
        rows.append(row)
        last = models
    timed = split.test_images[: args.timed_images]
    infer = {name: [] for name in last}
    with torch.no_grad():
        for r in range(args.repeats):
            for name in list(last) if r % 2 == 0 else list(reversed(last)):
                start = time.perf_counter()
                for i in range(len(timed)):
                    RUN[name](last[name], timed[i : i + 1])
                infer[name].append((time.perf_counter() - start) / len(timed))
    step = {k: statistics.median(v) for k, v in step_times.items()}
    per_image = {k: statistics.median(v) for k, v in infer.items()}
    print(
        f"\n{'seed':>4} {'steps':>5} {'ours ms':>8} {'tv ms':>8} "
        f"{'ours map':>8} {'tv map':>8} {'ours m50':>8} {'tv m50':>8}"
    )
    for r in rows:
        print(
            f"{r['seed']:4d} {r['steps']:5d} {r['ours_step_ms']:8.1f} {r['torchvision_step_ms']:8.1f} "
            f"{r['ours_map']:8.3f} {r['torchvision_map']:8.3f} {r['ours_map_50']:8.3f} {r['torchvision_map_50']:8.3f}"
        )
    print(
        f"training step (median of all seeds): ours {1000 * step['ours']:.1f} ms, torchvision "
        f"{1000 * step['torchvision']:.1f} ms, ours / torchvision {step['ours'] / step['torchvision']:.2f}"
    )
    print(
        f"inference per image (last seed's models, median of {args.repeats}): ours {1000 * per_image['ours']:.2f} ms, "
        f"torchvision {1000 * per_image['torchvision']:.2f} ms, ours / torchvision "
        f"{per_image['ours'] / per_image['torchvision']:.2f}"
    )
    if args.profile:
        profile_step(last["ours"], split, args.batch_size)
    print(
        json.dumps(
            {
                "bench": "faster_rcnn_vs_torchvision",
                "data": args.data,
                "train_images": len(split.train_images),
                "test_images": len(split.test_images),
                "threads": args.threads,
                "repeats": args.repeats,
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "seeds": seeds,
                "torch": torch.__version__,
                "torchvision": torchvision.__version__,
                "ours_step_ms": round(1000 * step["ours"], 2),
                "torchvision_step_ms": round(1000 * step["torchvision"], 2),
                "step_ratio": round(step["ours"] / step["torchvision"], 3),
                "ours_ms_per_image": round(1000 * per_image["ours"], 3),
                "torchvision_ms_per_image": round(1000 * per_image["torchvision"], 3),
                "inference_ratio": round(per_image["ours"] / per_image["torchvision"], 3),
                "ours_map": [round(r["ours_map"], 4) for r in rows],
                "torchvision_map": [round(r["torchvision_map"], 4) for r in rows],
                "ours_map_50": [round(r["ours_map_50"], 4) for r in rows],
                "torchvision_map_50": [round(r["torchvision_map_50"], 4) for r in rows],
            }
        )
    )


if __name__ == "__main__":
    main()
