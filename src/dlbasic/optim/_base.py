"""What every dlbasic optimizer shares: validation, lazy state, the choice of code path, `step()`.

Three code paths compute the same update:
    "single"   the readable per-tensor loop (the reference; `foreach=False`),
    "foreach"  torch._foreach_* ops over tensors grouped by device and dtype (`foreach=True`),
    "fused"    one pass over memory per tensor in a compiled kernel (`fused=True`; see `_native.py`;
               AdamP/SGDP take two over the weights they may project).
The path is chosen per device type, as torch chooses its own. With `foreach=None, fused=None` (the default):
    CPU      the fused kernels for the tensors they can take (see `_native.eligible`: float32/64, any dense
             layout shared by the parameter, its gradient and its state), the loop for the others; on CPU
             torch's foreach ops were measured slower than its plain loop. The kernels are compiled on the
             first step that has such a tensor, never for tensors on other devices;
    CUDA     (and the other devices with torch foreach kernels) the foreach path: torch's multi-tensor
             kernels, torch's own default there;
    others   (meta, ...) the loop.
`fused=True` asks for the kernels on CPU (an error at construction where they cannot be built) and leaves
other devices as by default; `foreach=True` is the foreach path everywhere.
The kernels write through raw pointers: each fused step bumps the autograd version counters of the tensors it
wrote, so that a graph that saved their old values refuses to backward, as after torch's in-place ops.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from operator import is_
from typing import Any

import torch
from torch import Tensor

from dlbasic.optim import _native

Group = dict[str, Any]


def _foreach_device_types() -> tuple[str, ...]:
    try:
        from torch.utils._foreach_utils import _get_foreach_kernels_supported_devices

        return tuple(_get_foreach_kernels_supported_devices())
    except ImportError:
        return ("cuda", "xpu")


FOREACH_DEVICES = _foreach_device_types()  # where torch defaults its optimizers to the foreach path


def check_value(ok: bool, what: str, value: Any) -> None:
    """Raise torch's style of error, `ValueError("Invalid <what>: <value>")`, unless `ok`."""
    if not ok:
        raise ValueError(f"Invalid {what}: {value}")


def check_adam_values(lr: float, eps: float, betas: tuple[float, float], weight_decay: float) -> None:
    """torch's checks of the hyperparameters the Adam family shares (lr, eps, betas in [0, 1), weight decay)."""
    check_value(lr >= 0.0, "learning rate", lr)
    check_value(eps >= 0.0, "epsilon value", eps)
    check_value(0.0 <= betas[0] < 1.0, "beta parameter at index 0", betas[0])
    check_value(0.0 <= betas[1] < 1.0, "beta parameter at index 1", betas[1])
    check_value(weight_decay >= 0.0, "weight_decay value", weight_decay)


def init_adam_state(p: Tensor, state: dict[str, Any]) -> None:
    """torch's Adam and RAdam state of `p`: `step` (a scalar tensor), and the moments m and v at zero."""
    state["step"] = torch.tensor(0.0, dtype=scalar_dtype())
    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)


