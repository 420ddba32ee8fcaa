"""The path is chosen per device type, as torch does: the CPU kernels are built only for CPU tensors they can take;
building them is said once on stderr, and so is a compiler's failure, with what the compiler said."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import torch

from dlbasic.optim import Adam, _base, _native, create_optimizer, list_optimizers


@pytest.fixture
def no_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if anything asks for the kernel library."""

    def refuse(*args, **kwargs):
        raise AssertionError("the CPU kernels were asked for")

    monkeypatch.setattr(_native, "load", refuse)


def _params(name: str, device: str, dtype: torch.dtype = torch.float32) -> list[torch.nn.Parameter]:
    # AdamP/SGDP's test for projecting a weight with dim > 1 reads its values: meta tensors have none
    shapes = [(4,), (3,)] if name in ("adamp", "sgdp") and device == "meta" else [(4, 3), (4,)]
    params = [torch.nn.Parameter(torch.randn(s, dtype=dtype).to(device)) for s in shapes]
    for p in params:
        p.grad = torch.randn(p.shape, dtype=dtype).to(device)
    return params


@pytest.mark.parametrize("name", list_optimizers())
def test_meta_tensors_take_the_loop_and_build_nothing(name: str, no_build: None) -> None:
    params = _params(name, "meta")
    opt = create_optimizer(name, params)
    calls = []
    single = opt._single
    opt._single = lambda *a: (calls.append(len(a[1])), single(*a))
    opt.step()
    opt.step()
    assert calls == [2, 2] and not opt._plans
    assert opt.path(opt.param_groups[0], "meta") == "single"
    assert params[0].device.type == "meta"


@pytest.mark.parametrize("name", list_optimizers())
def test_devices_with_foreach_kernels_take_the_foreach_path(
    name: str, no_build: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On CUDA (here: meta, declared a foreach device) the default is torch's multi-tensor path."""
    monkeypatch.setattr(_base, "FOREACH_DEVICES", ("meta",))
    opt = create_optimizer(name, _params(name, "meta"))
    calls = []
    foreach = opt._foreach
    opt._foreach = lambda *a: (calls.append(len(a[1])), foreach(*a))
    opt._single = None  # not called
    opt.step()
    assert calls == [2]
    group = opt.param_groups[0]
    assert opt.path(group, "meta") == "foreach"
    group["foreach"] = False
    assert opt.path(group, "meta") == "single"


@pytest.mark.parametrize("name", list_optimizers())
def test_cuda_takes_the_foreach_path_as_in_torch(name: str, no_build: None) -> None:
    opt = create_optimizer(name, _params(name, "meta"))
    group = opt.param_groups[0]
    assert opt.path(group, "cuda") == "foreach"
    group["fused"] = True  # the kernels are CPU ones: on CUDA, fused=True is the foreach path too
    assert opt.path(group, "cuda") == "foreach"
    group["fused"], group["foreach"] = None, False
    assert opt.path(group, "cuda") == "single"


def test_fused_true_without_cpu_tensors_builds_nothing(no_build: None) -> None:
    opt = Adam(_params("adam", "meta"), fused=True)
    opt.step()
    assert opt.path(opt.param_groups[0], "meta") == "single"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cpu_tensors_the_kernels_cannot_take_build_nothing(dtype: torch.dtype, no_build: None) -> None:
    for name in ("adam", "sgd", "adamp"):
        opt = create_optimizer(name, _params(name, "cpu", dtype))
        opt.step()
        assert not opt._plans


@pytest.mark.skipif(not _native.available(), reason="no C++ compiler: no fused kernels")
def test_a_group_on_two_devices_splits_by_device() -> None:
    cpu, meta = _params("adam", "cpu", torch.float64), _params("adam", "meta")
    opt = Adam([*cpu, *meta], lr=0.1)
    ref = [torch.nn.Parameter(p.detach().clone()) for p in cpu]
    for r, p in zip(ref, cpu):
        r.grad = p.grad.clone()
    loops = []
    single = opt._single
    opt._single = lambda *a: (loops.append([p.device.type for p in a[1]]), single(*a))
    opt.step()
    torch.optim.Adam(ref, lr=0.1, foreach=False).step()
    assert loops == [["meta", "meta"]]  # the CPU tensors went through the kernels
    for p, r in zip(cpu, ref):
        torch.testing.assert_close(p, r, rtol=1e-14, atol=1e-14)


def _fresh_loader(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, compiler: str) -> None:
    """Make `_native.load()` start over with `compiler` and an empty cache (all restored after the test)."""
    monkeypatch.setenv("CXX", compiler)
    monkeypatch.setenv("DLBASIC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DLBASIC_NO_NATIVE", raising=False)
    for name, value in (("_lib", None), ("_tried", False), ("_kernels", {}), ("build_seconds", None)):
        monkeypatch.setattr(_native, name, value)


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.mark.skipif(not _native.available(), reason="no C++ compiler: no fused kernels")
def test_building_is_said_once_on_stderr(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    built = _native._lib._name  # a stand-in compiler "builds" by copying the library this process loaded
    compiler = _script(
        tmp_path / "fake-c++", f'while [ $# -gt 1 ]; do [ "$1" = -o ] && out="$2"; shift; done\ncp "{built}" "$out"\n'
    )
    _fresh_loader(monkeypatch, tmp_path, compiler)
    capsys.readouterr()
    assert _native.available() and _native.available()
    err = capsys.readouterr().err
    assert err.count("dlbasic: compiling the fused optimizer kernels (first use") == 1
    assert str(tmp_path / "cache") in err and err.count("\n") == 1
    _fresh_loader(monkeypatch, tmp_path, compiler)  # a second process: the library is cached, nothing said
    assert _native.available()
    assert capsys.readouterr().err == ""


def test_a_failing_compiler_is_shown_once_and_the_loops_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
) -> None:
    compiler = _script(
        tmp_path / "broken-c++", 'echo "noise" >&2\necho "kernels.cpp:12:3: error: no omp.h" >&2\nexit 1\n'
    )
    _fresh_loader(monkeypatch, tmp_path, compiler)
    capsys.readouterr()
    params = _params("adam", "cpu")
    opt = Adam(params, lr=0.1)
    opt.step()
    opt.step()
    assert not _native.available() and not opt._plans
    err = capsys.readouterr().err
    assert err.count("dlbasic: compiling the fused optimizer kernels") == 1
    assert err.count("dlbasic: could not compile the fused optimizer kernels") == 1
    assert "exited with 1" in err and "kernels.cpp:12:3: error: no omp.h" in err and "torch loops" in err
    with pytest.raises(RuntimeError, match="fused=True needs the compiled kernels"):
        Adam(params, fused=True)
