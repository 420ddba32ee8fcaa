"""A light progress bar (tqdm when attached to a terminal), updated a few times per second at most."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm


class Progress:
    """A tqdm progress bar on stderr that draws at most ~5 updates per second; it does nothing when disabled.

    Args:
        total: the number of steps.
        initial: the steps already done (an epoch resumed mid-way).
        enabled: None draws it only when stderr is a terminal.
    """

    def __init__(self, total: int, desc: str, initial: int = 0, enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.bar = (
            tqdm(total=total, initial=initial, desc=desc, leave=False, dynamic_ncols=True, file=sys.stderr)
            if self.enabled
            else None
        )
        self.shown, self.last = initial, 0.0

    def due(self, done: int) -> bool:
        """True when an update should be drawn (at most ~5 per second, and at the end)."""
        if self.bar is None:
            return False
        now = time.perf_counter()
        if now - self.last > 0.2 or done == self.bar.total:
            self.last = now
            return True
        return False

    def update(self, done: int, **values: float) -> None:
        """Move the bar to `done` steps and show `values` (e.g. loss) beside it."""
        if self.bar is None:
            return
        self.bar.update(done - self.shown)
        self.shown = done
        self.bar.set_postfix({k: f"{v:.4g}" for k, v in values.items()}, refresh=False)

    def close(self) -> None:
        """Remove the bar (it is not left on the terminal)."""
        if self.bar is not None:
            self.bar.close()