def scalar_dtype() -> torch.dtype:
    """The dtype torch uses for the `step` counter (float64 only when that is the default dtype)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def group_by_device_dtype(*lists: list[Tensor]) -> list[tuple[list[Tensor], ...]]:
    """Split parallel tensor lists into sub-lists whose first tensors share device and dtype."""
    buckets: dict[tuple, list[int]] = defaultdict(list)
    for i, t in enumerate(lists[0]):
        buckets[(t.device, t.dtype)].append(i)
    return [tuple([lst[i] for i in idx] for lst in lists) for idx in buckets.values()]


class Plan:
    """A group's packed kernel arguments, reused by later steps while its tensors stay the same.

    Before each reuse `BaseOptimizer._planned_step` checks that the group holds the same parameter
    objects, in the same layout (contiguous, or the strides they had) and at the same addresses; that
    each has a gradient of the same dtype, on the CPU, laid out as its parameter (gradients are checked
    every step: they are often new tensors); and that the state dicts and the state tensors the kernel
    takes are the same objects at the same addresses. Anything else goes the general way, which makes
    a new plan.
    """

    __slots__ = (
        "args",
        "dtype",
        "group",
        "keys",
        "layouts",
        "param_ptrs",
        "params",
        "ptrs",
        "state_map",
        "states",
        "tensors",
        "written",
    )

    def __init__(self, opt: BaseOptimizer, group: Group, params: list[Tensor], states: list[dict], args: _native.Args):
        self.group, self.state_map, self.params, self.args = group, opt.state, list(params), args
        self.param_ptrs, self.dtype = args.arrays["P"], args.dtype
        self.layouts = [None if p.is_contiguous() else p.stride() for p in params]
        self.keys = opt._state_keys(group)
        self.states = list(states)
        self.tensors = [[s[k] for s in states] for k in self.keys]
        self.ptrs = [_native.pointers(ts) for ts in self.tensors]
        self.written = written(params, dict(zip(self.keys, self.tensors)), args.step_kind)


def written(params: list[Tensor], state: dict[str, list[Tensor]], step_kind: int) -> list[Tensor]:
    """The tensors a kernel writes: the params, their state tensors and, where it counts them, the steps."""
    return [*params, *(t for key, ts in state.items() if key != "step" or step_kind for t in ts)]


class BaseOptimizer(torch.optim.Optimizer):
    """A `torch.optim.Optimizer` whose subclasses write `_init_state` and the three update paths.

    Subclasses implement `_single(group, params, grads, states)`, `_foreach(...)` and
    optionally `_fused(...)`; `states` are the per-parameter state dicts (already initialized).
    """

    has_fused = True  # subclasses without a kernel set False and keep the loop as default
    tensor_step = True  # `step` is a scalar tensor, as in torch (False: a Python int)

    def __init__(self, params: Iterable, defaults: dict[str, Any]):
        defaults.setdefault("foreach", None)
        defaults.setdefault("fused", None)
        check_value(not defaults.get("differentiable"), "differentiable (not supported)", True)
        if defaults["fused"] and defaults["foreach"]:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        super().__init__(params, defaults)
        self._plans: dict[int, Plan] = {}
        on_cpu = any(p.is_cpu for group in self.param_groups for p in group["params"])
        if defaults["fused"] and on_cpu and not (self.has_fused and _native.available()):
            raise RuntimeError(
                f"{type(self).__name__}: fused=True needs the compiled kernels, "
                "which are unavailable (no C++ compiler or DLBASIC_NO_NATIVE set)"
            )

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._plans = {}
        for group in self.param_groups:  # state dicts from torch carry keys we ignore; fill ours
            for key in ("foreach", "fused"):
                group.setdefault(key, None)
            if "maximize" in self.defaults:
                group.setdefault("maximize", False)
            for p in group["params"]:
                st = self.state.get(p, {})
                if "step" in st and torch.is_tensor(st["step"]) != self.tensor_step:
                    step = float(st["step"])
                    st["step"] = torch.tensor(step, dtype=scalar_dtype()) if self.tensor_step else int(step)

    def path(self, group: Group, device: str = "cpu") -> str:
        """Which code path updates this group's tensors on `device` (a device type): "single", "foreach" or
        "fused" (on CPU: for the tensors the kernels take; asking builds them if this process has not)."""
        fused, foreach = group.get("fused"), group.get("foreach")
        if device != "cpu":
            if foreach or ((fused or foreach is None) and device in FOREACH_DEVICES):
                return "foreach"
            return "single"
        if fused:
            return "fused"
        if foreach:
            return "foreach"
        if fused is None and foreach is None and self.has_fused and _native.available():
            return "fused"
        return "single"

    def _wants_fused(self, group: Group) -> bool:
        """The fused path for this group's CPU tensors, where the kernels can be built (not checked here)."""
        fused, foreach = group.get("fused"), group.get("foreach")
        return bool(fused) or (fused is None and foreach is None and self.has_fused)

    def _init_state(self, p: Tensor, group: Group, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def _single(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        raise NotImplementedError

    def _foreach(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        raise NotImplementedError

    def _state_keys(self, group: Group) -> tuple[str, ...]:
        """The state tensors `_launch` hands to the kernel (with "step": the step counters)."""
        raise NotImplementedError

    def _prepare_fused(self, group: Group, params: list[Tensor], states: list[dict]) -> Any:
        """Make state the kernel needs before it runs; what it returns goes to `_launch` as `extra`."""
        return None

    def _launch(self, group: Group, args: _native.Args, states: list[dict], extra: Any) -> None:
        """Run the kernel on packed arguments (`extra`: from `_prepare_fused`, None for a planned step)."""
        raise NotImplementedError

    def _fused(
        self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]
    ) -> _native.Args | None:
        """Update through the kernel; returns the packed arguments where a later step may reuse them."""
        extra = self._prepare_fused(group, params, states)
        tensors = {k: [s[k] for s in states] for k in self._state_keys(group)}
        kind = _native.step_kind(tensors["step"]) if "step" in tensors else 0
        args = _native.Args(params, grads, tensors, kind)
        self._launch(group, args, states, extra)
        _native.bump(written(params, tensors, kind))
        return args if kind or "step" not in tensors else None

    def _planned_step(self, group: Group) -> bool:
        """Run this group's step through its plan, if it has a valid one (see `Plan`); False where not."""
        plan = self.__dict__.get("_plans", {}).get(id(group))
        if plan is None or plan.group is not group or plan.state_map is not self.state:
            return False
        params = group["params"]
        if len(params) != len(plan.params) or not all(map(is_, params, plan.params)):
            return False
        if self.path(group) != "fused" or self._state_keys(group) != plan.keys:
            return False
        dtype, strided = plan.dtype, torch.strided
        grads = []
        for p, layout in zip(params, plan.layouts):
            g = p.grad
            if g is None or g.dtype != dtype or g.layout != strided or not g.is_cpu:
                return False
            if layout is None:
                if not (p.is_contiguous() and g.is_contiguous()):
                    return False
            elif p.stride() != layout or not _native.same_layout(g, p):
                return False
            grads.append(g)
        if _native.pointers(params) != plan.param_ptrs:
            return False
        states = plan.states  # without state tensors (SGD without momentum) nothing in them is read
        if plan.keys:
            state = self.state
            states = [state[p] for p in params]
            if not all(map(is_, states, plan.states)):
                return False
        for key, tensors, ptrs in zip(plan.keys, plan.tensors, plan.ptrs):
            now = [s.get(key) for s in states]
            if not all(map(is_, now, tensors)) or _native.pointers(now) != ptrs:
                return False
        grad_ptrs = _native.pointers(grads)
        if grad_ptrs != plan.args.arrays["G"]:
            plan.args.set_grads(grad_ptrs)
        self._launch(group, plan.args, states, None)
        _native.bump(plan.written)
        return True

    def _fusable(self, p: Tensor, g: Tensor, state: dict[str, Any]) -> bool:
        """Whether the kernels can update `p`: see `_native.eligible`. State tensors that only lack the
        parameter's layout (Adagrad's sums, made before a model went channels-last) are re-laid like it."""
        tensors = [v for k, v in state.items() if k != "step"]
        if _native.eligible(p, g, *tensors):
            return True
        if not tensors or not _native.eligible(p, g):
            return False
        for v in tensors:
            if (
                not torch.is_tensor(v)
                or v.shape != p.shape
                or v.dtype != p.dtype
                or not v.is_cpu
                or v.layout != torch.strided
            ):
                return False
        for k, v in state.items():
            if k != "step" and not _native.same_layout(v, p):
                state[k] = torch.empty_like(p).copy_(v)  # p is dense: empty_like keeps its strides
        return True

    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Perform one update; `closure` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # a planned step records nothing for autograd: only the other groups need no_grad's (small) cost
        rest = [group for group in self.param_groups if not self._planned_step(group)]
        if rest:
            with torch.no_grad():
                for group in rest:
                    self._step_group(group)
        return loss

    def _step_group(self, group: Group) -> None:
        """One group's update, the general way: initialize state, pick the path, make a plan where it can."""
        params, grads, states = [], [], []
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            if g.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            state = self.state[p]
            if len(state) == 0:
                self._init_state(p, group, state)
            params.append(p)
            grads.append(g)
            states.append(state)
        if not params:
            return
        if all(p.is_cpu for p in params):
            self._step_cpu(group, params, grads, states)
            return
        on_cpu = [i for i, p in enumerate(params) if p.is_cpu]
        if on_cpu:
            self._step_cpu(group, *([lst[i] for i in on_cpu] for lst in (params, grads, states)))
        cpu = set(on_cpu)
        rest = [i for i in range(len(params)) if i not in cpu]
        for ps, gs, ss in group_by_device_dtype(*([lst[i] for i in rest] for lst in (params, grads, states))):
            if self.path(group, ps[0].device.type) == "foreach":
                self._foreach(group, ps, gs, ss)
            else:
                self._single(group, ps, gs, ss)

    def _step_cpu(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        """The update of a group's CPU tensors: fused kernels for those they take, if wanted and built."""
        if group.get("foreach") and not group.get("fused"):
            for ps, gs, ss in group_by_device_dtype(params, grads, states):
                self._foreach(group, ps, gs, ss)
            return
        ok = [self._fusable(p, g, s) for p, g, s in zip(params, grads, states)] if self._wants_fused(group) else []
        if not any(ok) or not _native.available():  # builds the kernels on the first step that has work for them
            self._single(group, params, grads, states)
            return
        rest = [i for i, k in enumerate(ok) if not k]
        if rest:
            self._single(group, *([lst[i] for i in rest] for lst in (params, grads, states)))
        if not rest and len({p.dtype for p in params}) == 1:  # the usual case: one kernel call
            args = self._fused(group, params, grads, states)
            if args is not None and len(params) == len(group["params"]) and "_plans" in self.__dict__:
                self._plans[id(group)] = Plan(self, group, params, states, args)
        elif len(rest) < len(params):
            fast = [i for i, k in enumerate(ok) if k]
            sel = ([lst[i] for i in fast] for lst in (params, grads, states))
            for ps, gs, ss in group_by_device_dtype(*sel):
                self._fused(group, ps, gs, ss)
