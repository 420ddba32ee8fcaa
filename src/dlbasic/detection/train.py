"""Training and evaluating the detectors: a factory by name, the loop, mAP and speed (the images come from
`dlbasic.detection.splits`).

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
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dlbasic.callbacks import Callback
from dlbasic.config import DEFAULT_LR, DETECTORS, DetectionConfig
from dlbasic.detection.fast_rcnn import fast_rcnn
from dlbasic.detection.faster_rcnn import faster_rcnn
from dlbasic.detection.metrics import evaluate_detections
from dlbasic.detection.rcnn import RCNN, SelectiveSearchProposals
from dlbasic.detection.splits import Split, load_split
from dlbasic.detection.sppnet import sppnet
from dlbasic.detection.task import DetectionData, DetectionTask
from dlbasic.detection.transforms import resize
from dlbasic.detection.yolo_v1 import YOLOv1
from dlbasic.errors import UserError, check, did_you_mean
from dlbasic.optim import create_optimizer
from dlbasic.training import distributed
from dlbasic.training.assemble import make_trainer, start_process
from dlbasic.training.schedules import create_scheduler
from dlbasic.training.trainer import Trainer, steps_per_epoch

USES_SELECTIVE_SEARCH = ("rcnn", "sppnet", "fast_rcnn")


def build_detector(
    name: str, num_classes: int, in_channels: int = 1, proposals: SelectiveSearchProposals | None = None, seed: int = 0
) -> nn.Module:
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


def build_trainer(
    model: nn.Module,
    data: DetectionData,
    cfg: DetectionConfig,
    *,
    run_dir: Path | None = None,
    meta: dict[str, Any] | None = None,
    progress: bool | None = False,
    log: Callable[[dict[str, Any]], None] | None = None,
) -> Trainer:
    """The Trainer of a detection run (`training.assemble`): the optimizer and warmed-up schedule of `cfg`,
    the detection task; under torchrun each process joins the group and trains on its share of the images."""
    device = start_process(cfg.device, cfg.threads)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = create_optimizer(cfg.optimizer, params, lr=cfg.lr or DEFAULT_LR[cfg.model], weight_decay=cfg.weight_decay)
    steps = steps_per_epoch(len(data), cfg.batch_size, distributed.world()[1])
    warmup = min(cfg.warmup_steps, cfg.epochs * steps // 10)  # short runs must not end warming up
    sched = create_scheduler(cfg.scheduler, opt, epochs=max(cfg.epochs, 1), steps_per_epoch=steps, warmup_steps=warmup)
    return make_trainer(
        cfg,
        model,
        opt,
        sched,
        data,
        None,
        device=device,
        batch_size=cfg.batch_size,
        task=DetectionTask(),
        callbacks=[EpochLog(log)] if log is not None else [],
        run_dir=run_dir,
        eval_batch_size=16,
        meta=meta,
        progress=progress,
    )


class EpochLog(Callback):
    """Hands every epoch's row (loss and its parts, seconds) to `log`."""

    def __init__(self, log: Callable[[dict[str, Any]], None]):
        self.log = log

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        """Pass the finished epoch's row (`epoch_row` of the Trainer's `logs`) to `log`."""
        self.log(epoch_row(logs))


def epoch_row(logs: dict[str, Any]) -> dict[str, Any]:
    """A Trainer epoch log as a detection history row: epoch, loss, the loss parts, seconds."""
    parts = {k.removeprefix("train_"): v for k, v in logs.items() if k.startswith("train_loss_")}
    return {"epoch": logs["epoch"], "loss": logs["train_loss"], **parts, "seconds": logs["train_seconds"]}


