"""Exceptions for mistakes a user can fix; the CLI prints them in one line (exit code 2, 3 for `Diverged`)."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import Any


class UserError(Exception):
    """Bad input from a user (unknown name, missing file, impossible value).

    Args:
        message: what is wrong, in one sentence.
        hint: how to fix it, printed after the message.
    """

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class Diverged(UserError):
    """Training stopped because the loss (or the weights) became NaN or infinite; the CLI exits with code 3.

    Args:
        epoch, step: where it was noticed (1-based: the epoch being trained, the step that failed).
        loss: the loss of that step (nan or inf when the loss diverged).
        reason: what is not finite (default: "loss is <loss>").
        checkpoint, best: paths of the last finite checkpoint.pt and best.pt still on disk, or None.
        hint: how to avoid it.
    """

    HINT = "lower --lr, add --grad-clip, or use --precision fp32"

    def __init__(
        self,
        epoch: int,
        step: int,
        loss: float,
        *,
        reason: str | None = None,
        checkpoint: str | None = None,
        best: str | None = None,
        hint: str | None = HINT,
    ):
        self.epoch, self.step, self.loss = epoch, step, float(loss)
        self.checkpoint, self.best = checkpoint, best
        super().__init__(
            f"training diverged at epoch {epoch}, step {step}: {reason or f'loss is {number(loss)}'}", hint
        )

    def __str__(self) -> str:
        kept = f"; the last finite checkpoint is kept in {self.checkpoint}" if self.checkpoint else ""
        return super().__str__() + kept

    def summary(self) -> dict[str, Any]:
        """What summary.json records about the divergence (valid JSON: nan and inf become strings)."""
        loss = self.loss if math.isfinite(self.loss) else number(self.loss)
        return {
            "status": "diverged",
            "epoch": self.epoch,
            "step": self.step,
            "loss": loss,
            "checkpoint": self.checkpoint,
            "best": self.best,
            "message": str(self),
        }


def number(x: float) -> str:
    """A float as text: "nan", "inf" and "-inf" for the non-finite ones, else 4 significant digits."""
    x = float(x)
    return repr(x) if not math.isfinite(x) else f"{x:.4g}"


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A hint naming the closest choices, or listing all of them.

    >>> did_you_mean("adma", ["adam", "sgd"])
    "did you mean 'adam'? choices: adam, sgd"
    """
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    listing = "choices: " + ", ".join(choices)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "? " + listing
    return listing


def check(condition: bool, message: str, hint: str | None = None) -> None:
    """Raise `UserError(message, hint)` unless `condition` holds."""
    if not condition:
        raise UserError(message, hint)
