"""Training and evaluating the detectors: the detection run (`DetectionRun`), `fit`, mAP and speed (the detectors
come from `dlbasic.detection.models.registry`, the images from `dlbasic.detection.data.splits`).

Every detector is an `nn.Module` taking a batch Tensor[N, C, H, W] in [0, 1] (one image size per
batch) and targets; it returns a dict of losses in training mode and one dict of `boxes`,
`scores`, `labels` per image in eval mode. A detection run is the one pipeline of `dlbasic.training.run`
with what differs in `DetectionRun`; `fit` minimizes the sum of the losses with an optimizer
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
from dlbasic.detection.config import DetectionConfig
from dlbasic.detection.data.splits import Split, load_split
from dlbasic.detection.data.transforms import resize
from dlbasic.detection.metrics import evaluate_detections
from dlbasic.detection.models.rcnn import RCNN, SelectiveSearchProposals
from dlbasic.detection.models.registry import DEFAULT_LR, build_detector
from dlbasic.detection.task import DetectionData, DetectionTask
from dlbasic.errors import UserError, check
from dlbasic.training.kinds import RunData, RunKind, make_optimizer, model_from_checkpoint, register_kind
from dlbasic.training.restore import load_model_state
from dlbasic.training.run import build_trainer, train
from dlbasic.training.trainer import Trainer


@register_kind
class DetectionRun(RunKind):
    """A detection run of a `DetectionConfig`: images in [0, 1] (not normalized), a detector from `build_detector`
    (R-CNN, SPPnet and Fast R-CNN share `proposals`, a selective-search cache), the sum of its losses, mAP.

    Args:
        split: the images to train and test on (default: `load_split` of the config).
        proposals: the selective-search proposals (default: the config's mode and count).
        log: called with every epoch's row (loss and its parts, seconds).
        model: train this detector instead of building one (`fit`).
    """

    name = "detection"
    command = "detect train"
    normalize = False
    model_key = "detector"  # the summary's "model" is the detector's name

    def __init__(
        self,
        split: Split | None = None,
        proposals: SelectiveSearchProposals | None = None,
        log: Callable[[dict[str, Any]], None] | None = None,
        model: nn.Module | None = None,
    ):
        self.split, self.proposals, self.log, self.model = split, proposals, log, model

    def load_data(self, cfg: DetectionConfig) -> RunData:
        """The training images (no validation split: mAP is measured once, on the test images)."""
        split = self.split or load_split(
            cfg.data, cfg.image_size, cfg.train_limit, cfg.test_limit, cfg.seed, cfg.test_data
        )
        self.split = split
        train = DetectionData(split.train_images, split.train_targets, split.classes)
        return RunData(train, None, DetectionData(split.test_images, split.test_targets, split.classes))

    def build_model(self, cfg: DetectionConfig, train: DetectionData) -> nn.Module:
        """`build_detector(cfg.model)` for the data's classes and channels (or the detector given)."""
        if self.model is not None:
            return self.model
        proposals = self.proposals or SelectiveSearchProposals(cfg.proposals, cfg.max_proposals)
        return build_detector(cfg.model, train.num_classes, train.in_channels, proposals, cfg.seed)

    def build_optimizer(self, cfg: DetectionConfig, model: nn.Module) -> torch.optim.Optimizer:
        """`cfg.optimizer` at `cfg.lr` (else the detector's default in `DEFAULT_LR`), norm and bias not decayed."""
        return make_optimizer(cfg.optimizer, model, cfg.lr or DEFAULT_LR[cfg.model], cfg.weight_decay)

    def schedule(self, cfg: DetectionConfig, steps_per_epoch: int) -> dict[str, Any]:
        """The warm-up at most a tenth of the run (short runs must not end warming up)."""
        warmup = min(cfg.warmup_steps, cfg.epochs * steps_per_epoch // 10)
        return {"epochs": max(cfg.epochs, 1), "warmup_steps": warmup}

    def task(self, cfg: DetectionConfig, train: DetectionData) -> DetectionTask:
        """The sum of the detector's losses; COCO mAP on validation data."""
        return DetectionTask()

    def regularizers(self, cfg: DetectionConfig, train: DetectionData) -> dict[str, list]:
        """No batch transforms or penalties; `EpochLog` when a `log` is given."""
        return {"transforms": [], "loss_terms": [], "callbacks": [EpochLog(self.log)] if self.log else []}

    def run_callbacks(self, cfg: DetectionConfig) -> list:
        """None."""
        return []

    def eval_batch_size(self, cfg: DetectionConfig) -> int:
        """16 images per evaluation batch."""
        return 16

    def meta(self, cfg: DetectionConfig, data: RunData) -> dict[str, Any]:
        """The config, classes, channels and image size that rebuild the detector (`rebuild`)."""
        images = data.train.images
        return {
            "kind": "detection",
            "config": cfg.to_dict(),
            "classes": list(data.train.classes),
            "in_channels": images.shape[1],
            "image_size": list(images.shape[-2:]),
        }

    def after_fit(self, trainer: Trainer, data: RunData, history: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Detection history rows, then R-CNN's SVM stage; a run of 0 epochs checkpoints the untrained detector."""
        rows = [epoch_row(h) for h in history]
        rows += svm_stage(trainer, data.train.images, data.train.targets)
        if trainer.run_dir is not None and not trainer.history:  # (decided alike in every process: saving gathers)
            trainer.save_checkpoint()
        trainer.model.eval()
        return rows

    def summary(self, trainer: Trainer, data: RunData, history: list[dict[str, Any]], seconds: float) -> dict:
        """mAP and speed on the test images (`evaluate`), the training time (SVM stage included), the history."""
        split = self.split
        return {
            "status": "finished",
            "model": trainer.meta["config"]["model"],
            "train_seconds": seconds,
            **evaluate(trainer.model, split.test_images, split.test_targets),
            "train_images": len(split.train_images),
            "test_images": len(split.test_images),
            "split": split.split,
            "train_split": split.train_split,
            "history": history,
        }

    def rebuild(self, ckpt: dict[str, Any], path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
        """The detector of a checkpoint (its config, classes, channels and image size checked) and that metadata."""
        return rebuild_detector(ckpt, path)


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
    """Minimize the sum of `model`'s losses on the Trainer (`run.build_trainer`); R-CNN then fits its SVMs and
    regressors.

    Returns the history (one row per epoch, then R-CNN's SVM stage). Raises `Diverged` when a step's
    loss, or a weight at an epoch end, is NaN or infinite.
    """
    kind = DetectionRun(log=log)
    data = RunData(DetectionData(images, targets, []), None, None)
    trainer = build_trainer(cfg, data.train, kind=kind, model=model)
    return kind.after_fit(trainer, data, trainer.fit())


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
    """Build, train and evaluate one detector: `run.train` of a `DetectionRun`.

    With `run_dir`, the run folder of `dlbasic train`: config.yaml, metrics.jsonl, checkpoint.pt
    (atomic, every epoch and `cfg.checkpoint_every` steps; exact `resume`), curves.png and
    summary.json; it follows `dlbasic.outputs` (checked before the data is read, created or replaced
    only once data and model are ready). Returns the summary, the history and the `detector`.
    """
    kind = DetectionRun(split, proposals, log)
    return train(cfg, run_dir, kind=kind, resume=resume, overwrite=overwrite, progress=progress)


def rebuild_detector(ckpt: dict[str, Any], path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The detector of a checkpoint written by a detection run, and its metadata (`config`, `classes`,
    `in_channels`, `image_size`); `UserError` for missing or inconsistent metadata, or weights that do not fit."""
    from dataclasses import fields

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
        cfg = DetectionConfig(**DetectionConfig.upgrade(config)).validate()  # (old ones: 0 and "" for unset)
        model = build_detector(
            cfg.model,
            len(classes),
            ckpt["in_channels"],
            SelectiveSearchProposals(cfg.proposals, cfg.max_proposals),
            cfg.seed,
        )
    except (TypeError, ValueError) as e:
        raise UserError(f"{path}: cannot build its detector ({' '.join(str(e).split())[:200]})", hint) from None
    load_model_state(model, ckpt["model"], path, cfg.model)
    return model, ckpt


def load_detector(path: str | Path, action: str = "eval") -> tuple[nn.Module, dict[str, Any]]:
    """A detector and its metadata from a detection run's checkpoint (`kinds.model_from_checkpoint`)."""
    return model_from_checkpoint(path, "detection", action)
