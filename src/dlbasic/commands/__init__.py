"""Sub-commands of `dlbasic`, one module each (see `dlbasic.cli`)."""
