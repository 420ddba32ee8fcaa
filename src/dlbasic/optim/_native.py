"""Build, cache and call the fused CPU kernels of `_kernels.py` through ctypes.

The shared library is compiled once with the system C++ compiler (`CXX`, else `c++`/`g++`) into
`$DLBASIC_CACHE` (default `~/.cache/dlbasic`), named by a hash of the source, flags and CPU, so a
second process only loads it (the build machinery is `dlbasic._native_build`, shared with the RoI
kernels). Compiling is said once on stderr; so is a compiler's failure, with the last lines of its
output. Without a compiler, or with `DLBASIC_NO_NATIVE=1`, `available()` is False and the optimizers
fall back to their torch loops.

The kernels see a tensor as its `numel()` elements from `data_ptr()` on: any dense, non-overlapping
layout (contiguous, channels-last, any order of the dims) works, as long as every tensor of one update
is laid out as its parameter (`eligible`). They write through raw pointers, which autograd does not
see: callers bump the version counters of what they wrote (`bump`), so a backward through a graph that
saved an old value raises, as after torch's in-place ops.
"""

from __future__ import annotations

import ctypes
import time
from array import array
from pathlib import Path
from typing import Any

import torch
from torch.autograd.graph import increment_version

from dlbasic import _native_build
from dlbasic._native_build import FLAGS
from dlbasic.optim._kernels import SOURCE

_DTYPES = (torch.float32, torch.float64)
_lib: ctypes.CDLL | None = None
_tried = False
build_seconds: float | None = None  # first-use cost of this process: compile (or load) time


def _compiler() -> str | None:
    return _native_build.compiler()


def library_path(compiler: str) -> Path:
    """Where the compiled kernels for this source, compiler, flags and CPU are cached."""
    return _native_build.library_path("optim_kernels", SOURCE, compiler, FLAGS)


def _build(compiler: str, target: Path) -> None:
    _native_build.build(SOURCE, compiler, FLAGS, target)


def load() -> ctypes.CDLL | None:
    """The kernel library, building it on first use; None where it cannot be built.

    Tried once per process. A build is said on stderr before it starts, a failure after it, with the
    last lines of the compiler's output; the optimizers then run their torch loops.
    """
    global _lib, _tried, build_seconds
    if _tried:
        return _lib
    _tried = True
    if _native_build.disabled():
        return None
    compiler = _compiler()
    if compiler is None:
        _native_build.say(
            "no C++ compiler found (CXX, c++, g++, clang++): the optimizers run their torch loops on CPU, "
            "not the fused kernels (DLBASIC_NO_NATIVE=1 picks the loops without this message)"
        )
        return None
    t0 = time.perf_counter()
    fallback = "the optimizers run their torch loops on CPU instead"
    _lib = _native_build.load_library(
        library_path(compiler), SOURCE, compiler, FLAGS, "the fused optimizer kernels", fallback, "about 10 s"
    )
    build_seconds = time.perf_counter() - t0
    return _lib


def available() -> bool:
    return load() is not None


def dense(t: torch.Tensor) -> bool:
    """True when `t`'s elements fill `numel()` consecutive slots from `data_ptr()` on, in any order of its
    dims: its strides, less those of dims of size 1, sorted, are those of a contiguous tensor."""
    if (
        t.is_contiguous()
        or t.is_contiguous(memory_format=torch.channels_last)
        or t.is_contiguous(memory_format=torch.channels_last_3d)
    ):
        return True
    if t.numel() == 0:
        return True
    expected = 1
    for stride, size in sorted((st, n) for n, st in zip(t.shape, t.stride()) if n != 1):
        if stride != expected:
            return False
        expected *= size
    return True


def same_layout(t: torch.Tensor, like: torch.Tensor) -> bool:
    """True when `t` has `like`'s shape and puts each element at the same offset (strides of size-1 dims,
    which move nothing, may differ, as torch's gradient layout contract allows)."""
    if t.shape != like.shape:
        return False
    strides = like.stride()
    if t.stride() == strides:
        return True
    return all(a == b for n, a, b in zip(like.shape, t.stride(), strides) if n != 1)


def eligible(*tensors: torch.Tensor) -> bool:
    """True when the kernels can update these tensors in place: the same CPU float dtype, the first dense
    (see `dense`: contiguous, channels-last, ...) and the others laid out as it is (`same_layout`)."""
    first = tensors[0]
    dtype = first.dtype
    if dtype not in _DTYPES or first.layout != torch.strided or not first.is_cpu:
        return False
    if first.is_contiguous():
        shape = first.shape
        for t in tensors:  # a plain loop: faster than all(), and it runs per parameter and step
            if t.dtype != dtype or not t.is_cpu or t.is_sparse or not t.is_contiguous() or t.shape != shape:
                return False
        return True
    if not dense(first):
        return False
    for t in tensors[1:]:
        if t.dtype != dtype or not t.is_cpu or t.layout != torch.strided or not same_layout(t, first):
            return False
    return True


_bump_many = True  # torch >= 2.4: increment_version takes a list of tensors


def bump(tensors: list[torch.Tensor]) -> None:
    """Advance the autograd version counter of each tensor a kernel wrote, as an in-place op of torch does."""
    global _bump_many
    if _bump_many:
        try:
            increment_version(tensors)
            return
        except TypeError:  # older torch: one tensor per call
            _bump_many = False
    for t in tensors:
        increment_version(t)


