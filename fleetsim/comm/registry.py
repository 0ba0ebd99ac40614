"""The registry of collective algorithms by operation and name (``all-reduce`` / ``ring``).

An algorithm is a small class: its ``op``, its ``name`` (plus ``aliases``), the NCCL latency
``family`` its steps are charged at (``ring``, ``tree``, ``nvls``, ``nvls-tree``; protocols.py,
tuner.py), the vendor ``libraries`` that run it (tuner.py), and a ``phases(layout)`` method
returning its size-independent schedule (schedule.py). Adding one is
that class with ``@register`` and a test; nothing else changes::

    @register
    class MyAllReduce(Algorithm):
        op, name = "all-reduce", "mine"
        def phases(self, layout): ...

Message-size conventions follow nccl-tests (doc/PERFORMANCE.md), so busbw matches:
``size_bytes`` is the per-rank buffer for all-reduce and broadcast, the *total* (gathered)
size for all-gather and reduce-scatter, each rank's whole send buffer (``p`` chunks, one kept
locally) for all-to-all, and the message for send-recv.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, TypeVar

from fleetsim.comm.schedule import CommError, GroupLayout, Phase

OPS = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "broadcast", "send-recv")

#: op -> algorithm name (and aliases) -> algorithm class
ALGORITHMS: dict[str, dict[str, type["Algorithm"]]] = {op: {} for op in OPS}

A = TypeVar("A", bound=type["Algorithm"])


class Algorithm(ABC):
    """One way of running one collective operation."""

    op: ClassVar[str]
    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    family: ClassVar[str] = "ring"
    #: vendor libraries that implement it (tuner.py profiles' ``library``): on a graph with a
    #: profile, ``auto`` chooses only among these; empty = MPI-style, selectable by name only
    libraries: ClassVar[frozenset[str]] = frozenset()
    #: costed with NCCL's own latency and protocol model under a profile (tuner.py)
    nccl_model: ClassVar[bool] = False
    #: protocols it runs (None: all)
    protocols: ClassVar[tuple[str, ...] | None] = None
    #: phases overlap (chunks stream through them): the bandwidth term is the busiest link's
    #: bytes over all phases, not the sum of the phases' times (cost.py)
    pipelined: ClassVar[bool] = False

    @abstractmethod
    def phases(self, layout: GroupLayout) -> list[Phase]:
        """The schedule for a group of ``layout.size >= 2`` ranks (fractions of size_bytes)."""


def register(cls: A) -> A:
    """Class decorator: file ``cls`` under its op, name and aliases."""
    if cls.op not in ALGORITHMS:
        raise ValueError(f"unknown collective {cls.op!r} (known: {', '.join(OPS)})")
    for key in (cls.name, *cls.aliases):
        ALGORITHMS[cls.op][key] = cls
    return cls


def algorithm(op: str, name: str) -> Algorithm:
    """An instance of the algorithm ``name`` for ``op``; :class:`CommError` lists the known."""
    if op not in ALGORITHMS:
        raise CommError(f"unknown collective {op!r} (known: {', '.join(OPS)})")
    cls = ALGORITHMS[op].get(name)
    if cls is None:
        raise CommError(f"unknown {op} algorithm {name!r} "
                        f"(known: {', '.join(algorithm_names(op))}, auto)")
    return cls()


def algorithm_names(op: str) -> list[str]:
    """Canonical algorithm names registered for ``op`` (aliases left out)."""
    return sorted({cls.name for cls in ALGORITHMS.get(op, {}).values()})


def check_size(layout: GroupLayout, exactly: int | None = None) -> None:
    """Raise :class:`CommError` unless the group has ``exactly`` ranks (when given)."""
    if exactly is not None and layout.size != exactly:
        raise CommError(f"needs exactly {exactly} ranks, the group has {layout.size}")
