"""create_optimizer by name: the names, what each implies, and user errors."""

from __future__ import annotations

import pytest
import torch
from tests.optim.helpers import make_model

from dlbasic.errors import UserError
from dlbasic.optim import SGD, SGDP, AdamP, AdamW, create_optimizer, default_lr, list_optimizers

NAMES = ["adadelta", "adagrad", "adam", "adamp", "adamw", "momentum", "nesterov", "radam", "rmsprop", "sgd", "sgdp"]


def test_names() -> None:
    assert list_optimizers() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_name_builds_one_of_ours_with_its_default_lr(name: str) -> None:
    opt = create_optimizer(name, make_model().parameters())
    assert type(opt).__module__.startswith("dlbasic.optim.")
    assert opt.param_groups[0]["lr"] == default_lr(name)


def test_names_imply_their_options_and_kwargs_override_them() -> None:
    params = list(make_model().parameters())
    sgd = create_optimizer("sgd", params)
    assert isinstance(sgd, SGD) and sgd.param_groups[0]["momentum"] == 0.0  # plain: timm's "sgd" is Nesterov
    nes = create_optimizer("nesterov", params, lr=0.5)
    assert nes.param_groups[0]["nesterov"] and nes.param_groups[0]["momentum"] == 0.9
    assert nes.param_groups[0]["lr"] == 0.5
    assert create_optimizer("momentum", params, momentum=0.5).param_groups[0]["momentum"] == 0.5
    assert isinstance(create_optimizer("adamw", params), AdamW)
    assert isinstance(create_optimizer("adamp", params), AdamP)
    assert isinstance(create_optimizer("sgdp", params), SGDP)


@pytest.mark.parametrize(
    ("name", "kw", "message"),
    [
        ("adma", {}, "unknown optimizer 'adma'"),
        ("adam", {"lr": -1.0}, "learning rate must be positive"),
        ("adam", {"betas": (2.0, 0.9)}, "Invalid beta parameter at index 0: 2.0"),
        ("sgd", {"betas": (0.9, 0.99)}, "does not take that option"),
    ],
)
def test_bad_input_is_a_user_error(name: str, kw: dict, message: str) -> None:
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(".", r"\.")):
        create_optimizer(name, [torch.nn.Parameter(torch.zeros(2))], **kw)
