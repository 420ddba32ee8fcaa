"""The fused kernels take any dense layout shared by a parameter, its gradient and its state (channels-last
conv nets): they must agree with the loop there, and leave to it what they cannot take."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from dlbasic.optim import SGD, SGDP, Adadelta, Adagrad, Adam, AdamP, AdamW, RAdam, RMSprop, _native

pytestmark = pytest.mark.skipif(not _native.available(), reason="no C++ compiler: no fused kernels")

# every family, with every state tensor in play
FAMILIES = [
    (SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (Adagrad, dict(lr=0.05, lr_decay=0.01)),
    (Adadelta, dict(weight_decay=0.01)),
    (RMSprop, dict(lr=0.01, centered=True, momentum=0.5)),
    (Adam, dict(lr=0.01, amsgrad=True)),
    (AdamW, dict(lr=0.01, weight_decay=0.1)),
    (RAdam, dict(lr=0.01, weight_decay=0.01)),
    (AdamP, dict(lr=0.01, weight_decay=0.01)),
    (SGDP, dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    (AdamP, dict(lr=0.01, weight_decay=0.01, nesterov=True, delta=10.0)),  # delta=10: always projects
    (SGDP, dict(lr=0.05, momentum=0.9, nesterov=True, delta=10.0)),
]
IDS = [c.__name__ + ("-projected" if kw.get("delta") else "") for c, kw in FAMILIES]


def conv_net(seed: int = 0) -> nn.Module:
    """Conv -> BatchNorm -> ReLU -> Conv (with bias) -> Linear, in float64: 4-D, 2-D and 1-D parameters."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 4, 3),
        nn.Flatten(),
        nn.Linear(4 * 2 * 2, 3),
    ).double()


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 3, 6, 6, generator=g, dtype=torch.float64)
    return x.to(memory_format=torch.channels_last), torch.randn(16, 3, generator=g, dtype=torch.float64)


def train(
    model: nn.Module, opt: torch.optim.Optimizer, steps: int, change: Callable[[nn.Module], None] | None = None
) -> None:
    x, y = batch()
    for _ in range(steps):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        if change is not None:
            change(model)
        opt.step()


def loop_only(opt: torch.optim.Optimizer) -> list[list[torch.Tensor]]:
    """Record the parameters `opt` hands to its loop path (the fallback of the fused one)."""
    calls: list[list[torch.Tensor]] = []
    single = opt._single

    def spy(group, params, grads, states):
        calls.append(list(params))
        single(group, params, grads, states)

    opt._single = spy
    return calls


def copy(t: torch.Tensor) -> nn.Parameter:
    """A parameter holding `t`'s values with `t`'s strides, dense or not (clone() makes non-dense ones dense)."""
    return nn.Parameter(torch.empty_strided(t.shape, t.stride(), dtype=t.dtype).copy_(t))


