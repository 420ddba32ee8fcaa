"""Run configuration: one dataclass per kind of run, saved whole as `config.yaml` next to the results.

`--config FILE` reads a saved (or hand-written) YAML file; command-line options override it;
unknown keys and wrong types are errors, not surprises. Each field of `TrainConfig` carries its
command-line option in its metadata (`option_meta`): the `dlbasic` commands build their options from it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from dlbasic.errors import UserError, check, did_you_mean
from dlbasic.overrides import argument, assignment, coerce
from dlbasic.parsing import load_yaml

if TYPE_CHECKING:
    from dlbasic.detection.config import DetectionConfig


def option_meta(group: str, help: str, **argparse_options: Any) -> dict[str, Any]:
    """The metadata of a config field that is also a command-line option.

    Args:
        group: the title of the option group in `--help` (data, model, optimization, ...).
        help: the help text; `{default}` stands for the command's default of the field and other `{names}` for
            text the command gives (e.g. `{sources}`).
        argparse_options: `metavar`, `choices`, `type`, `action` as argparse takes them, and `option` for a flag
            whose name is not the field's (`--model-option` sets `model_options`).
    """
    return {"group": group, "help": help, **argparse_options}


def batch_size_value(text: str) -> int | str:
    """The text of `--batch-size` as a value: a positive integer, or 'full' for full-batch gradient descent."""
    if text == "full":
        return "full"
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"expected a positive integer or 'full', got {text!r}") from None
    check(value >= 1, f"batch size must be at least 1, got {value}")
    return value


_data = functools.partial(option_meta, "data")
_model = functools.partial(option_meta, "model")
_optimization = functools.partial(option_meta, "optimization")
_regularization = functools.partial(option_meta, "regularization")
_engineering = functools.partial(option_meta, "engineering")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
PENALTIES = ("none", "l1", "l2")
NORMS = ("batch", "group", "layer", "instance", "none")


@dataclass
class RunConfig:
    """The base of the run configs: every field is saved with the results (`to_dict`), read back by `from_dict`
    (unknown keys and wrong types refused) and checked by `validate`. None means "unset" in every field that
    may be unset: the run chooses (the optimizer's usual learning rate, the source's image size, ...)."""

    def validate(self) -> RunConfig:
        """Refuse a float field that is not a finite number (nan, inf); subclasses check their ranges too.

        Returns:
            The config itself.

        Raises:
            UserError: naming the first field that is not finite.
        """
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            check(
                not isinstance(value, float) or math.isfinite(value), f"{f.name} must be a finite number, got {value}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """Every field by name, nested values copied (`dataclasses.asdict`): what `dump_config` writes as YAML."""
        return dataclasses.asdict(self)

    @classmethod
    def upgrade(cls, values: dict[str, Any]) -> dict[str, Any]:
        """A saved config's `values` in today's convention (e.g. an old "unset" sentinel as None); `from_dict`
        reads every dict through it. The base class changes nothing."""
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any], base: RunConfig | None = None) -> Any:
        """A validated config of this class: `base` (default: the class's defaults) with `values` set, each
        typed by its field's annotation; unknown keys are errors."""
        return from_dict(values, base, cls)


@dataclass
class TrainConfig(RunConfig):
    """Everything that determines a training run; each field's metadata is its `dlbasic train` option."""

    # data
    data: str = field(default="mnist5k", metadata=_data("source: {sources} (default {default})", metavar="SPEC"))
    test_data: str | None = field(  # None: data's own test set
        default=None,
        metadata=_data(
            "test on this source (its official test set, else all of its images) instead of --data's own",
            metavar="SPEC",
        ),
    )
    image_size: int | None = field(default=None, metadata=_data("resize images to N x N", metavar="N"))  # None: keep
    val_fraction: float = field(default=0.1, metadata=_data("validation share (default {default})"))
    test_fraction: float = field(
        default=0.2, metadata=_data("test share for sources without a test set (default {default})")
    )
    train_subset: int | None = field(default=None, metadata=_data("train on N images only", metavar="N"))  # stratified
    # model
    model: str = field(
        default="simple_cnn", metadata=_model("model name, see `dlbasic params --list` (default {default})")
    )
    model_options: dict[str, Any] = field(  # e.g. {act: tanh, hidden: [64]}
        default_factory=dict,
        metadata=_model(
            "a model constructor option, e.g. dropout=0.1 (repeatable)",
            option="--model-option",
            type=argument(assignment),
            action="append",
            metavar="KEY=VALUE",
        ),
    )
    dropout: float | None = field(  # None keeps the model's own
        default=None, metadata=_model("dropout probability of the model", metavar="P")
    )
    norm: str | None = field(
        default=None, metadata=_model("normalization layer, for models that take one", choices=NORMS)
    )
    # optimization
    optimizer: str = field(
        default="adam",
        metadata=_optimization(
            "sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam, adamw, radam, ... (default {default})"
        ),
    )
    lr: float | None = field(default=None, metadata=_optimization("learning rate (default: the optimizer's usual one)"))
    momentum: float | None = field(  # None keeps the optimizer's own
        default=None, metadata=_optimization("momentum of sgd/momentum/nesterov/rmsprop")
    )
    weight_decay: float = field(default=0.0, metadata=_optimization("L2 weight decay through the optimizer"))
    epochs: int = field(default=5, metadata=_optimization("passes over the training data (default {default})"))
    batch_size: int | str = field(
        default=64,
        metadata=_optimization(
            "images per step, or 'full' for batch gradient descent (default {default})",
            type=argument(batch_size_value),
        ),
    )
    scheduler: str = field(
        default="none", metadata=_optimization("none, step, exponential, cosine, onecycle (default {default})")
    )
    lr_step: int = field(default=1, metadata=_optimization("epochs between decays of the step schedule"))
    lr_gamma: float = field(
        default=0.7, metadata=_optimization("decay factor (default {default})")
    )  # step, exponential
    warmup_steps: int = field(default=0, metadata=_optimization("linear learning-rate warm-up steps"))
    grad_clip: float | None = field(default=None, metadata=_optimization("clip the gradient norm", metavar="NORM"))
    # regularization
    penalty: str = field(
        default="none",
        metadata=_regularization(
            "none: --weight-decay goes to the optimizer; l1/l2: an explicit penalty term of that "
            "strength is added to the loss instead",
            choices=PENALTIES,
        ),
    )
    decay_norm_and_bias: bool = field(
        default=False,
        metadata=_regularization("also decay biases and normalization parameters (excluded by default)"),
    )
    early_stopping: int = field(  # 0: off
        default=0,
        metadata=_regularization(
            "stop when validation loss has not improved for PATIENCE epochs; keep the best weights",
            metavar="PATIENCE",
        ),
    )
    augment: str = field(
        default="", metadata=_regularization("batched augmentations: flip,crop,scale,rotate,translate", metavar="LIST")
    )
    input_noise: float = field(  # in [0, 1] pixel units
        default=0.0, metadata=_regularization("Gaussian noise on inputs", metavar="SIGMA")
    )
    weight_noise: float = field(  # for each forward pass
        default=0.0, metadata=_regularization("Gaussian noise on weights", metavar="SIGMA")
    )
    label_smoothing: float = field(default=0.0, metadata=_regularization("label smoothing epsilon", metavar="EPS"))
    mixup: float = field(  # 0: off
        default=0.0, metadata=_regularization("Mixup with lambda ~ Beta(ALPHA, ALPHA)", metavar="ALPHA")
    )
    cutmix: float = field(  # 0: off
        default=0.0, metadata=_regularization("CutMix with lambda ~ Beta(ALPHA, ALPHA)", metavar="ALPHA")
    )
    mix_prob: float = field(default=1.0, metadata=_regularization("probability that a batch is mixed", metavar="P"))
    mix_switch_prob: float = field(
        default=0.5,
        metadata=_regularization(
            "probability of CutMix rather than Mixup when both are on (default {default})", metavar="P"
        ),
    )
    mix_per_sample: bool = field(default=False, metadata=_regularization("one lambda per sample"))  # else per batch
    # engineering
    seed: int = field(default=0, metadata=_engineering("seed of splits, initialization and shuffling"))
    device: str = field(default="auto", metadata=_engineering("auto, cpu, cuda, mps (default {default})"))
    precision: str = field(
        default="auto",
        metadata=_engineering(
            "autocast precision; auto (default): bf16 where the CPU or GPU computes in bf16 natively "
            "(AVX512-BF16, AMX, recent CUDA GPUs), else fp32",
            choices=PRECISIONS,
        ),
    )
    channels_last: bool | None = field(  # None: on for conv nets on a CPU
        default=None,
        metadata=_engineering("NHWC memory format (default: on for convolutional nets on a CPU)"),
    )
    compile: bool = field(
        default=False,
        metadata=_engineering("torch.compile the model (checked against eager gradients; slow to start on CPU)"),
    )
    threads: int | None = field(default=None, metadata=_engineering("torch CPU threads"))  # None: torch's default
    sync_bn: bool = field(
        default=False, metadata=_engineering("under torchrun: synchronize batch-norm statistics across processes")
    )
    checkpoint_every: int = field(  # 0: end of epoch only
        default=0, metadata=_engineering("also checkpoint every STEPS steps inside an epoch", metavar="STEPS")
    )
    eval_batch_size: int = 1000
    target_accuracy: float | None = field(  # report the time to reach it
        default=None,
        metadata=_engineering(
            "stop once validation accuracy reaches A (checked every --eval-every steps); "
            "summary.json reports time_to_target",
            metavar="A",
        ),
    )
    eval_every: int = field(default=100, metadata=_engineering("steps between target checks", metavar="STEPS"))

    def split_options(self) -> dict[str, Any]:
        """The options of `data.load` that choose this run's splits: seed, fractions, image size, test source."""
        return {
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "image_size": self.image_size,
            "test_data": self.test_data,
        }

    def validate(self) -> TrainConfig:
        """Check every field's range and choice (finite floats, fractions in range, positive or non-negative
        counts, a known precision and penalty), so that a bad value fails before a run starts.

        Returns:
            The config itself.

        Raises:
            UserError: naming the field of the first check that fails.
        """
        super().validate()
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
            self.precision in PRECISIONS, f"unknown precision {self.precision!r}", "choices: " + ", ".join(PRECISIONS)
        )
        check(self.grad_clip is None or self.grad_clip > 0, f"grad_clip must be positive, got {self.grad_clip}")
        check(
            self.train_subset is None or self.train_subset > 0,
            f"train_subset must be positive, got {self.train_subset}",
        )
        check(self.checkpoint_every >= 0, f"checkpoint_every must be >= 0, got {self.checkpoint_every}")
        check(self.penalty in PENALTIES, f"unknown penalty {self.penalty!r}", "choices: " + ", ".join(PENALTIES))
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


