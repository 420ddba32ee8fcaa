"""Model registry: `@register_model` factories, `create_model(name, ...)`, `list_models()`.

A factory takes `num_classes`, `in_channels` and `input_size` (the side of the square input)
plus its own keyword arguments, and returns an `nn.Module` mapping Tensor[B, C, S, S] to
logits Tensor[B, num_classes].
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable
from typing import Any

from torch import nn

from dlbasic.errors import UserError, check
from dlbasic.registry import Registry

models: Registry[Callable[..., nn.Module]] = Registry("model")


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Decorator adding a factory to the registry under its function name."""
    return models.register()(fn)


def list_models() -> list[str]:
    """The names of all registered models, sorted (importing every model family first)."""
    _import_families()
    return models.names()


def create_model(
    name: str,
    num_classes: int | None = None,
    in_channels: int | None = None,
    input_size: int | None = None,
    weights: Any = None,
    **kwargs,
) -> nn.Module:
    """Build a registered model by name.

    Args:
        name: a name from `list_models()`.
        num_classes: outputs of the classifier (default 10, or the weights').
        in_channels: channels of the input images (default 3, or the weights').
        input_size: side of the square input; small sizes (e.g. 28, 32) pick small-input variants (default 224,
            or the one in the weights' metadata).
        weights: load these weights: a state dict in dlbasic's or torchvision's layout, a file (.pt/.pth read
            safely, a dlbasic checkpoint or .safetensors export, whose metadata fills in the sizes and options) or
            "torchvision" (torchvision's published weights; needs torchvision and a network).
            See `dlbasic.models.interop`.
        **kwargs: family options (norm layer, activation, dropout, widths, ...).
    """
    if weights is not None:
        from dlbasic.models.weight_files import create_with_weights

        return create_with_weights(name, weights, num_classes, in_channels, input_size, **kwargs)
    num_classes, in_channels, input_size = check_sizes(
        10 if num_classes is None else num_classes,
        3 if in_channels is None else in_channels,
        224 if input_size is None else input_size,
    )
    _import_families()
    factory = models.get(name)
    try:
        model = factory(num_classes=num_classes, in_channels=in_channels, input_size=input_size, **kwargs)
    except TypeError as e:
        if "unexpected keyword argument" in str(e):
            raise UserError(f"model {name!r} does not take that option: {e}") from None
        if not kwargs:
            raise
        raise UserError(f"model {name!r} cannot be built with options {kwargs}: {_first_line(e)}") from None
    except MemoryError:
        raise _too_big(name, input_size) from None
    except (KeyError, IndexError) as e:  # an option value the family has no entry for (e.g. stride=7)
        if not kwargs:
            raise
        raise UserError(
            f"model {name!r} cannot be built with options {kwargs}: {e.args[0]!r} is not a value it takes"
            if isinstance(e, KeyError) and e.args
            else f"model {name!r} cannot be built with options {kwargs}: {_first_line(e)}"
        ) from None
    except (ValueError, RuntimeError) as e:
        if _out_of_memory(e):
            raise _too_big(name, input_size) from None
        if not kwargs:
            raise
        raise UserError(f"model {name!r} cannot be built with options {kwargs}: {_first_line(e)}") from None
    if input_size <= PROBED_INPUT:
        check_input_size(model, name, in_channels, input_size)
    return model


# the sizes a model can be built for; beyond them a value is a typo or comes from a crafted file
MAX_CLASSES = 100_000  # the largest label set in common use, ImageNet-21k's, has 21,843 classes
MAX_CHANNELS = 1024  # hyperspectral images have a few hundred bands
# twice the largest sides models are trained at (2048); one 4096 x 4096 RGB image in float32 is 200 MB,
# and the heads that mlp and simple_cnn size from the input would already need 50 GB and more
MAX_INPUT_SIZE = 4096
BOUNDS = {"num_classes": MAX_CLASSES, "in_channels": MAX_CHANNELS, "input_size": MAX_INPUT_SIZE}


def check_size(value: Any, field: str, where: str = "") -> int:
    """`value` as an int in 1..`BOUNDS[field]`; a `UserError` naming `where` (e.g. "FILE: metadata ") and
    `field` otherwise (a string, a list, a fraction, a bool, zero, or too large)."""
    most = BOUNDS[field]
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)  # ints and integer scalars of numpy and torch, not floats
    except TypeError:
        raise UserError(f"{where}{field} must be an integer from 1 to {most}, got {value!r}"[:300]) from None
    check(number >= 1, f"{where}{field} must be positive, got {number}")
    check(number <= most, f"{where}{field} must be at most {most}, got {number}")
    return number


def check_sizes(num_classes: Any, in_channels: Any, input_size: Any, where: str = "") -> tuple[int, int, int]:
    """(num_classes, in_channels, input_size) checked by `check_size`."""
    return (
        check_size(num_classes, "num_classes", where),
        check_size(in_channels, "in_channels", where),
        check_size(input_size, "input_size", where),
    )


# inputs up to this side are run through a new model once, so a map that pools away to nothing is
# refused when the model is built rather than at the first training step (larger inputs are the
# sizes the families are designed for, and a forward pass of them costs more)
PROBED_INPUT = 64


def check_input_size(model: nn.Module, name: str, in_channels: int, input_size: int) -> None:
    """Refuse, in one line, a model whose layers shrink `input_size` x `input_size` inputs to nothing.

    One image of zeros goes through the model in eval mode (on its own device, so a model built on the
    `meta` device costs no arithmetic); no parameter, buffer or random state changes.
    """
    import torch

    param = next(itertools.chain(model.parameters(), model.buffers()), None)
    device = param.device if param is not None else None
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    x = torch.zeros(1, in_channels, input_size, input_size, device=device, dtype=dtype)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    except NotImplementedError:  # an operation the device cannot run; the size may well be fine
        return
    except (RuntimeError, ValueError) as e:
        if _out_of_memory(e):
            raise _too_big(name, input_size) from None
        if not any(word in str(e) for word in ("size", "shape", "dimension")):
            raise
        raise UserError(
            f"{name} cannot take {input_size}x{input_size} inputs ({_first_line(e)})",
            "its convolutions and pooling shrink smaller images to nothing; resize the images to more "
            "pixels (--image-size) or choose another model",
        ) from None
    finally:
        for m, training in modes:
            m.training = training


def _out_of_memory(e: BaseException) -> bool:
    return isinstance(e, MemoryError) or "can't allocate memory" in str(e) or "out of memory" in str(e)


def _too_big(name: str, input_size: int) -> UserError:
    return UserError(
        f"model {name!r} for {input_size}x{input_size} inputs needs more memory than this machine has",
        "use a smaller --image-size or a smaller model",
    )


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:160]


def _import_families() -> None:
    """Model families register themselves on import (every module of this package, FCNs included)."""
    import importlib
    import pkgutil

    import dlbasic.models as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name != "registry":
            importlib.import_module(f"dlbasic.models.{info.name}")