def address(values: array) -> ctypes.c_void_p:
    return ctypes.c_void_p(values.buffer_info()[0])


_kernels: dict[tuple[str, torch.dtype], ctypes._CFuncPtr] = {}


def kernel(name: str, dtype: torch.dtype) -> ctypes._CFuncPtr:
    """The exported function of kernel `name` for tensors of `dtype` (float32 or float64)."""
    fn = _kernels.get((name, dtype))
    if fn is None:
        lib = load()
        assert lib is not None, "kernel() needs available()"
        fn = _kernels[(name, dtype)] = getattr(lib, f"{name}_{'f32' if dtype == torch.float32 else 'f64'}")
    return fn


def doubles(*values: Any) -> list[ctypes.c_double]:
    return [ctypes.c_double(float(v)) for v in values]


def ints(*values: Any) -> list[ctypes.c_int]:
    return [ctypes.c_int(int(v)) for v in values]


def pointers(tensors: list[torch.Tensor]) -> array:
    return array("q", [t.data_ptr() for t in tensors])


def step_kind(steps: list) -> int:
    """1 (float32) or 2 (float64) where the kernel can count these `step` tensors itself, else 0.

    They must be CPU scalar tensors of one of those dtypes; the kernel adds 1 to each in place (as
    `torch._foreach_add_(steps, 1)` does) and derives the step's coefficients from the new values.
    """
    if not steps or not torch.is_tensor(steps[0]):
        return 0
    dtype = steps[0].dtype
    for s in steps:
        if not torch.is_tensor(s) or s.dtype != dtype or not s.is_cpu or s.layout != torch.strided or s.numel() != 1:
            return 0
    return 1 if dtype == torch.float32 else 2 if dtype == torch.float64 else 0


def step_counts(args: Args, states: list[dict]) -> tuple[Any, ctypes.c_int]:
    """The (steps, kind) arguments of kernels that count steps (see `step_kind`); with kind 0 the
    counters are advanced here and the kernel gets the new counts."""
    if args.step_kind:
        return args.S["step"], ctypes.c_int(args.step_kind)
    steps = [s["step"] for s in states]
    torch._foreach_add_(steps, 1)
    counts = array("d", [float(s) for s in steps])
    return (ctypes.c_double * len(counts)).from_buffer(counts), ctypes.c_int(0)


class Args:
    """The tensor arguments of one kernel call, packed: pointer arrays of the params, grads and state
    tensors (by state key), the element counts, and their addresses as ctypes values.

    A `Plan` keeps one and swaps in new gradient pointers each step; the arrays stay alive as long as this.
    """

    __slots__ = ("G", "N", "P", "S", "arrays", "dtype", "memo", "n", "step_kind")

    def __init__(
        self, params: list[torch.Tensor], grads: list[torch.Tensor], state: dict[str, list], step_kind: int = 0
    ):
        self.n = ctypes.c_int(len(params))
        self.dtype = params[0].dtype
        self.step_kind = step_kind
        self.arrays = {"P": pointers(params), "G": pointers(grads), "N": array("q", [p.numel() for p in params])}
        for key, tensors in state.items():
            if key != "step" or step_kind:
                self.arrays[key] = pointers(tensors)
        self.P, self.G, self.N = (address(self.arrays[k]) for k in "PGN")
        self.S = {key: address(self.arrays[key]) for key in state if key in self.arrays}
        self.memo: dict[str, Any] = {}  # an optimizer's own per-tensor arrays that stay with these tensors

    def set_grads(self, grad_pointers: array) -> None:
        self.arrays["G"] = grad_pointers
        self.G = address(grad_pointers)


def call(
    name: str, tensor_lists: list[list[torch.Tensor]], arrays: list[list[float] | list[int]], *scalars: float | int
) -> None:
    """Run kernel `name` on parallel lists of tensors of one dtype.

    Args:
        name: kernel name in `_kernels.SOURCE` (without the dtype suffix).
        tensor_lists: params, grads and state tensors; lists of equal length, same dtype.
        arrays: per-tensor coefficient arrays (ints become int32, floats become double).
        scalars: the remaining arguments; floats pass as double, ints as int.

    Every list but the gradients (the second) is taken as written: their version counters are bumped.
    """
    first = tensor_lists[0]
    fn = kernel(name, first[0].dtype)
    # the arrays module packs the pointer and size lists several times faster than ctypes arrays;
    # a list passed twice (SGD without momentum passes the params as buffers) is packed once
    packed = {id(ts): pointers(ts) for ts in tensor_lists}
    keep = [packed[id(ts)] for ts in tensor_lists]
    keep.append(array("q", [t.numel() for t in first]))
    keep += [array("i" if arr and isinstance(arr[0], int) else "d", arr) for arr in arrays]
    args: list = [ctypes.c_int(len(first)), *map(address, keep)]
    args += [ctypes.c_double(s) if isinstance(s, float) else ctypes.c_int(int(s)) for s in scalars]
    args.append(ctypes.c_int(torch.get_num_threads()))
    fn(*args)
    written = {id(ts): ts for i, ts in enumerate(tensor_lists) if i != 1}  # a list passed twice, once
    bump([t for ts in written.values() for t in ts])
