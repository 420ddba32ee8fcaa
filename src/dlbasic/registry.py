"""A name -> factory table with did-you-mean errors; models, optimizers, data sources and studies use it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from dlbasic.errors import UserError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects (usually factories).

    Args:
        kind: what the entries are ("model", "optimizer", ...), used in error messages.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator: `@models.register()` stores the function under its own name (or `name`)."""

        def add(obj: T) -> T:
            key = name or obj.__name__  # type: ignore[attr-defined]
            if key in self._entries:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._entries[key] = obj
            return obj

        return add

    def add(self, name: str, obj: T) -> None:
        """Store `obj` under `name`; `ValueError` if the name is taken."""
        self.register(name)(obj)

    def get(self, name: str) -> T:
        """The entry named `name`; `UserError` with the closest names for an unknown one."""
        try:
            return self._entries[name]
        except KeyError:
            raise UserError(f"unknown {self.kind} {name!r}", did_you_mean(name, self._entries)) from None

    def names(self) -> list[str]:
        """All names, sorted."""
        return sorted(self._entries)

    def in_order(self) -> list[str]:
        """All names, in the order they were registered."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
