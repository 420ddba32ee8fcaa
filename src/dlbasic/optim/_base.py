"""What every dlbasic optimizer shares: validation, lazy state, the choice of code path, `step()`.

Three code paths compute the same update:
    "single"   the readable per-tensor loop (the reference; `foreach=False`),
    "foreach"  torch._foreach_* ops over tensors grouped by device and dtype (`foreach=True`),
    "fused"    one pass over memory per tensor in a compiled kernel (`fused=True`; see `_native.py`;
               AdamP/SGDP take two over the weights they may project).
With `foreach=None, fused=None` (the default) the fused kernels run where they are available and the
single-tensor loop elsewhere: on CPU torch's foreach ops were measured slower than its plain loop.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from dlbasic.optim import _native

Group = dict[str, Any]


def check_value(ok: bool, what: str, value: Any) -> None:
    """Raise torch's style of error, `ValueError("Invalid <what>: <value>")`, unless `ok`."""
    if not ok:
        raise ValueError(f"Invalid {what}: {value}")


def scalar_dtype() -> torch.dtype:
    """The dtype torch uses for the `step` counter (float64 only when that is the default dtype)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def group_by_device_dtype(*lists: list[Tensor]) -> list[tuple[list[Tensor], ...]]:
    """Split parallel tensor lists into sub-lists whose first tensors share device and dtype."""
    buckets: dict[tuple, list[int]] = defaultdict(list)
    for i, t in enumerate(lists[0]):
        buckets[(t.device, t.dtype)].append(i)
    return [tuple([lst[i] for i in idx] for lst in lists) for idx in buckets.values()]


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
        if defaults["fused"] and not (self.has_fused and _native.available()):
            raise RuntimeError(f"{type(self).__name__}: fused=True needs the compiled kernels, "
                               "which are unavailable (no C++ compiler or DLBASIC_NO_NATIVE set)")
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
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

    def path(self, group: Group) -> str:
        """Which code path updates this group: "single", "foreach" or "fused"."""
        fused, foreach = group.get("fused"), group.get("foreach")
        if fused:
            return "fused"
        if foreach:
            return "foreach"
        if fused is None and foreach is None and self.has_fused and _native.available():
            return "fused"
        return "single"

    def _init_state(self, p: Tensor, group: Group, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def _single(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        raise NotImplementedError

    def _foreach(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        raise NotImplementedError

    def _fused(self, group: Group, params: list[Tensor], grads: list[Tensor], states: list[dict]) -> None:
        raise NotImplementedError

    def _fusable(self, p: Tensor, g: Tensor, state: dict[str, Any]) -> bool:
        return _native.eligible(p, g, *[v for k, v in state.items() if k != "step"])

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Perform one update; `closure` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
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
                continue
            path = self.path(group)
            if path == "foreach":
                for ps, gs, ss in group_by_device_dtype(params, grads, states):
                    self._foreach(group, ps, gs, ss)
            elif path == "fused":
                ok = [self._fusable(p, g, s) for p, g, s in zip(params, grads, states)]
                rest = [i for i, k in enumerate(ok) if not k]
                if rest:
                    self._single(group, *([lst[i] for i in rest] for lst in (params, grads, states)))
                if not rest and len({p.dtype for p in params}) == 1:  # the usual case: one kernel call
                    self._fused(group, params, grads, states)
                elif len(rest) < len(params):
                    fast = [i for i, k in enumerate(ok) if k]
                    sel = ([lst[i] for i in fast] for lst in (params, grads, states))
                    for ps, gs, ss in group_by_device_dtype(*sel):
                        self._fused(group, ps, gs, ss)
            else:
                self._single(group, params, grads, states)
        return loss
