"""Run configuration: one dataclass, saved whole as `config.yaml` next to the results.

`--config FILE` reads a saved (or hand-written) YAML file; command-line options override it;
unknown keys and wrong types are errors, not surprises.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dlbasic.errors import UserError, check, did_you_mean
from dlbasic.overrides import coerce
from dlbasic.parsing import load_yaml


@dataclass
class TrainConfig:
    """Everything that determines a training run."""

    # data
    data: str = "mnist5k"  # source spec: mnist5k, digits, idx:DIR, cifar10:DIR, folder:DIR
    test_data: str | None = None  # test on this source (its official test set, else all of it); None: data's own
    image_size: int | None = None  # resize images to this side; None keeps the source's size
    val_fraction: float = 0.1  # share of the training pool held out for validation
    test_fraction: float = 0.2  # held out for test when the source has no test set
    train_subset: int | None = None  # train on this many images only (stratified); None = all
    # model
    model: str = "simple_cnn"
    model_options: dict[str, Any] = field(default_factory=dict)  # e.g. {act: tanh, hidden: [64]}
    dropout: float | None = None  # dropout probability of the model's dropout layers; None keeps its own
    norm: str | None = None  # batch, group, layer, instance or none, for models that take a norm layer
    # optimization
    optimizer: str = "adam"
    lr: float | None = None  # None takes the optimizer's usual default
    momentum: float | None = None  # for sgd-family and rmsprop; None keeps the optimizer's own
    weight_decay: float = 0.0
    epochs: int = 5
    batch_size: int | str = 64  # an integer, or "full" for batch gradient descent
    scheduler: str = "none"  # none, step, cosine, onecycle, exponential
    lr_step: int = 1  # epochs between decays (step)
    lr_gamma: float = 0.7  # decay factor (step, exponential)
    warmup_steps: int = 0  # linear learning-rate warm-up before the schedule
    grad_clip: float | None = None  # clip the global gradient norm to this value
    # regularization
    penalty: str = "none"  # none: weight_decay goes to the optimizer; l1/l2: an explicit loss term instead
    decay_norm_and_bias: bool = False  # also decay biases and normalization parameters
    early_stopping: int = 0  # patience in epochs on validation loss (0: off); restores the best weights
    augment: str = ""  # comma-separated: flip, crop, scale, rotate, translate
    input_noise: float = 0.0  # std of Gaussian noise added to training inputs (in [0, 1] pixel units)
    weight_noise: float = 0.0  # std of Gaussian noise added to the weights for each forward pass
    label_smoothing: float = 0.0  # epsilon of label smoothing
    mixup: float = 0.0  # Beta(alpha, alpha) of Mixup (0: off)
    cutmix: float = 0.0  # Beta(alpha, alpha) of CutMix (0: off)
    mix_prob: float = 1.0  # probability that a batch is mixed
    mix_switch_prob: float = 0.5  # probability of CutMix rather than Mixup when both are on
    mix_per_sample: bool = False  # one lambda per sample instead of per batch
    # engineering
    seed: int = 0
    device: str = "auto"  # auto, cpu, cuda, mps
    precision: str = "auto"  # auto (bf16 where the hardware has it, else fp32), fp32, bf16 (autocast), fp16
    channels_last: bool | None = None  # NHWC; None: on for conv nets when bf16 runs on a CPU
    compile: bool = False  # torch.compile, checked against eager gradients on the first batch
    threads: int | None = None  # torch intra-op threads; None keeps torch's default
    sync_bn: bool = False  # synchronized batch norm across processes (torchrun runs)
    checkpoint_every: int = 0  # also checkpoint every N steps within an epoch (0: end of epoch only)
    eval_batch_size: int = 1000
    target_accuracy: float | None = None  # stop once validation accuracy reaches this; report the time
    eval_every: int = 100  # steps between validation checks for target_accuracy

    def validate(self) -> TrainConfig:
        """Check every field's range and choice (finite floats, fractions in range, positive or non-negative
        counts, a known precision and penalty), so that a bad value fails before a run starts.

        Returns:
            The config itself.

        Raises:
            UserError: naming the field of the first check that fails.
        """
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            check(
                not isinstance(value, float) or math.isfinite(value), f"{f.name} must be a finite number, got {value}"
            )
        check(self.threads is None or self.threads >= 1, f"threads must be at least 1, got {self.threads}")
        check(self.image_size is None or self.image_size >= 1, f"image_size must be positive, got {self.image_size}")
        check(
            0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1,
            f"val_fraction and test_fraction must be in [0, 1) with a sum below 1, got {self.val_fraction} and "
            f"{self.test_fraction}",
        )
        check(self.lr_step >= 1, f"lr_step must be at least 1, got {self.lr_step}")
        check(self.lr_gamma > 0, f"lr_gamma must be positive, got {self.lr_gamma}")
        check(self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}")
        check(
            0 <= self.mix_prob <= 1 and 0 <= self.mix_switch_prob <= 1,
            f"mix_prob and mix_switch_prob must be in [0, 1], got {self.mix_prob} and {self.mix_switch_prob}",
        )
        check(self.momentum is None or self.momentum >= 0, f"momentum must be non-negative, got {self.momentum}")
        check(self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}")
        check(self.lr is None or self.lr > 0, f"learning rate must be positive, got {self.lr}")
        check(self.weight_decay >= 0, f"weight decay must be non-negative, got {self.weight_decay}")
        check(
            self.batch_size == "full" or (isinstance(self.batch_size, int) and self.batch_size >= 1),
            f"batch size must be a positive integer or 'full', got {self.batch_size!r}",
        )
        check(
            self.precision in ("auto", "fp32", "bf16", "fp16"),
            f"unknown precision {self.precision!r}",
            "choices: auto, fp32, bf16, fp16",
        )
        check(self.grad_clip is None or self.grad_clip > 0, f"grad_clip must be positive, got {self.grad_clip}")
        check(
            self.train_subset is None or self.train_subset > 0,
            f"train_subset must be positive, got {self.train_subset}",
        )
        check(self.checkpoint_every >= 0, f"checkpoint_every must be >= 0, got {self.checkpoint_every}")
        check(self.penalty in ("none", "l1", "l2"), f"unknown penalty {self.penalty!r}", "choices: none, l1, l2")
        check(self.early_stopping >= 0, f"early_stopping patience must be >= 0, got {self.early_stopping}")
        for name in ("input_noise", "weight_noise", "mixup", "cutmix"):
            check(getattr(self, name) >= 0, f"{name} must be non-negative, got {getattr(self, name)}")
        check(0 <= self.label_smoothing < 1, f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        check(self.dropout is None or 0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout}")
        check(
            self.target_accuracy is None or 0 < self.target_accuracy <= 1,
            f"target_accuracy must be in (0, 1], got {self.target_accuracy}",
        )
        check(self.eval_every >= 1, f"eval_every must be positive, got {self.eval_every}")
        check(self.eval_batch_size >= 1, f"eval_batch_size must be positive, got {self.eval_batch_size}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Every field by name, nested values copied (`dataclasses.asdict`): what `dump_config` writes as YAML."""
        return dataclasses.asdict(self)


