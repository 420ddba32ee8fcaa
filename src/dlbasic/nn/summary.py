"""Per-layer summary of a network: output shape, parameters, multiply-accumulates, receptive field.

One forward pass of a single image records every leaf module through forward hooks. MACs count the
convolutions and linear layers only (a k x k conv producing an O x H x W map from C / groups input
channels costs O H W (C / groups) k^2), as torchvision's and fvcore's tables do; normalization,
activations and pooling are left out. Receptive fields follow Araujo et al., "Computing Receptive
Fields of Convolutional Neural Networks", Distill 2019 (https://distill.pub/2019/computing-receptive-fields):
r_out = r_in + d (k - 1) j_in and j_out = j_in s, where j is the stride of a map in input pixels. A
`TorchFunctionMode` carries (r, j) through the functional glue between modules (residual sums,
concatenation, flatten), taking the largest field over merging paths; an op that mixes a whole map
(global pooling, flattening into a linear layer) sees r + (n - 1) j for an n x n map. Run it on the
`meta` device for big models: shapes, MACs and fields need no arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

POOLS = (nn.MaxPool2d, nn.AvgPool2d)
ADAPTIVE = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


@dataclass
class LayerRow:
    """One call of a leaf module."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    macs: int
    receptive_field: int | None  # side, in input pixels, of the square the output sees


@dataclass
class Summary:
    """Rows in call order plus totals; `str(summary)` is a printable table."""

    rows: list[LayerRow]
    params: int
    trainable_params: int
    macs: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...] = field(default=())

    @property
    def receptive_field(self) -> int | None:
        """The largest receptive field of any layer (that of the output for a classifier)."""
        fields = [r.receptive_field for r in self.rows if r.receptive_field is not None]
        return max(fields) if fields else None

    def table(self) -> str:
        """The per-layer table (name, type, output shape, params, MACs, receptive field) and a totals line."""
        header = ("layer", "type", "output shape", "params", "MACs", "RF")
        lines = [
            (
                r.name,
                r.type,
                "x".join(map(str, r.output_shape)),
                f"{r.params:,}",
                f"{r.macs:,}",
                "" if r.receptive_field is None else str(r.receptive_field),
            )
            for r in self.rows
        ]
        widths = [max(len(x[i]) for x in [header, *lines]) for i in range(len(header))]
        fmt = "  ".join(f"{{:{'<' if i < 3 else '>'}{w}}}" for i, w in enumerate(widths))
        rule = "-" * len(fmt.format(*header))
        out = [fmt.format(*header), rule, *(fmt.format(*x) for x in lines), rule]
        out.append(
            f"input {'x'.join(map(str, self.input_shape))}: {self.params:,} parameters "
            f"({self.trainable_params:,} trainable), {self.macs / 1e9:.3f} GMACs, "
            f"receptive field {self.receptive_field}"
        )
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()


