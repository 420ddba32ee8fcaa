"""The configuration of a detection run: one `RunConfig`, saved whole as `config.yaml` next to the results.

Each field's metadata is its `dlbasic detect train|compare` option (`dlbasic.config.option_meta`). None means
unset (the detector's learning rate, the images' own size, all images, torch's threads); configs saved
before that convention held 0, 0.0 or "" there, and `DetectionConfig.upgrade` reads them so.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from dlbasic.config import PRECISIONS, RunConfig, option_meta
from dlbasic.detection.models.registry import DETECTORS
from dlbasic.errors import check, did_you_mean

SCHEDULERS = ("none", "cosine", "step", "exponential", "onecycle")
PROPOSAL_MODES = ("single", "fast", "quality")
# what an unset field held before None meant unset (old checkpoints and config.yaml files)
OLD_UNSET = {"test_data": "", "image_size": 0, "train_limit": 0, "test_limit": 0, "lr": 0.0, "threads": 0}


_data = functools.partial(option_meta, "data")
_model = functools.partial(option_meta, "model")
_optimization = functools.partial(option_meta, "optimization")
_engineering = functools.partial(option_meta, "engineering")


@dataclass
class DetectionConfig(RunConfig):
    """One detection run; every field is saved with the results, and each is a `dlbasic detect` option."""

    model: str = field(default="faster_rcnn", metadata=_model("detector (default {default})", choices=DETECTORS))
    data: str = field(
        default="scenes",
        metadata=_data(
            "scenes[:options], voc:DIR, coco:FILE[,images=DIR], yolo:DIR or yolo:DIR/FILE.yaml (default {default})",
            metavar="SPEC",
        ),
    )
    test_data: str | None = field(  # None: data's own test images
        default=None,
        metadata=_data(
            "test on this source (its official test split, else all of its images) instead of --data's own",
            metavar="SPEC",
        ),
    )
    image_size: int | None = field(  # None: keep (images of one batch must share a size)
        default=None, metadata=_data("resize images to N x N (default 0: keep their size)", metavar="N")
    )
    train_limit: int | None = field(  # the first N images; None: all
        default=None, metadata=_data("train on N images (0: all)", metavar="N")
    )
    test_limit: int | None = field(default=None, metadata=_data("test on N images (0: all)", metavar="N"))
    epochs: int = field(default=10, metadata=_optimization("passes over the training images (default {default})"))
    batch_size: int = field(default=16, metadata=_optimization("images per step (default {default})"))
    optimizer: str = field(default="adam", metadata=_optimization("a dlbasic.optim name (default {default})"))
    lr: float | None = field(  # None: the model's default in DEFAULT_LR
        default=None, metadata=_optimization("learning rate (default: the detector's own)")
    )
    weight_decay: float = field(default=1e-4, metadata=_optimization("(default {default})"))
    scheduler: str = field(  # per step, see training.schedules
        default="cosine",
        metadata=_optimization("learning-rate schedule over the run (default {default})", choices=SCHEDULERS),
    )
    warmup_steps: int = field(
        default=50,
        metadata=_optimization(
            "linear learning-rate warm-up steps, at most a tenth of the run (default {default})",
            metavar="N",
        ),
    )
    seed: int = field(
        default=0,
        metadata=_engineering(
            "seed of the random split (sources without official splits), initialization and sampling "
            "(default {default})",
        ),
    )
    proposals: str = field(
        default="fast",
        metadata=_model("selective search mode of rcnn, sppnet, fast_rcnn (default {default})", choices=PROPOSAL_MODES),
    )
    max_proposals: int = field(default=300, metadata=_model("proposals per image (default {default})"))
    device: str = field(default="auto", metadata=_engineering("auto, cpu, cuda, cuda:N, mps (default {default})"))
    precision: str = field(  # fp32, bf16 or fp16 autocast, or auto
        default="fp32",
        metadata=_engineering(
            "autocast precision (default {default}; auto: bf16 where the hardware has it)",
            choices=PRECISIONS,
        ),
    )
    channels_last: bool = field(
        default=False,
        metadata=_engineering("NHWC weights and batches (faster convolutions with bf16 on recent CPUs and on GPUs)"),
    )
    grad_clip: float | None = field(  # None: no clipping
        default=None,
        metadata=_engineering("clip the global gradient norm to NORM (default: no clipping)", metavar="NORM"),
    )
    sync_bn: bool = field(
        default=False,
        metadata=_engineering("under torchrun: synchronize batch-norm statistics across processes"),
    )
    checkpoint_every: int = field(  # 0: end of epoch only
        default=0, metadata=_engineering("also checkpoint every STEPS steps inside an epoch", metavar="STEPS")
    )
    threads: int | None = field(  # None: torch's default; the float sums, so the numbers, depend on it
        default=None,
        metadata=_engineering("torch CPU threads (0: torch's default; a run's config.yaml records the count used)"),
    )

    @classmethod
    def upgrade(cls, values: dict[str, Any]) -> dict[str, Any]:
        """`values` with the unset values of older configs (`OLD_UNSET`: 0, 0.0 or "") as None; the options
        `--image-size 0`, `--train-limit 0`, `--lr 0`, ... say "unset" alike."""
        return {
            k: None if k in OLD_UNSET and not isinstance(v, bool) and v == OLD_UNSET[k] else v
            for k, v in values.items()
        }

    def validate(self) -> DetectionConfig:
        """Check every field's range and choice (a known detector and precision, finite numbers, a positive `lr`,
        sizes and limits when set, non-negative weight decay and counts), so that a bad value fails before a run
        starts.

        Returns:
            The config itself.

        Raises:
            UserError: naming the field of the first check that fails.
        """
        super().validate()
        check(self.model in DETECTORS, f"unknown detector {self.model!r}", did_you_mean(self.model, DETECTORS))
        check(self.epochs >= 0, f"epochs must be >= 0, got {self.epochs}")
        check(self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}")
        check(self.lr is None or self.lr > 0, f"lr must be a positive number, got {self.lr}")
        check(self.weight_decay >= 0, f"weight_decay must be a finite number >= 0, got {self.weight_decay}")
        for name in ("image_size", "train_limit", "test_limit", "threads"):
            value = getattr(self, name)
            check(value is None or value >= 1, f"{name} must be positive, got {value}")
        check(self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}")
        check(self.max_proposals >= 1, f"max_proposals must be at least 1, got {self.max_proposals}")
        check(self.precision in PRECISIONS, f"unknown precision {self.precision!r}", "choices: auto, fp32, bf16, fp16")
        check(self.checkpoint_every >= 0, f"checkpoint_every must be >= 0, got {self.checkpoint_every}")
        check(
            self.grad_clip is None or self.grad_clip > 0, f"grad_clip must be a positive number, got {self.grad_clip}"
        )
        return self
