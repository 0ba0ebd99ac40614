"""The shared fabric: which running jobs' collectives cross the same network links, and how
much each one's traffic slows the others (the model is comm/sharing.py).

A job registers its footprint when it is placed (at each start) and withdraws it when it
leaves its GPUs (finish, preemption, failure). Each change re-computes the contention factor of
the jobs whose links the footprint touches, and only theirs: per placement change, not per
step. A job's factor is its contended step over its isolated one, from the mean traffic of all
the other jobs on its links; :meth:`set_contention` re-times a segment in flight.
"""

from __future__ import annotations

from typing import Protocol

from fleetsim.comm.cost import Edge
from fleetsim.comm.sharing import Footprint, background_of


class Contended(Protocol):
    """What the fabric needs of a job."""

    name: str

    def set_contention(self, factor: float) -> None: ...


class SharedFabric:
    """Running jobs' footprints and their mutual slow-down (module docstring)."""

    def __init__(self) -> None:
        self._footprints: dict[Contended, Footprint] = {}
        self._loads: dict[Contended, dict[Edge, float]] = {}
        self._users: dict[Edge, dict[Contended, None]] = {}  # insertion-ordered sets

    def placed(self, job: Contended, footprint: Footprint) -> None:
        """``job`` runs with ``footprint`` from now on."""
        if job in self._footprints:
            self.vacated(job)
        self._footprints[job] = footprint
        self._loads[job] = footprint.load()
        for edge in footprint.edges:
            self._users.setdefault(edge, {})[job] = None
        self._update(self._neighbours(job, footprint) | {job: None})

    def vacated(self, job: Contended) -> None:
        """``job`` no longer sends traffic (its factor returns to 1)."""
        footprint = self._footprints.pop(job, None)
        if footprint is None:
            return
        del self._loads[job]
        for edge in footprint.edges:
            users = self._users[edge]
            del users[job]
            if not users:
                del self._users[edge]
        job.set_contention(1.0)
        self._update(self._neighbours(job, footprint))

    def factor(self, job: Contended) -> float:
        """``job``'s current contended step over its isolated step."""
        footprint = self._footprints.get(job)
        if footprint is None:
            return 1.0
        others = self._neighbours(job, footprint)
        return footprint.factor(background_of([self._loads[other] for other in others],
                                              footprint.edges))

    def _neighbours(self, job: Contended, footprint: Footprint) -> dict[Contended, None]:
        """The other running jobs that share a link with ``footprint``, in placement order."""
        found: dict[Contended, None] = {}
        for edge in sorted(footprint.edges):
            for other in self._users.get(edge, ()):
                if other is not job:
                    found[other] = None
        return found

    def _update(self, jobs: dict[Contended, None]) -> None:
        for job in jobs:
            if job in self._footprints:
                job.set_contention(self.factor(job))


__all__ = ["Contended", "SharedFabric"]