class _FieldTracker(TorchFunctionMode):
    """Carries (field r, jump j, distinct positions n) from the inputs of every torch op to its outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[int, tuple[int, int, int, Tensor]] = {}  # id -> (r, j, n, tensor kept alive)

    def get(self, t: Tensor) -> tuple[int, int, int] | None:
        entry = self.fields.get(id(t))
        return entry[:3] if entry else None

    def set(self, t: Tensor, r: int, j: int, n: int) -> None:
        self.fields[id(t)] = (r, j, n, t)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        ins = [self.get(t) for t in tree_leaves((args, kwargs)) if isinstance(t, Tensor) and id(t) in self.fields]
        if not ins:
            return out
        r, j, n = max(ins)  # merging paths: the largest field wins
        for t in tree_leaves(out):
            if not isinstance(t, Tensor) or id(t) in self.fields:
                continue
            if t.dim() == 4:  # upsampling adds no distinct positions
                self.set(t, r, j, min(n, max(t.shape[-2:])))
            elif n > 1:  # flatten & co mix every position of the map
                self.set(t, *whole_map(r, j, n), 1)
            else:
                self.set(t, r, j, n)
        return out


def whole_map(r: int, j: int, n: int) -> tuple[int, int]:
    """Field and jump of a unit that sees all n distinct positions of a map with field r and jump j."""
    return r + (n - 1) * j, n * j


def _kernel(module: nn.Module, x: Tensor) -> tuple[int, int, int] | None:
    """(kernel, stride, dilation) of a spatial layer along its longest axis; None for pointwise ones."""

    def first(v: int | tuple[int, ...]) -> int:
        return max(v) if isinstance(v, tuple) else int(v)

    if isinstance(module, nn.Conv2d):
        return first(module.kernel_size), first(module.stride), first(module.dilation)
    if isinstance(module, POOLS):
        dilation = getattr(module, "dilation", 1)
        return first(module.kernel_size), first(module.stride or module.kernel_size), first(dilation)
    if isinstance(module, ADAPTIVE):
        n = max(x.shape[-2:])
        out = module.output_size if isinstance(module.output_size, int) else max(module.output_size)
        out = n if out is None or out > n else out  # upsampling: each output copies an input position
        return -(-n // out), n // out, 1  # exact when out divides n (e.g. global pooling)
    return None


def _macs(module: nn.Module, x: Tensor, y: Tensor) -> int:
    """Multiply-accumulates per image."""
    if isinstance(module, nn.Conv2d):
        k = module.kernel_size[0] * module.kernel_size[1]
        return y[0].numel() * (module.in_channels // module.groups) * k
    if isinstance(module, nn.ConvTranspose2d):
        k = module.kernel_size[0] * module.kernel_size[1]
        return x[0].numel() * (module.out_channels // module.groups) * k
    if isinstance(module, nn.Linear):
        return y[0].numel() * module.in_features
    return 0


def summarize(
    model: nn.Module, input_size: int, in_channels: int = 3, device: torch.device | str | None = None
) -> Summary:
    """Run one image of side `input_size` through `model` (in eval mode) and tabulate its leaf layers.

    Args:
        model: any module mapping Tensor[1, in_channels, S, S] to tensors.
        input_size: side S of the square input.
        device: where to run; default the model's (a model built under `torch.device("meta")` costs
            no arithmetic).
    """
    params = list(model.parameters())
    device = device or (params[0].device if params else "cpu")
    names = {m: n for n, m in model.named_modules()}
    tracker = _FieldTracker()
    rows: list[LayerRow] = []

    def hook(module: nn.Module, inputs: tuple, output: object) -> None:
        x = next((t for t in tree_leaves(inputs) if isinstance(t, Tensor)), None)
        y = next((t for t in tree_leaves(output) if isinstance(t, Tensor)), None)
        if x is None or y is None:
            return
        field_in = tracker.get(x)
        kernel = _kernel(module, x)
        if field_in is not None and kernel is not None:
            k, s, d = kernel
            r, j, n = field_in
            n_out = n if s == 1 and k == 1 else max(y.shape[-2:])
            tracker.set(y, r + d * (k - 1) * j, j * s, n_out)
        rf = tracker.get(y)
        own = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append(
            LayerRow(
                names.get(module, "?"),
                type(module).__name__,
                tuple(y.shape),
                own,
                _macs(module, x, y),
                rf[0] if rf else None,
            )
        )

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = model.training
    x = torch.zeros(1, in_channels, input_size, input_size, device=device)
    try:
        model.eval()
        with torch.no_grad(), tracker:
            tracker.set(x, 1, 1, input_size)
            y = model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    out = next((t for t in tree_leaves(y) if isinstance(t, Tensor)), x)
    return Summary(
        rows,
        sum(p.numel() for p in params),
        sum(p.numel() for p in params if p.requires_grad),
        sum(r.macs for r in rows),
        tuple(x.shape),
        tuple(out.shape),
    )


__all__ = ["LayerRow", "Summary", "summarize", "whole_map"]