def from_dict(values: dict[str, Any], base: Any = None, cls: type | None = None) -> Any:
    """A config (a `TrainConfig`, or `cls`/`type(base)`) from a dict of overrides; unknown keys are errors."""
    cls = cls or (type(base) if base is not None else TrainConfig)
    hints = typing.get_type_hints(cls)
    out = dataclasses.replace(base if base is not None else cls())
    for key, value in values.items():
        if key not in hints:
            raise UserError(f"unknown config key {key!r}", did_you_mean(key, hints))
        try:
            setattr(out, key, coerce(key, value, hints[key]))
        except UserError as e:
            raise UserError(f"config key {e}") from None
    return out.validate()


# FCN-8s on a stride-8 VGG predicts at stride 2: fine enough for the 2-4 pixel strokes of the digit scenes
SEGMENTATION_DEFAULTS = {
    "data": "scenes:canvas=96,digits=1-4",
    "model": "fcn8s_vgg11",
    "model_options": {"stride": 8},
    "epochs": 10,
    "batch_size": 16,
    "lr": 3e-3,
}


def segmentation_config(**overrides: Any) -> TrainConfig:
    """A `TrainConfig` with the segmentation defaults (FCN-8s, vgg11 at stride 8, on 96x96 scenes), then
    `overrides`."""
    options = dict(SEGMENTATION_DEFAULTS["model_options"])
    cfg = TrainConfig(**{**SEGMENTATION_DEFAULTS, "model_options": options, **overrides})
    return cfg.validate()


DETECTORS = ("rcnn", "sppnet", "fast_rcnn", "faster_rcnn", "yolo_v1")  # in the lecture's order
DEFAULT_LR = {"rcnn": 2e-3, "sppnet": 2e-3, "fast_rcnn": 2e-3, "faster_rcnn": 2e-3, "yolo_v1": 1e-3}


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


RECIPES = Path(__file__).parent / "recipes"


def list_recipes() -> list[str]:
    """The names of the packaged recipes (`dlbasic train --recipe NAME`), sorted."""
    return sorted(p.stem for p in RECIPES.glob("*.yaml"))


def recipe_path(name: str) -> Path:
    """The packaged YAML config of a recipe (`dlbasic train --recipe NAME`)."""
    path = RECIPES / f"{name}.yaml"
    if not path.is_file():
        raise UserError(f"unknown recipe {name!r}", did_you_mean(name, list_recipes()))
    return path


def load_config(path: str | Path, cls: type | None = None) -> Any:
    """A `TrainConfig` (or `cls`) from a YAML file: a saved config.yaml or a hand-written one."""
    path = Path(path)
    check(path.is_file(), f"no such config file: {path}")
    try:
        values = load_yaml(path.read_text(), path) or {}
    except yaml.YAMLError as e:
        raise UserError(f"{path} is not valid YAML: {e}") from None
    check(isinstance(values, dict), f"{path} must hold a mapping of config keys")
    return from_dict(values, cls=cls)


def dump_config(config: TrainConfig | DetectionConfig) -> str:
    """The YAML text of `config`, as a run's `config.yaml` holds it.

    Unset `threads` (torch's default) is written as the count torch uses now: the order of float sums, so
    the numbers, depend on it, and a resumed run reads it back, wherever torch's default differs.
    """
    values = config.to_dict()
    if "threads" in values and not values["threads"]:
        import torch

        values["threads"] = torch.get_num_threads()
    return yaml.safe_dump(values, sort_keys=False)


def save_config(config: TrainConfig, path: str | Path) -> None:
    """`config` as YAML, exactly as given (a run's `config.yaml` is written by `dump_config`)."""
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
