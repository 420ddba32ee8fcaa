"""One exception type for mistakes a user can fix; the CLI prints it in one line with exit code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


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
