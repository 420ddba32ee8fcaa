"""torch's optimizer contract: state_dicts move both ways, LR schedulers, closures, validation errors."""

from __future__ import annotations

import copy
from collections.abc import Callable

import adamp
import pytest
import torch
from tests.optim.helpers import assert_same, data, make_model, train

from dlbasic.optim import (
    SGD,
    SGDP,
    Adadelta,
    Adagrad,
    Adam,
    AdamP,
    AdamW,
    RAdam,
    RMSprop,
    _native,
    create_optimizer,
    list_optimizers,
)

# (ours, reference, kwargs) with every state tensor in play
PAIRS = [
    (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (Adagrad, torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.01)),
    (Adadelta, torch.optim.Adadelta, dict(weight_decay=0.01)),
    (RMSprop, torch.optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.5)),
    (Adam, torch.optim.Adam, dict(lr=0.01, amsgrad=True)),
    (AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
    (RAdam, torch.optim.RAdam, dict(lr=0.01, weight_decay=0.01)),
    (AdamP, adamp.AdamP, dict(lr=0.01, weight_decay=0.01)),
    (SGDP, adamp.SGDP, dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
]
IDS = [c[0].__name__ for c in PAIRS]


def _handover(first: type, second: type, kw_first: dict, kw_second: dict, norm: bool) -> None:
    """30 steps with `first`, its state_dict into `second`, 30 more; compare with 60 steps of `first`."""
    a, b = make_model(norm=norm), make_model(norm=norm)
    opt_a = first(a.parameters(), **kw_first)
    train(a, opt_a, 30)
    b.load_state_dict(a.state_dict())
    opt_b = second(b.parameters(), **kw_second)
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))  # torch's load keeps the tensors it is given
    train(a, opt_a, 30)
    train(b, opt_b, 30)
    assert_same(b, a)


@pytest.mark.parametrize(("ours", "ref", "kw"), PAIRS, ids=IDS)
def test_state_dict_moves_to_reference_and_back(ours: type, ref: type, kw: dict) -> None:
    norm = ref in (adamp.AdamP, adamp.SGDP)
    ref_kw = kw if norm else {**kw, "foreach": False}
    _handover(ours, ref, kw, ref_kw, norm)
    _handover(ref, ours, ref_kw, kw, norm)


@pytest.mark.parametrize(("ours", "ref", "kw"), PAIRS, ids=IDS)
def test_state_names_match_reference(ours: type, ref: type, kw: dict) -> None:
    norm = ref in (adamp.AdamP, adamp.SGDP)
    a, b = make_model(norm=norm), make_model(norm=norm)
    opt_a, opt_b = ours(a.parameters(), **kw), ref(b.parameters(), **kw)
    train(a, opt_a, 2)
    train(b, opt_b, 2)
    for key, sa in opt_a.state_dict()["state"].items():
        sb = opt_b.state_dict()["state"][key]
        assert sorted(sa) == sorted(sb)
        assert {k: (type(v), getattr(v, "dtype", None)) for k, v in sa.items()} == {
            k: (type(v), getattr(v, "dtype", None)) for k, v in sb.items()
        }


@pytest.mark.parametrize("path", [dict(foreach=False, fused=False), dict(foreach=True), dict()])
def test_lr_scheduler_drives_ours_like_torch(path: dict) -> None:
    a, b = make_model(), make_model()
    opt_a = Adam(a.parameters(), lr=0.02, **path)
    opt_b = torch.optim.Adam(b.parameters(), lr=0.02, foreach=False)
    sched_a = torch.optim.lr_scheduler.OneCycleLR(opt_a, max_lr=0.05, total_steps=40)
    sched_b = torch.optim.lr_scheduler.OneCycleLR(opt_b, max_lr=0.05, total_steps=40)
    train(a, opt_a, 40, after_step=sched_a.step)
    train(b, opt_b, 40, after_step=sched_b.step)
    assert opt_a.param_groups[0]["lr"] == opt_b.param_groups[0]["lr"] != 0.02
    assert_same(a, b)


def test_step_lr_changes_the_update() -> None:
    model = make_model()
    opt = SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.0)
    train(model, opt, 1, after_step=sched.step)
    before = [p.detach().clone() for p in model.parameters()]
    train(model, opt, 1)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))  # lr is now 0


