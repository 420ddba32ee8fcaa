"""Training and evaluating the detectors: a factory by name, a data split, the loop, mAP and speed.

Every detector is an `nn.Module` taking a batch Tensor[N, C, H, W] in [0, 1] (one image size per
batch) and targets; it returns a dict of losses in training mode and one dict of `boxes`,
`scores`, `labels` per image in eval mode. `fit` minimizes the sum of the losses with an optimizer
from `dlbasic.optim`; R-CNN then fits its SVMs and box regressors on the frozen features (its
stages 2 and 3). `evaluate` reports `evaluate_detections` and the seconds per image of a full
forward pass, proposals included (selective search runs uncached when timing).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dlbasic.config import DEFAULT_LR, DETECTORS, DetectionConfig
from dlbasic.detection.datasets import DetectionSet, load_detection
from dlbasic.detection.fast_rcnn import fast_rcnn
from dlbasic.detection.faster_rcnn import faster_rcnn
from dlbasic.detection.metrics import evaluate_detections
from dlbasic.detection.rcnn import RCNN, SelectiveSearchProposals
from dlbasic.detection.sppnet import sppnet
from dlbasic.detection.transforms import resize
from dlbasic.detection.yolo_v1 import YOLOv1
from dlbasic.errors import check, did_you_mean

USES_SELECTIVE_SEARCH = ("rcnn", "sppnet", "fast_rcnn")


def build_detector(name: str, num_classes: int, in_channels: int = 1, proposals: SelectiveSearchProposals | None = None,
                   seed: int = 0) -> nn.Module:
    """A detector by name, initialized from `seed`; the proposal-based ones share `proposals` (a cache)."""
    check(name in DETECTORS, f"unknown detector {name!r}", did_you_mean(name, DETECTORS))
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    proposals = proposals or SelectiveSearchProposals()
    if name == "rcnn":
        return RCNN(num_classes, in_channels, proposals, generator=g)
    if name == "sppnet":
        return sppnet(num_classes, in_channels, proposals, generator=g)
    if name == "fast_rcnn":
        return fast_rcnn(num_classes, in_channels, proposals, generator=g)
    if name == "faster_rcnn":
        model = faster_rcnn(num_classes, in_channels, generator=g)
        model.rpn.sampler.generator = g
        return model
    return YOLOv1(num_classes, in_channels)


@dataclass
class Split:
    """Training and test images as equal-size batches, with their classes."""

    train_images: Tensor  # [N, C, H, W]
    train_targets: list[dict[str, Tensor]]
    test_images: Tensor
    test_targets: list[dict[str, Tensor]]
    classes: list[str]


def _to_tensor(data: DetectionSet, size: int) -> tuple[Tensor, list[dict[str, Tensor]]]:
    images, targets = [], []
    for im, t in zip(data.images, data.targets):
        t = {"boxes": t["boxes"].float(), "labels": t["labels"].long()}
        if size and tuple(im.shape[-2:]) != (size, size):
            im, t = resize(im, t, (size, size))
        images.append(im)
        targets.append(t)
    sizes = {tuple(im.shape) for im in images}
    check(len(sizes) == 1, f"images have {len(sizes)} different sizes", "pass --image-size N to resize them")
    return torch.stack(images), targets


def load_split(spec: str, image_size: int = 0, train_limit: int = 0, test_limit: int = 0, seed: int = 0) -> Split:
    """`scenes` uses its own train/test splits; other formats are split 80/20 by a seeded permutation."""
    if spec.split(":")[0] == "scenes":
        train, test = load_detection(spec, split="train"), load_detection(spec, split="test")
    else:
        full = load_detection(spec)
        check(len(full) >= 2, f"{spec} has {len(full)} images; need at least 2 to split")
        perm = torch.randperm(len(full), generator=torch.Generator().manual_seed(seed)).tolist()
        cut = max(1, int(0.8 * len(full)))
        part = lambda idx: DetectionSet([full.images[i] for i in idx], [full.targets[i] for i in idx],  # noqa: E731
                                        full.classes)
        train, test = part(perm[:cut]), part(perm[cut:])
    x, y = _to_tensor(train, image_size)
    xt, yt = _to_tensor(test, image_size or x.shape[-1])
    n, m = train_limit or len(x), test_limit or len(xt)
    return Split(x[:n], y[:n], xt[:m], yt[:m], list(train.classes))


def fit(model: nn.Module, images: Tensor, targets: Sequence[dict[str, Tensor]], cfg: DetectionConfig,
        log: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, float]]:
    """Minimize the sum of the model's losses; R-CNN then fits its SVMs and regressors. Returns the history.

    Raises `Diverged` when a step's loss, or a weight at an epoch end, is NaN or infinite.
    """
    import math

    from dlbasic.errors import Diverged, number
    from dlbasic.optim import create_optimizer
    from dlbasic.training.schedules import create_scheduler

    params = [p for p in model.parameters() if p.requires_grad]
    opt = create_optimizer(cfg.optimizer, params, lr=cfg.lr or DEFAULT_LR[cfg.model], weight_decay=cfg.weight_decay)
    steps_per_epoch = -(-len(images) // cfg.batch_size)
    warmup = min(cfg.warmup_steps, cfg.epochs * steps_per_epoch // 10)  # short runs must not end warming up
    sched = create_scheduler(cfg.scheduler, opt, epochs=max(cfg.epochs, 1), steps_per_epoch=steps_per_epoch,
                             warmup_steps=warmup)
    g = torch.Generator().manual_seed(cfg.seed)
    history = []
    hint = "lower --lr or raise --warmup-steps"
    step, value = 0, float("nan")
    for epoch in range(cfg.epochs):
        model.train()
        start, sums, steps = time.perf_counter(), {}, 0
        for idx in torch.randperm(len(images), generator=g).split(cfg.batch_size):
            losses = model(images[idx], [targets[i] for i in idx.tolist()])
            loss = sum(losses.values())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            step, value = step + 1, float(loss.detach())
            if not math.isfinite(value):
                raise Diverged(epoch + 1, step, value, hint=hint)
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            steps += 1
        bad = next((k for k, t in model.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()),
                   None)
        if bad is not None:
            raise Diverged(epoch + 1, step, value, reason=f"weight {bad!r} is not finite (last loss {number(value)})",
                           hint=hint)
        row = {"epoch": epoch + 1, "loss": sum(sums.values()) / steps, **{k: v / steps for k, v in sums.items()},
               "seconds": time.perf_counter() - start}
        history.append(row)
        if log:
            log(row)
    if isinstance(model, RCNN):
        start = time.perf_counter()
        stats = model.fit_svms(images, targets)
        history.append({"stage": "svm", **stats, "seconds": time.perf_counter() - start})
    model.eval()
    return history


@torch.no_grad()
def predict(model: nn.Module, images: Tensor, batch_size: int = 16) -> list[dict[str, Tensor]]:
    """Detections for every image, in eval mode."""
    model.eval()
    out: list[dict[str, Tensor]] = []
    for s in range(0, len(images), batch_size):
        out.extend(model(images[s : s + batch_size]))
    return out


@torch.no_grad()
def seconds_per_image(model: nn.Module, images: Tensor, repeats: int = 1) -> float:
    """Median over `repeats` of the wall time of one image at a time, uncached proposals included."""
    model.eval()
    proposer = getattr(model, "proposals", None)
    cached = getattr(proposer, "cache", False)
    if proposer is not None:
        proposer.cache = False
    try:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for i in range(len(images)):
                model(images[i : i + 1])
            times.append((time.perf_counter() - start) / len(images))
    finally:
        if proposer is not None:
            proposer.cache = cached
    return sorted(times)[len(times) // 2]


def evaluate(model: nn.Module, images: Tensor, targets: Sequence[dict[str, Tensor]], timing_images: int = 16
             ) -> dict[str, Any]:
    """mAP numbers of `evaluate_detections` plus `seconds_per_image` on the first `timing_images` images."""
    metrics = evaluate_detections(predict(model, images), list(targets))
    keep = ("map", "map_50", "map_75", "mar_100", "voc_map_50")
    return {**{k: metrics[k] for k in keep}, "seconds_per_image": seconds_per_image(model, images[:timing_images])}


def train_detector(cfg: DetectionConfig, split: Split | None = None, run_dir: str | Path | None = None,
                   proposals: SelectiveSearchProposals | None = None,
                   log: Callable[[dict[str, Any]], None] | None = None, overwrite: bool = False
                   ) -> dict[str, Any]:
    """Build, train and evaluate one detector; with `run_dir`, write config, history and an atomic checkpoint.

    The run folder follows `dlbasic.outputs`: checked before the data is read, created (or, with
    `overwrite`, replaced) only once data and model are ready.
    """
    import json

    from dlbasic.outputs import check_dir, output_dir
    from dlbasic.training.checkpoint import atomic_save, atomic_write_text

    cfg.validate()
    if run_dir is not None:
        check_dir(run_dir, overwrite=overwrite)
    split = split or load_split(cfg.data, cfg.image_size, cfg.train_limit, cfg.test_limit, cfg.seed)
    proposals = proposals or SelectiveSearchProposals(cfg.proposals, cfg.max_proposals)
    model = build_detector(cfg.model, len(split.classes), split.train_images.shape[1], proposals, cfg.seed)
    if run_dir is None:
        return _train_and_evaluate(model, split, cfg, log)
    with output_dir(run_dir, command="detect train", overwrite=overwrite) as run_dir:
        atomic_write_text(json.dumps({"config": asdict(cfg)}, indent=2) + "\n", run_dir / "config.json")
        result = _train_and_evaluate(model, split, cfg, log)
        meta = {"kind": "detection", "config": asdict(cfg), "classes": list(split.classes),
                "in_channels": split.train_images.shape[1], "image_size": list(split.train_images.shape[-2:])}
        atomic_save({"model": model.state_dict(), **meta}, run_dir / "checkpoint.pt")
        shown = {k: v for k, v in result.items() if k != "detector"}
        atomic_write_text(json.dumps(shown, indent=2, default=float), run_dir / "summary.json")
    return result


def _train_and_evaluate(model: nn.Module, split: Split, cfg: DetectionConfig,
                        log: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
    start = time.perf_counter()
    history = fit(model, split.train_images, split.train_targets, cfg, log)
    train_seconds = time.perf_counter() - start
    result = {"model": cfg.model, "train_seconds": train_seconds, **evaluate(model, split.test_images,
                                                                             split.test_targets),
              "train_images": len(split.train_images), "test_images": len(split.test_images), "history": history}
    result["detector"] = model
    return result


def load_detector(path: str | Path, action: str = "eval") -> tuple[nn.Module, dict[str, Any]]:
    """A detector and its metadata from a `train_detector` checkpoint.

    `UserError` for a checkpoint of another kind (naming `dlbasic ... <action>` for it), missing or
    inconsistent metadata, or weights that do not fit the detector.
    """
    from dataclasses import fields

    from dlbasic.errors import UserError
    from dlbasic.training.checkpoint import load_checkpoint
    from dlbasic.training.run import load_weights, require_kind

    ckpt = load_checkpoint(path)
    require_kind(ckpt, path, "detection", action)
    hint = "use a checkpoint.pt written by dlbasic detect train"
    missing = [k for k in ("config", "classes", "in_channels", "image_size") if k not in ckpt]
    check(not missing, f"{path} lacks {', '.join(missing)}", hint)
    config, classes, size = ckpt["config"], ckpt["classes"], ckpt["image_size"]
    ok = (isinstance(config, dict) and isinstance(classes, list) and bool(classes)
          and all(isinstance(c, str) for c in classes) and isinstance(ckpt["in_channels"], int)
          and ckpt["in_channels"] > 0 and isinstance(size, (list, tuple)) and len(size) == 2
          and all(isinstance(v, int) and v > 0 for v in size))
    check(ok, f"{path} has inconsistent metadata (config, classes, channels or image size)", hint)
    unknown = sorted(set(config) - {f.name for f in fields(DetectionConfig)})
    check(not unknown, f"{path} has unknown settings in its config: {', '.join(map(str, unknown))}", hint)
    try:
        cfg = DetectionConfig(**config).validate()
        model = build_detector(cfg.model, len(classes), ckpt["in_channels"],
                               SelectiveSearchProposals(cfg.proposals, cfg.max_proposals), cfg.seed)
    except (TypeError, ValueError) as e:
        raise UserError(f"{path}: cannot build its detector ({' '.join(str(e).split())[:200]})", hint) from None
    load_weights(model, ckpt["model"], path, cfg.model)
    return model.eval(), ckpt
