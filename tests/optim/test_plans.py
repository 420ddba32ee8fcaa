"""The fused path reuses a group's packed kernel arguments between steps (`Plan`): whatever a user changes
between steps (parameter data, gradients, state, hyperparameters, param groups) must be seen."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from tests.optim.helpers import assert_same, data, make_model

from dlbasic.optim import SGD, SGDP, Adagrad, Adam, AdamP, AdamW, _native

pytestmark = pytest.mark.skipif(not _native.available(), reason="no C++ compiler: no fused kernels")

PAIRS = {
    "sgd": (lambda ps: SGD(ps, lr=0.05, fused=True), lambda ps: torch.optim.SGD(ps, lr=0.05, foreach=False)),
    "momentum": (
        lambda ps: SGD(ps, lr=0.05, momentum=0.9, fused=True),
        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, foreach=False),
    ),
    "adagrad": (
        lambda ps: Adagrad(ps, lr=0.05, lr_decay=0.01, fused=True),
        lambda ps: torch.optim.Adagrad(ps, lr=0.05, lr_decay=0.01, foreach=False),
    ),
    "adam": (lambda ps: Adam(ps, lr=0.01, fused=True), lambda ps: torch.optim.Adam(ps, lr=0.01, foreach=False)),
    "adamw": (lambda ps: AdamW(ps, lr=0.01, fused=True), lambda ps: torch.optim.AdamW(ps, lr=0.01, foreach=False)),
}


def _run(
    name: str,
    change: Callable[[int, torch.nn.Module, torch.optim.Optimizer], None],
    steps: int = 12,
    set_to_none: bool = True,
) -> None:
    """Train ours (fused) and torch's loop side by side, applying `change(step, model, opt)` to both."""
    ours, ref = PAIRS[name]
    a, b = make_model(), make_model()
    opt_a, opt_b = ours(list(a.parameters())), ref(list(b.parameters()))
    x, y = data()
    for i in range(steps):
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad(set_to_none=set_to_none)
            ((model(x) - y) ** 2).mean().backward()
            change(i, model, opt)
            opt.step()
    assert opt_a._plans
    assert_same(a, b)
    for pa, pb in zip(a.parameters(), b.parameters()):
        for key, vb in opt_b.state[pb].items():
            va = opt_a.state[pa][key]
            if vb.dim() == 0:
                assert float(va) == float(vb), key
            else:
                torch.testing.assert_close(va, vb, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(PAIRS))
def test_kept_gradients(name: str) -> None:
    _run(name, lambda i, m, o: None, set_to_none=False)


@pytest.mark.parametrize("name", list(PAIRS))
def test_replaced_parameter_data(name: str) -> None:
    def change(i: int, model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        if i in (4, 5, 9):
            w = model[0].weight
            w.data = w.data.clone() * 0.5  # new storage, same shape

    _run(name, change)


@pytest.mark.parametrize("name", list(PAIRS))
def test_missing_gradient(name: str) -> None:
    def change(i: int, model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        if i in (3, 7):
            model[2].bias.grad = None

    _run(name, change)


@pytest.mark.parametrize("name", list(PAIRS))
def test_loaded_state_dict(name: str) -> None:
    def change(i: int, model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        if i == 6:
            sd = opt.state_dict()
            state = {k: {n: v.clone() for n, v in s.items()} for k, s in sd["state"].items()}
            opt.load_state_dict({"state": state, "param_groups": sd["param_groups"]})

    _run(name, change)


@pytest.mark.parametrize("name", list(PAIRS))
def test_replaced_state_tensor(name: str) -> None:
    def change(i: int, model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        if i == 5:
            for st in opt.state.values():
                for key, v in list(st.items()):
                    st[key] = v.clone()

    _run(name, change)


@pytest.mark.parametrize("name", list(PAIRS))
def test_changed_hyperparameters(name: str) -> None:
    def change(i: int, model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        group = opt.param_groups[0]
        group["lr"] *= 0.9
        if i == 5 and "maximize" in group:
            group["maximize"] = True
        if i == 5 and "momentum" in group and name == "momentum":
            group["nesterov"] = True
        if i == 4 and "weight_decay" in group:
            group["weight_decay"] = 0.01

    _run(name, change)


def test_momentum_switched_on_later() -> None:
    def change(i: int, model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        if i == 4:
            opt.param_groups[0]["momentum"] = 0.9

    _run("sgd", change)


def test_new_param_group() -> None:
    def change(i: int, model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        if i == 0:
            opt.param_groups[0]["params"] = list(model[0].parameters())  # the rest joins on step 4
        if i == 4:
            opt.add_param_group({"params": list(model[2].parameters())})

    _run("adam", change)


@pytest.mark.parametrize("step", [torch.tensor(0.0, dtype=torch.float64), torch.tensor(0)])
@pytest.mark.parametrize("name", ["adagrad", "adam"])
def test_step_counters_of_other_dtypes(name: str, step: torch.Tensor) -> None:
    """float64 counters are counted by the kernel as float32 ones; others (here int64) in Python."""
    ours, _ = PAIRS[name]
    model = make_model()
    opt = ours(list(model.parameters()))
    for st in opt.state.values():
        st.clear()
    for p in model.parameters():
        if name == "adam":
            opt.state[p].update(exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
        else:
            opt.state[p]["sum"] = torch.zeros_like(p)
        opt.state[p]["step"] = step.clone()
    ref = make_model()
    opt_ref = PAIRS[name][1](list(ref.parameters()))
    x, y = data()
    for _ in range(5):
        for m, o in ((model, opt), (ref, opt_ref)):
            o.zero_grad()
            ((m(x) - y) ** 2).mean().backward()
            o.step()
    assert_same(model, ref)
    for st in opt.state.values():
        assert st["step"].dtype == step.dtype and float(st["step"]) == 5


@pytest.mark.parametrize("cls", [AdamP, SGDP])
def test_projected_plans_match_the_general_path(cls: type) -> None:
    """AdamP/SGDP: a run whose plan is dropped before every step matches one that keeps it."""
    kw = dict(lr=0.01, weight_decay=1e-3) if cls is AdamP else dict(lr=0.01, momentum=0.9, weight_decay=1e-3)
    a, b = make_model(norm=True), make_model(norm=True)
    opt_a, opt_b = cls(a.parameters(), fused=True, **kw), cls(b.parameters(), fused=True, **kw)
    x, y = data()
    for _ in range(8):
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            if opt is opt_b:
                opt._plans.clear()
            opt.step()
    assert opt_a._plans  # (opt_b makes a new plan at each of its general steps)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