@pytest.mark.parametrize("cls", [SGD, Adagrad, Adadelta, RMSprop, Adam, AdamW, RAdam, AdamP, SGDP])
def test_closure_is_called_and_its_loss_returned(cls: type) -> None:
    model = make_model()
    x, y = data()
    opt = cls(model.parameters(), lr=0.01)
    calls = []

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        calls.append(loss.item())
        return loss

    losses = [opt.step(closure).item() for _ in range(20)]
    assert losses == calls
    assert losses[-1] < losses[0]
    assert opt.step() is None


BAD = [
    (SGD, dict(lr=-0.1), "Invalid learning rate: -0.1"),
    (SGD, dict(lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    (SGD, dict(lr=0.1, weight_decay=-1e-4), "Invalid weight_decay value: -0.0001"),
    (SGD, dict(lr=0.1, dampening=1.5), "Invalid dampening value: 1.5"),
    (SGD, dict(lr=0.1, nesterov=True), "Nesterov momentum requires a momentum"),
    (Adagrad, dict(lr_decay=-1.0), "Invalid lr_decay value: -1.0"),
    (Adagrad, dict(initial_accumulator_value=-2.0), "Invalid initial_accumulator_value value: -2.0"),
    (Adagrad, dict(eps=-1e-10), "Invalid epsilon value: -1e-10"),
    (Adadelta, dict(rho=1.5), "Invalid rho value: 1.5"),
    (RMSprop, dict(alpha=-0.9), "Invalid alpha value: -0.9"),
    (RMSprop, dict(momentum=-0.1), "Invalid momentum value: -0.1"),
    (Adam, dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (AdamW, dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (RAdam, dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    (AdamP, dict(delta=-0.1), "Invalid delta value: -0.1"),
    (AdamP, dict(wd_ratio=2.0), "Invalid wd_ratio value: 2.0"),
    (SGDP, dict(lr=0.1, momentum=1.0), "Invalid momentum value: 1.0"),
]


@pytest.mark.parametrize(("cls", "kw", "message"), BAD, ids=[f"{c.__name__}-{m}" for c, _, m in BAD])
def test_bad_hyperparameters_raise_value_error_naming_the_value(cls: type, kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        cls(make_model().parameters(), **kw)


def test_fused_and_foreach_together_are_refused() -> None:
    with pytest.raises(RuntimeError, match="cannot be `True` together"):
        Adam(make_model().parameters(), fused=True, foreach=True)


@pytest.mark.parametrize("planned", [False, True], ids=["first-step", "planned-step"])
@pytest.mark.parametrize("name", list_optimizers())
def test_backward_through_weights_a_step_changed_raises(name: str, planned: bool) -> None:
    """A graph that saved a weight refuses to backward once a step wrote it, as with torch.optim (the fused
    kernels write through raw pointers, and bump the version counters themselves)."""
    torch.manual_seed(0)

    def setup(make: Callable) -> tuple[torch.nn.Parameter, torch.optim.Optimizer, torch.Tensor]:
        w, b = torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(4))
        opt = make([w, b])
        if planned:  # a second step of a fused optimizer goes through its plan
            w.grad, b.grad = torch.randn_like(w), torch.randn_like(b)
            opt.step()
        y = (w * w).sum()  # saves w for backward
        w.grad, b.grad = torch.randn_like(w), torch.randn_like(b)
        return w, opt, y

    w, opt, y = setup(lambda ps: torch.optim.SGD(ps, lr=0.1))
    opt.step()
    with pytest.raises(RuntimeError) as expected:
        y.backward()

    w, opt, y = setup(lambda ps: create_optimizer(name, ps))
    before = {k: v._version for k, v in opt.state[w].items() if torch.is_tensor(v)}
    version, had_plan = w._version, bool(opt._plans)
    opt.step()
    with pytest.raises(RuntimeError) as raised:
        y.backward()
    assert str(raised.value).split(";")[0] == str(expected.value).split(";")[0]  # up to the version numbers
    assert w._version > version
    assert all(opt.state[w][k]._version > v for k, v in before.items())  # and every state tensor it wrote
    with_plans = _native.available() and type(opt).__name__ not in ("Adadelta", "RMSprop", "RAdam")
    assert had_plan == (planned and with_plans)
