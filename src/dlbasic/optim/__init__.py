"""Optimizers written from scratch on torch's contract, and `create_optimizer(name, params, **kw)` by name.

Each class matches its torch (or, for AdamP/SGDP, the authors' `adamp`) counterpart in arguments,
state layout and results; see `_base.py` for the three code paths (loop, foreach, fused kernel).
"""

from dlbasic.optim.adadelta import Adadelta
from dlbasic.optim.adagrad import Adagrad
from dlbasic.optim.adam import Adam, AdamW
from dlbasic.optim.adamp import SGDP, AdamP
from dlbasic.optim.factory import OptimInfo, create_optimizer, default_lr, list_optimizers, optimizers
from dlbasic.optim.radam import RAdam
from dlbasic.optim.rmsprop import RMSprop
from dlbasic.optim.sgd import SGD

__all__ = [
    "SGD",
    "SGDP",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamP",
    "AdamW",
    "OptimInfo",
    "RAdam",
    "RMSprop",
    "create_optimizer",
    "default_lr",
    "list_optimizers",
    "optimizers",
]
