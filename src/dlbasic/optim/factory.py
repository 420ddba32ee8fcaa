"""`create_optimizer(name, params, **kw)` and `list_optimizers()`.

Names: `sgd` (plain gradient descent, no momentum; timm's `sgd` means Nesterov, ours does not),
`momentum`, `nesterov`, `adagrad`, `adadelta`, `rmsprop`, `adam`, `adamw`, `radam`, `adamp`,
`sgdp` (SGDP with momentum 0.9). The classes are dlbasic's own (`dlbasic.optim.SGD`, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from dlbasic.errors import UserError, check
from dlbasic.optim.adadelta import Adadelta
from dlbasic.optim.adagrad import Adagrad
from dlbasic.optim.adam import Adam, AdamW
from dlbasic.optim.adamp import SGDP, AdamP
from dlbasic.optim.radam import RAdam
from dlbasic.optim.rmsprop import RMSprop
from dlbasic.optim.sgd import SGD
from dlbasic.registry import Registry


@dataclass(frozen=True)
class OptimInfo:
    """How a name maps to an optimizer class and which fixed options it implies."""

    name: str
    cls: Callable[..., torch.optim.Optimizer]
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)  # options implied by the name
    default_lr: float = 1e-3


optimizers: Registry[OptimInfo] = Registry("optimizer")


def _add(info: OptimInfo) -> None:
    optimizers.add(info.name, info)


_add(OptimInfo("sgd", SGD, "gradient descent: w -= lr * g", {"momentum": 0.0}, 0.1))
_add(OptimInfo("momentum", SGD, "heavy-ball momentum: v = mu v + g; w -= lr v", {"momentum": 0.9}, 0.01))
_add(OptimInfo("nesterov", SGD, "Nesterov accelerated gradient", {"momentum": 0.9, "nesterov": True}, 0.01))
_add(OptimInfo("adagrad", Adagrad, "per-parameter lr / sqrt(sum of squared gradients)", {}, 0.01))
_add(OptimInfo("adadelta", Adadelta, "Adagrad with decaying averages and no lr", {}, 1.0))
_add(OptimInfo("rmsprop", RMSprop, "lr / sqrt(moving average of squared gradients)", {}, 1e-3))
_add(OptimInfo("adam", Adam, "momentum + RMSprop with bias correction", {}, 1e-3))
_add(OptimInfo("adamw", AdamW, "Adam with decoupled weight decay", {}, 1e-3))
_add(OptimInfo("radam", RAdam, "Adam with rectified variance warm-up", {}, 1e-3))
_add(OptimInfo("adamp", AdamP, "Adam projecting updates off scale-invariant weights", {}, 1e-3))
_add(OptimInfo("sgdp", SGDP, "momentum SGD projecting updates off scale-invariant weights", {"momentum": 0.9}, 0.01))


def list_optimizers() -> list[str]:
    """The registered optimizer names, sorted."""
    return optimizers.names()


def default_lr(name: str) -> float:
    """The learning rate `create_optimizer(name, params)` uses when `lr` is not given."""
    return optimizers.get(name).default_lr


def create_optimizer(name: str, params: Iterable, lr: float | None = None, **kwargs) -> torch.optim.Optimizer:
    """Build an optimizer by name; `lr=None` takes the name's usual default.

    Options the name implies (`momentum=0.9` for "momentum") can be overridden by `kwargs`.
    """
    info = optimizers.get(name)
    lr = info.default_lr if lr is None else lr
    check(lr > 0, f"learning rate must be positive, got {lr}")
    options = {**info.defaults, **{k: v for k, v in kwargs.items() if v is not None}}
    try:
        return info.cls(params, lr=lr, **options)
    except TypeError as e:
        raise UserError(f"optimizer {name!r} does not take that option: {e}") from None
    except ValueError as e:
        raise UserError(f"optimizer {name!r}: {e}") from None
