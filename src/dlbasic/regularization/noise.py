"""Noise robustness: Gaussian noise on the inputs and on the weights during training.

Goodfellow, Bengio & Courville, "Deep Learning", section 7.5, 2016. Input noise x~ = x + sigma * eps is,
for small sigma, equivalent to a penalty on the norm of the weights (Bishop, "Training with Noise is
Equivalent to Tikhonov Regularization", 1995). Weight noise evaluates the loss at w + sigma * eps and
applies the resulting gradient to the clean w, a stochastic approximation of Bayesian inference over the
weights that favours flat minima (Graves, "Practical Variational Inference for Neural Networks", 2011).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from dlbasic.callbacks import Callback
from dlbasic.errors import UserError

if TYPE_CHECKING:
    from dlbasic.training.trainer import Trainer


class SigmaError(UserError, ValueError):
    """A noise sigma that is negative, NaN or infinite (a `ValueError`, printed in one line by the CLI)."""


def _check_sigma(sigma: float, what: str) -> float:
    """`sigma` as a float if it is a finite number >= 0; `SigmaError` naming `what` otherwise."""
    try:
        value = float(sigma)
    except (TypeError, ValueError):
        raise SigmaError(f"{what} sigma must be a number, got {sigma!r}") from None
    if not math.isfinite(value) or value < 0:
        raise SigmaError(f"{what} sigma must be a finite number >= 0, got {sigma}", "e.g. 0.01")
    return value


class InputNoise:
    """Batch transform `(x, y, generator) -> (x + sigma * N(0, 1), y)` on Tensor[B, C, H, W] in [0, 1].

    Args:
        sigma: standard deviation of the noise, in units of the [0, 1] pixel range.
        clip: clamp the noisy images back to [0, 1].
    """

    def __init__(self, sigma: float, clip: bool = True):
        self.sigma, self.clip = _check_sigma(sigma, "input noise"), clip

    def __call__(self, x: Tensor, y: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=generator.device)
        out = x + self.sigma * noise.to(x.device)
        return (out.clamp(0.0, 1.0) if self.clip else out), y

    def __repr__(self) -> str:
        return f"InputNoise(sigma={self.sigma}, clip={self.clip})"


class WeightNoise(Callback):
    """Add sigma * N(0, 1) to every trainable parameter before each training forward pass and put the
    clean values back after backward, so the optimizer updates the clean weights with the gradient taken
    at the noisy ones. Validation and checkpoints see clean weights.

    Args:
        sigma: standard deviation of the weight noise.
        seed: seed of the callback's own generator; its state is saved by `state_dict` for resume.
    """

    def __init__(self, sigma: float, seed: int = 0):
        self.sigma = _check_sigma(sigma, "weight noise")
        self.generator = torch.Generator().manual_seed(seed)
        self._clean: list[tuple[Tensor, Tensor]] = []

    @torch.no_grad()
    def on_batch_start(self, trainer: Trainer) -> None:
        """Keep a copy of every trainable parameter and add sigma * N(0, 1) noise to it."""
        self._restore()  # in case a previous batch was abandoned before backward
        for p in trainer.model.parameters():
            if not p.requires_grad:
                continue
            self._clean.append((p, p.detach().clone()))
            noise = torch.randn(p.shape, generator=self.generator, dtype=p.dtype)  # CPU generator
            # scaled by a multiply, not `add_(alpha=sigma)`: a sigma beyond the dtype's range (1e39 in float32,
            # 1e5 in float16) then gives infinite noise, as torch's arithmetic does, instead of a RuntimeError
            # ("value cannot be converted to type float without overflow"); the trainer reports the divergence
            p.add_(noise.mul_(self.sigma).to(p.device))

    @torch.no_grad()
    def _restore(self) -> None:
        for p, clean in self._clean:
            p.copy_(clean)
        self._clean = []

    def on_after_backward(self, trainer: Trainer) -> None:
        """Put the clean weights back (the gradients were taken at the noisy ones)."""
        self._restore()

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Make sure the clean weights are in place before validation and checkpoints."""
        self._restore()

    def on_fit_end(self, trainer: Trainer) -> None:
        """Make sure the clean weights are in place when training ends."""
        self._restore()

    def state_dict(self) -> dict[str, Any]:
        """The noise generator's state, so a resumed run draws the same noise."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the noise generator's state."""
        self.generator.set_state(state["generator"])

    def __repr__(self) -> str:
        return f"WeightNoise(sigma={self.sigma})"


__all__ = ["InputNoise", "SigmaError", "WeightNoise"]
