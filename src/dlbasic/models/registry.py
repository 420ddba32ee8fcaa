"""Model registry: `@register_model` factories, `create_model(name, ...)`, `list_models()`.

A factory takes `num_classes`, `in_channels` and `input_size` (the side of the square input)
plus its own keyword arguments, and returns an `nn.Module` mapping Tensor[B, C, S, S] to
logits Tensor[B, num_classes].
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from dlbasic.errors import UserError, check
from dlbasic.registry import Registry

models: Registry[Callable[..., nn.Module]] = Registry("model")


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Decorator adding a factory to the registry under its function name."""
    return models.register()(fn)


def list_models() -> list[str]:
    _import_families()
    return models.names()


def create_model(name: str, num_classes: int = 10, in_channels: int = 3, input_size: int = 224,
                 **kwargs) -> nn.Module:
    """Build a registered model by name.

    Args:
        name: a name from `list_models()`.
        num_classes: outputs of the classifier.
        in_channels: channels of the input images.
        input_size: side of the square input; small sizes (e.g. 28, 32) pick small-input variants.
        **kwargs: family options (norm layer, activation, dropout, widths, ...).
    """
    _import_families()
    check(num_classes >= 1, f"num_classes must be positive, got {num_classes}")
    check(in_channels >= 1, f"in_channels must be positive, got {in_channels}")
    check(input_size >= 1, f"input_size must be positive, got {input_size}")
    factory = models.get(name)
    try:
        return factory(num_classes=num_classes, in_channels=in_channels, input_size=input_size, **kwargs)
    except TypeError as e:
        if "unexpected keyword argument" in str(e):
            raise UserError(f"model {name!r} does not take that option: {e}") from None
        if not kwargs:
            raise
        raise UserError(f"model {name!r} cannot be built with options {kwargs}: {_first_line(e)}") from None
    except (ValueError, RuntimeError) as e:
        if not kwargs:
            raise
        raise UserError(f"model {name!r} cannot be built with options {kwargs}: {_first_line(e)}") from None


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:160]


def _import_families() -> None:
    """Model families register themselves on import (the FCN segmentation models included)."""
    import importlib
    import pkgutil

    import dlbasic.models as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name != "registry":
            importlib.import_module(f"dlbasic.models.{info.name}")
    importlib.import_module("dlbasic.segmentation.fcn")
