"""The one exception family of fleetsim, and how a user-facing error names its place.

Every error a user can cause (a bad scenario, an unknown hardware name, a bad ``--set``) is a
:class:`FleetsimError`. The CLI prints ``str(error)`` as one line and exits with code 2; it never
shows a traceback for these. Anything else escaping is a bug in fleetsim.
"""

from __future__ import annotations


class FleetsimError(Exception):
    """Base class of every error fleetsim raises on purpose."""


class ScenarioError(FleetsimError):
    """A scenario (or a hardware file) that cannot be accepted.

    Rendered as ``FILE:LINE: key.path: what is wrong (what is allowed)``. ``line`` may be the
    string ``"--set"`` when the offending value came from a command-line override.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | str | None = None,
        key: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        super().__init__(self.__str__())

    def __str__(self) -> str:
        place = self.file or "<scenario>"
        if self.line is not None:
            place = f"{place}:{self.line}"
        parts = [place]
        if self.key:
            parts.append(self.key)
        parts.append(self.message)
        return ": ".join(parts)


class LocatedError(FleetsimError):
    """A problem with one key of the scenario found outside the schema (a cost model, a
    registry, a file the scenario names): ``location`` is the key path relative to the
    section being checked; :mod:`fleetsim.prepare` turns it into a :class:`ScenarioError`
    with the file and line."""

    def __init__(self, message: str, location: tuple = ()) -> None:
        super().__init__(message)
        self.location = tuple(location)


class UnitError(ValueError):
    """A quantity string that cannot be parsed (a ``ValueError`` so pydantic reports it)."""


class OutputError(FleetsimError):
    """An output location that cannot be written without losing something the user wrote."""
