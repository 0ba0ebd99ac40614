"""Named registries of pluggable classes: the one way a YAML name becomes a policy or a model.

Every choice a scenario makes by name (a checkpoint policy, a batching policy, a router, a
scheduler policy, a placement, a jitter law, an arrival process) is a small class registered
in a :class:`Registry` under that name. Adding one is one class and one decorator::

    POLICIES = Registry("checkpoint policy")

    @POLICIES.register
    class Young(CheckpointPolicy):
        name = "young"

A registry sits in the layer that owns its concept (``training/checkpoint.py`` holds the
checkpoint policies); the scenario schema only holds the name, and the run's setup
(:mod:`fleetsim.prepare`) checks it with :meth:`Registry.get`, whose error lists the known
names. A registry reads like a read-only mapping from name to class, in registration order.
"""

from __future__ import annotations

from typing import Callable, Generic, Iterator, Mapping, TypeVar

from fleetsim.errors import FleetsimError

T = TypeVar("T")
C = TypeVar("C")


class UnknownName(FleetsimError, ValueError):
    """A name no class is registered under (a ``ValueError`` too, so schema code may raise it
    inside a pydantic validator)."""


class Registry(Mapping[str, T], Generic[T]):
    """Classes (or factories) by the name a scenario uses; ``kind`` names them in errors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, entry: C, name: str | None = None) -> C:
        """Register ``entry`` under ``name`` (default: its ``name`` attribute); returns it, so
        it works as a class decorator. Registering a name again replaces the earlier entry
        (a user's class may shadow a shipped one)."""
        key = name if name is not None else getattr(entry, "name", None)
        if not isinstance(key, str) or not key:
            raise TypeError(f"a {self.kind} needs a non-empty string name to be registered")
        self._entries[key] = entry  # type: ignore[assignment]
        return entry

    def named(self, name: str) -> Callable[[C], C]:
        """Decorator registering under an explicit ``name``."""
        return lambda entry: self.register(entry, name)

    def get(self, name: object) -> T:  # type: ignore[override]
        """The entry registered as ``name``; :class:`UnknownName` listing the known ones."""
        if isinstance(name, str) and name in self._entries:
            return self._entries[name]
        raise UnknownName(f"unknown {self.kind} {name!r} (known: {self.known()})")

    def known(self) -> str:
        """The registered names, comma separated, in registration order."""
        return ", ".join(self._entries)

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {self.known()})"
