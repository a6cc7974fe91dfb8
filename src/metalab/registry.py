"""Named registries of learners, estimators, task families and experiments.

A registry maps a name to a value (a factory or an ``Experiment``). The package fills its
registries with the built-ins; users add their own from their code with ``register`` (or the
``@REGISTRY.register("name")`` decorator form), without editing the package. Experiments can
also come from installed packages through the entry-point group ``metalab.experiments``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from metalab.errors import BadInput

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> value table with clear errors for unknown or duplicated names."""

    def __init__(self, kind: str, option: str):
        self.kind = kind  # e.g. "learner", used in error messages
        self.option = option  # the command-line option that names an entry, e.g. "--learner"
        self._entries: dict[str, T] = {}

    def register(self, name: str, value: T | None = None, *, replace: bool = False):
        """Add ``value`` under ``name``; without ``value``, return a decorator that adds it."""
        if value is None:
            def decorate(v: T) -> T:
                return self.register(name, v, replace=replace)

            return decorate
        if name in self._entries and not replace:
            raise ValueError(f"a {self.kind} named {name!r} is already registered; "
                             "pass replace=True to override it")
        self._entries[name] = value
        return value

    def __getitem__(self, name: str) -> T:
        if name not in self._entries:
            raise BadInput(self.option, f"unknown {self.kind} {name!r}; choose from "
                           f"{', '.join(self._entries)} (see `metalab list`)")
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def items(self):
        """(name, value) pairs in registration order."""
        return self._entries.items()

    def values(self):
        """Registered values in registration order."""
        return self._entries.values()

    def select(self, keep: Callable[[T], bool]) -> list[str]:
        """Names whose value ``keep`` accepts."""
        return [name for name, value in self._entries.items() if keep(value)]
