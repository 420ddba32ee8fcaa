"""Dropout written out, with inverted scaling.

Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, "Dropout: A Simple Way to Prevent Neural
Networks from Overfitting", JMLR 15 (2014), https://jmlr.org/papers/v15/srivastava14a.html

Training keeps each unit with probability q = 1 - p and divides the kept ones by q ("inverted" dropout),
so E[y] = q * x / q = x and evaluation is the identity; the paper instead scales the weights by q at test
time, which gives the same expected activations.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")


def dropout_mask(
    shape: torch.Size | tuple[int, ...],
    p: float,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Bernoulli keep-mask, True with probability 1 - p."""
    _check_p(p)
    return torch.rand(shape, generator=generator, device=device) >= p  # P(u >= p) = 1 - p


def apply_dropout_mask(x: Tensor, mask: Tensor, p: float) -> Tensor:
    """y = x * mask / (1 - p); all zeros when p = 1 (every unit dropped)."""
    _check_p(p)
    if p == 1.0:
        return x * 0.0
    return x * mask.to(x.dtype) / (1.0 - p)


def dropout(
    x: Tensor,
    p: float = 0.5,
    training: bool = True,
    generator: torch.Generator | None = None,
    channelwise: bool = False,
) -> Tensor:
    """Inverted dropout. `channelwise` drops whole feature maps of (N, C, H, W) inputs (Tompson et al.,
    2015, https://arxiv.org/abs/1411.4280), one mask value per (sample, channel)."""
    _check_p(p)
    if not training or p == 0.0:
        return x
    shape = (*x.shape[:2], *([1] * (x.dim() - 2))) if channelwise else x.shape
    return apply_dropout_mask(x, dropout_mask(shape, p, generator, x.device), p)


class Dropout(nn.Module):
    """Inverted dropout as a module; identity in evaluation mode. `generator` (optional) makes the masks
    reproducible independently of the global seed."""

    def __init__(self, p: float = 0.5, channelwise: bool = False, generator: torch.Generator | None = None):
        super().__init__()
        _check_p(p)
        self.p, self.channelwise, self.generator = p, channelwise, generator

    def forward(self, x: Tensor) -> Tensor:
        """In training, `x` with elements (or channels) zeroed with probability p and the rest scaled by 1 / (1 - p)."""
        return dropout(x, self.p, self.training, self.generator, self.channelwise)

    def extra_repr(self) -> str:
        """The settings shown in the module's repr."""
        return f"p={self.p}" + (", channelwise=True" if self.channelwise else "")


__all__ = ["Dropout", "apply_dropout_mask", "dropout", "dropout_mask"]