def from_dict(values: dict[str, Any], base: Any = None, cls: type | None = None) -> Any:
    """A config (a `TrainConfig`, or `cls`/`type(base)`) from a dict of overrides, read through the class's
    `upgrade` (values of older configs); unknown keys are errors."""
    cls = cls or (type(base) if base is not None else TrainConfig)
    hints = typing.get_type_hints(cls)
    out = dataclasses.replace(base if base is not None else cls())
    for key, value in cls.upgrade(values).items():
        if key not in hints:
            raise UserError(f"unknown config key {key!r}", did_you_mean(key, hints))
        try:
            setattr(out, key, coerce(key, value, hints[key]))
        except UserError as e:
            raise UserError(f"config key {e}") from None
    return out.validate()


# more torch threads than this per CPU core only costs memory (and very many cannot be started at all)
THREADS_PER_CPU = 4
SEED_RANGE = 2**32  # numpy and scikit-learn take seeds in [0, 2**32)
FLOAT32_MAX = 3.4028234663852886e38


def check_config(cfg: Any) -> Any:
    """Refuse values that every config check passes but the run cannot use: a seed outside [0, 2**32), more
    threads than the machine can start, noise that overflows float32; returns `cfg`."""
    seed = getattr(cfg, "seed", 0)
    check(isinstance(seed, int) and 0 <= seed < SEED_RANGE, f"seed must be in 0..{SEED_RANGE - 1}, got {seed}")
    check_threads(getattr(cfg, "threads", None), "threads")
    for name in ("input_noise", "weight_noise"):
        value = getattr(cfg, name, 0.0)
        check(value <= FLOAT32_MAX, f"{name} must be at most {FLOAT32_MAX:.3g} (float32), got {value:g}")
    return cfg


def check_threads(threads: int | None, option: str = "--threads") -> None:
    """Refuse more torch threads than the machine can usefully start: max(64, 4 per CPU) (very many crash the
    process); `option` names the setting in the message."""
    cpus = os.cpu_count() or 1
    limit = max(64, THREADS_PER_CPU * cpus)
    check(
        not threads or threads <= limit,
        f"{option} must be at most {limit} on this machine ({cpus} CPUs), got {threads}",
    )


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