def assert_close(a: nn.Module, b: nn.Module, rtol: float = 1e-12) -> None:
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        scale = pb.detach().abs().max().item()
        torch.testing.assert_close(pa, pb, rtol=rtol, atol=rtol * scale, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize(("cls", "kw"), FAMILIES, ids=IDS)
def test_fused_step_on_channels_last_weights_matches_the_loop(cls: type, kw: dict) -> None:
    a, b = (conv_net().to(memory_format=torch.channels_last) for _ in range(2))
    assert not a[0].weight.is_contiguous() and not a[3].weight.is_contiguous()
    opt_a, opt_b = cls(a.parameters(), **kw), cls(b.parameters(), foreach=False, fused=False, **kw)
    loop_calls = loop_only(opt_a)
    train(a, opt_a, 12)
    train(b, opt_b, 12)
    assert loop_calls == []  # every tensor went through the kernels
    assert_close(a, b)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert pa.stride() == pb.stride()
        for key, vb in opt_b.state[pb].items():
            va = opt_a.state[pa][key]
            if torch.is_tensor(vb) and vb.dim() > 0:
                assert va.stride() == pa.stride(), key  # state keeps the parameter's layout
                torch.testing.assert_close(va, vb, rtol=1e-12, atol=1e-12 * vb.abs().max().item())


@pytest.mark.parametrize(("cls", "kw"), [FAMILIES[4], FAMILIES[7]], ids=["Adam", "AdamP"])
def test_a_gradient_in_another_layout_goes_through_the_loop(cls: type, kw: dict) -> None:
    """The kernels need the gradient laid out as its parameter; one that is not takes the loop, for that step."""
    a, b = (conv_net().to(memory_format=torch.channels_last) for _ in range(2))
    opt_a, opt_b = cls(a.parameters(), **kw), cls(b.parameters(), foreach=False, fused=False, **kw)
    loop_calls = loop_only(opt_a)

    def contiguous_grad(model: nn.Module) -> None:
        model[3].weight.grad = model[3].weight.grad.contiguous()

    train(a, opt_a, 6, contiguous_grad)
    train(b, opt_b, 6, contiguous_grad)
    assert loop_calls and all(ps == [a[3].weight] for ps in loop_calls)
    assert_close(a, b)
    train(a, opt_a, 3)  # back to matching gradients: back to the kernels
    train(b, opt_b, 3)
    assert len(loop_calls) == 6
    assert_close(a, b)


def test_adagrad_state_made_before_the_model_went_channels_last_is_re_laid() -> None:
    """Adagrad makes its sums in the constructor; a trainer converts the model afterwards."""
    a, b = conv_net(), conv_net()
    opt_a, opt_b = Adagrad(a.parameters(), lr=0.05), Adagrad(b.parameters(), lr=0.05, foreach=False)
    a.to(memory_format=torch.channels_last)
    b.to(memory_format=torch.channels_last)
    loop_calls = loop_only(opt_a)
    train(a, opt_a, 5)
    train(b, opt_b, 5)
    assert loop_calls == []
    assert opt_a.state[a[0].weight]["sum"].is_contiguous(memory_format=torch.channels_last)
    assert_close(a, b)


@pytest.mark.parametrize("cls", [AdamP, SGDP])
def test_projected_weights_whose_rows_interleave_go_through_the_loop(cls: type) -> None:
    """AdamP/SGDP's kernels take an output row as a block of consecutive elements: a transposed weight's
    rows interleave, so it takes the loop; a channels-last one's do not."""
    torch.manual_seed(0)
    kw = dict(lr=0.01, weight_decay=0.01, delta=10.0, **({"momentum": 0.9} if cls is SGDP else {}))
    start = [torch.randn(6, 5, dtype=torch.float64).t(), torch.randn(4, 3, 2, 2, dtype=torch.float64)]
    a = [copy(start[0]), copy(start[1].to(memory_format=torch.channels_last))]
    b = [copy(w) for w in start]
    opt_a, opt_b = cls(a, **kw), cls(b, foreach=False, fused=False, **kw)
    loop_calls = loop_only(opt_a)
    for _ in range(5):
        for params, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            sum(((p - 0.3) ** 4).sum() for p in params).backward()
            opt.step()
    assert all(ps == [a[0]] for ps in loop_calls) and len(loop_calls) == 5
    for pa, pb in zip(a, b):
        torch.testing.assert_close(pa, pb, rtol=1e-12, atol=1e-12)


def test_permuted_dense_layouts_are_fused_and_strided_views_are_not() -> None:
    torch.manual_seed(0)
    start = [
        torch.randn(5, 4, dtype=torch.float64).t(),  # dense, transposed
        torch.randn(3, 4, 5, dtype=torch.float64).permute(2, 0, 1),  # dense, any order of dims
        torch.randn(6, 8, dtype=torch.float64)[:, ::2],  # not dense: skips every other element
        torch.randn(7, dtype=torch.float64),
    ]
    ws, ref = [copy(w) for w in start], [copy(w) for w in start]
    assert not ws[0].is_contiguous() and not ws[1].is_contiguous() and not _native.dense(ws[2])
    opt_a, opt_b = Adam(ws, lr=0.1, fused=True), torch.optim.Adam(ref, lr=0.1, foreach=False)
    loop_calls = loop_only(opt_a)
    for _ in range(10):
        for params, opt in ((ws, opt_a), (ref, opt_b)):
            opt.zero_grad()
            sum((p**3).sum() for p in params).backward()
            opt.step()
    assert all(ps == [ws[2]] for ps in loop_calls) and len(loop_calls) == 10
    for w, r in zip(ws, ref):
        torch.testing.assert_close(w, r, rtol=1e-12, atol=1e-12)
        assert w.stride() == r.stride()


LAYOUTS = [  # (name, make a tensor, whether it is dense)
    ("contiguous", lambda: torch.zeros(4, 3, 2, 2), True),
    ("channels_last", lambda: torch.zeros(4, 3, 2, 2).to(memory_format=torch.channels_last), True),
    ("channels_last_3d", lambda: torch.zeros(2, 3, 2, 2, 2).to(memory_format=torch.channels_last_3d), True),
    ("permuted", lambda: torch.zeros(3, 4, 5).permute(1, 2, 0), True),
    ("offset view", lambda: torch.zeros(10, 6)[2:5], True),
    ("size-1 dims, odd strides", lambda: torch.zeros(4, 5, 3, 1).permute(0, 3, 2, 1), True),
    ("expanded", lambda: torch.zeros(4, 1).expand(4, 3), False),
    ("every other column", lambda: torch.zeros(4, 6)[:, ::2], False),
    ("empty", lambda: torch.zeros(0, 3).t(), True),
]


@pytest.mark.parametrize(("make", "dense"), [(m, d) for _, m, d in LAYOUTS], ids=[n for n, _, _ in LAYOUTS])
def test_eligible_layouts(make: Callable[[], torch.Tensor], dense: bool) -> None:
    p = make()
    assert _native.dense(p) == dense
    same = torch.empty_like(p) if dense else torch.empty_strided(p.shape, p.stride())
    assert _native.eligible(p, same, same.clone(memory_format=torch.preserve_format)) == dense
    if dense and not p.is_contiguous() and p.numel():
        assert not _native.eligible(p, p.contiguous())  # a gradient laid out otherwise
        assert not _native.eligible(p.contiguous(), p)
    assert not _native.eligible(p.double(), same)  # dtypes differ


def test_strides_of_size_one_dims_do_not_matter() -> None:
    """torch's gradient layout contract lets a gradient's size-1 dims have any stride: it moves nothing."""
    p = torch.zeros(4, 5, 3, 1).permute(0, 3, 2, 1)  # shape (4, 1, 3, 5), strides (15, 1, 1, 3)
    g = torch.empty_strided((4, 1, 3, 5), (15, 7, 1, 3))
    assert not p.is_contiguous() and _native.same_layout(g, p) and _native.eligible(p, g)
    assert not _native.same_layout(torch.empty_strided((4, 1, 3, 5), (15, 7, 5, 1)), p)