def fit(
    model: nn.Module,
    images: Tensor,
    targets: Sequence[dict[str, Tensor]],
    cfg: DetectionConfig,
    log: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Minimize the sum of the model's losses on the Trainer; R-CNN then fits its SVMs and regressors.

    Returns the history (one row per epoch, then R-CNN's SVM stage). Raises `Diverged` when a step's
    loss, or a weight at an epoch end, is NaN or infinite.
    """
    trainer = build_trainer(model, DetectionData(images, targets, []), cfg, log=log)
    history = [epoch_row(h) for h in trainer.fit()]
    history += svm_stage(trainer, images, targets)
    model.eval()
    return history


def svm_stage(trainer: Trainer, images: Tensor, targets: Sequence[dict[str, Tensor]]) -> list[dict[str, Any]]:
    """R-CNN's later stages (per-class SVMs, box regressors) on the fine-tuned network, then a checkpoint."""
    model = trainer.model
    if not isinstance(model, RCNN) or bool(model.fitted):
        return []
    start = time.perf_counter()
    stats = model.fit_svms(images, targets)
    trainer.save_checkpoint()  # the stages' results are buffers of the model: resuming skips them
    return [{"stage": "svm", **stats, "seconds": time.perf_counter() - start}]


@torch.no_grad()
def predict(model: nn.Module, images: Tensor, batch_size: int = 16) -> list[dict[str, Tensor]]:
    """Detections for every image, in eval mode."""
    model.eval()
    out: list[dict[str, Tensor]] = []
    for s in range(0, len(images), batch_size):
        out.extend(model(images[s : s + batch_size]))
    return out


@torch.no_grad()
def predict_images(
    model: nn.Module, images: Sequence[Tensor], size: tuple[int, int], batch_size: int = 16
) -> list[dict[str, Tensor]]:
    """Detections on images of any size: each is resized to `size` (H, W; the training size) and its
    boxes are mapped back to its own pixels."""
    empty = {"boxes": torch.zeros(0, 4)}
    batch = torch.stack(
        [resize(im, empty, tuple(size))[0] if tuple(im.shape[-2:]) != tuple(size) else im for im in images]
    )
    out = []
    for im, det in zip(images, predict(model, batch, batch_size)):
        h, w = im.shape[-2:]
        scale = torch.tensor([w / size[1], h / size[0], w / size[1], h / size[0]], dtype=det["boxes"].dtype)
        boxes = det["boxes"] * scale
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
        out.append({**det, "boxes": boxes})
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


def evaluate(
    model: nn.Module, images: Tensor, targets: Sequence[dict[str, Tensor]], timing_images: int = 16
) -> dict[str, Any]:
    """mAP numbers of `evaluate_detections` plus `seconds_per_image` on the first `timing_images` images."""
    metrics = evaluate_detections(predict(model, images), list(targets))
    keep = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_100", "voc_map_50")
    return {**{k: metrics[k] for k in keep}, "seconds_per_image": seconds_per_image(model, images[:timing_images])}


def train_detector(
    cfg: DetectionConfig,
    split: Split | None = None,
    run_dir: str | Path | None = None,
    proposals: SelectiveSearchProposals | None = None,
    log: Callable[[dict[str, Any]], None] | None = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool | None = False,
) -> dict[str, Any]:
    """Build, train and evaluate one detector, on the Trainer.

    With `run_dir`, the run folder of `dlbasic train`: config.yaml, metrics.jsonl, checkpoint.pt
    (atomic, every epoch and `cfg.checkpoint_every` steps; exact `resume`), curves.png and
    summary.json; it follows `dlbasic.outputs` (checked before the data is read, created or replaced
    only once data and model are ready).
    """
    import json

    from dlbasic.checkpoint import atomic_write_text
    from dlbasic.report.plots import plot_curves
    from dlbasic.training.run import check_run_dir, fit_in_run_dir, hold_run_dir

    cfg.validate()
    start_process(cfg.device, cfg.threads)  # torchrun: join its process group before anything else
    run_path = Path(run_dir) if run_dir is not None else None
    if run_path is not None:  # every process checks, so none waits for a main process that refused
        check_run_dir(run_path, overwrite, resume)
    with hold_run_dir(run_path):  # one process at a time in the run folder, from here to its summary
        split = split or load_split(cfg.data, cfg.image_size, cfg.train_limit, cfg.test_limit, cfg.seed, cfg.test_data)
        proposals = proposals or SelectiveSearchProposals(cfg.proposals, cfg.max_proposals)
        torch.manual_seed(cfg.seed)
        model = build_detector(cfg.model, len(split.classes), split.train_images.shape[1], proposals, cfg.seed)
        data = DetectionData(split.train_images, split.train_targets, split.classes)
        meta = {
            "kind": "detection",
            "config": cfg.to_dict(),
            "classes": list(split.classes),
            "in_channels": split.train_images.shape[1],
            "image_size": list(split.train_images.shape[-2:]),
        }
        trainer = build_trainer(model, data, cfg, run_dir=run_path, meta=meta, progress=progress, log=log)
        start = time.perf_counter()
        history = [
            epoch_row(h)
            for h in fit_in_run_dir(trainer, cfg, run_path, command="detect train", overwrite=overwrite, resume=resume)
        ]
        history += svm_stage(trainer, split.train_images, split.train_targets)
        if run_path is not None and not (run_path / "checkpoint.pt").exists():  # --epochs 0: the untrained detector
            trainer.save_checkpoint()
        train_seconds = time.perf_counter() - start
        model.eval()
        result = {
            "status": "finished",
            "model": cfg.model,
            "train_seconds": train_seconds,
            **evaluate(model, split.test_images, split.test_targets),
            "train_images": len(split.train_images),
            "test_images": len(split.test_images),
            "split": split.split,
            "train_split": split.train_split,
            "history": history,
        }
        if run_path is not None and distributed.is_main():
            atomic_write_text(json.dumps(result, indent=2, default=float) + "\n", run_path / "summary.json")
            plot_curves(trainer.history, run_path / "curves.png")
    result["detector"] = model
    return result


def load_detector(path: str | Path, action: str = "eval") -> tuple[nn.Module, dict[str, Any]]:
    """A detector and its metadata from a `train_detector` checkpoint.

    `UserError` for a checkpoint of another kind (naming `dlbasic ... <action>` for it), missing or
    inconsistent metadata, or weights that do not fit the detector.
    """
    from dataclasses import fields

    from dlbasic.training.restore import load_checkpoint, load_weights, require_kind

    ckpt = load_checkpoint(path)
    require_kind(ckpt, path, "detection", action)
    if isinstance(ckpt.get("meta"), dict):  # written by the Trainer: the metadata sits in `meta`
        ckpt = {**ckpt["meta"], "model": ckpt["model"]}
    hint = "use a checkpoint.pt written by dlbasic detect train"
    missing = [k for k in ("config", "classes", "in_channels", "image_size") if k not in ckpt]
    check(not missing, f"{path} lacks {', '.join(missing)}", hint)
    config, classes, size = ckpt["config"], ckpt["classes"], ckpt["image_size"]
    ok = (
        isinstance(config, dict)
        and isinstance(classes, list)
        and bool(classes)
        and all(isinstance(c, str) for c in classes)
        and isinstance(ckpt["in_channels"], int)
        and ckpt["in_channels"] > 0
        and isinstance(size, (list, tuple))
        and len(size) == 2
        and all(isinstance(v, int) and v > 0 for v in size)
    )
    check(ok, f"{path} has inconsistent metadata (config, classes, channels or image size)", hint)
    unknown = sorted(set(config) - {f.name for f in fields(DetectionConfig)})
    check(not unknown, f"{path} has unknown settings in its config: {', '.join(map(str, unknown))}", hint)
    try:
        cfg = DetectionConfig(**config).validate()
        model = build_detector(
            cfg.model,
            len(classes),
            ckpt["in_channels"],
            SelectiveSearchProposals(cfg.proposals, cfg.max_proposals),
            cfg.seed,
        )
    except (TypeError, ValueError) as e:
        raise UserError(f"{path}: cannot build its detector ({' '.join(str(e).split())[:200]})", hint) from None
    load_weights(model, ckpt["model"], path, cfg.model)
    return model.eval(), ckpt
