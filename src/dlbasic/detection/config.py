"""The configuration of a detection run: one dataclass, saved whole as `config.yaml` next to the results."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from dlbasic.detection.models.registry import DETECTORS
from dlbasic.errors import check, did_you_mean


@dataclass
class DetectionConfig:
    """One detection run; every field is saved with the results."""

    model: str = "faster_rcnn"  # one of DETECTORS
    data: str = "scenes"  # scenes[:options], voc:DIR, coco:FILE, yolo:DIR
    test_data: str = ""  # test on this source (its official test split, else all of it); "": data's own
    image_size: int = 0  # resize every image to N x N (0: keep; images of one batch must share a size)
    train_limit: int = 0  # train on the first N images (0: all)
    test_limit: int = 0  # evaluate on the first N test images (0: all)
    epochs: int = 10
    batch_size: int = 16
    optimizer: str = "adam"
    lr: float = 0.0  # 0: the model's default in DEFAULT_LR
    weight_decay: float = 1e-4
    scheduler: str = "cosine"  # none, cosine, step, exponential, onecycle (per step, see training.schedules)
    warmup_steps: int = 50  # linear learning-rate warm-up (at most a tenth of the run)
    seed: int = 0
    proposals: str = "fast"  # selective search mode for rcnn, sppnet, fast_rcnn
    max_proposals: int = 300
    device: str = "auto"  # auto, cpu, cuda, cuda:N, mps
    precision: str = "fp32"  # fp32, bf16 or fp16 autocast, or auto (bf16 where the hardware has it)
    channels_last: bool = False  # NHWC weights and batches
    grad_clip: float | None = None  # clip the global gradient norm to this value
    sync_bn: bool = False  # synchronized batch norm across processes (torchrun runs)
    checkpoint_every: int = 0  # also checkpoint every N steps within an epoch (0: end of epoch only)
    threads: int = 0  # torch CPU threads (0: torch's default); the float sums, so the numbers, depend on it

    def to_dict(self) -> dict[str, Any]:
        """Every field by name, nested values copied (`dataclasses.asdict`): what `dump_config` writes as YAML."""
        return dataclasses.asdict(self)

    def validate(self) -> DetectionConfig:
        """Check every field's range and choice (a known detector and precision, finite non-negative `lr` and
        `weight_decay`, non-negative sizes and limits), so that a bad value fails before a run starts.

        Returns:
            The config itself.

        Raises:
            UserError: naming the field of the first check that fails.
        """
        check(self.model in DETECTORS, f"unknown detector {self.model!r}", did_you_mean(self.model, DETECTORS))
        check(self.epochs >= 0, f"epochs must be >= 0, got {self.epochs}")
        check(self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}")
        for name in ("lr", "weight_decay"):
            value = getattr(self, name)
            check(math.isfinite(value) and value >= 0, f"{name} must be a finite number >= 0, got {value}")
        for name in ("image_size", "train_limit", "test_limit", "warmup_steps"):
            check(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)}")
        check(self.max_proposals >= 1, f"max_proposals must be at least 1, got {self.max_proposals}")
        check(
            self.precision in ("auto", "fp32", "bf16", "fp16"),
            f"unknown precision {self.precision!r}",
            "choices: auto, fp32, bf16, fp16",
        )
        check(self.checkpoint_every >= 0, f"checkpoint_every must be >= 0, got {self.checkpoint_every}")
        check(self.threads >= 0, f"threads must be at least 1 (0: torch's default), got {self.threads}")
        check(
            self.grad_clip is None or (math.isfinite(self.grad_clip) and self.grad_clip > 0),
            f"grad_clip must be a positive number, got {self.grad_clip}",
        )
        return self
