"""Scheduling policies: in which order waiting jobs start, and whom a waiting job may preempt
(registered by the name ``scheduler.policy`` uses).

A policy keeps the waiting jobs in its own order (a sorted list: O(log n) to add or remove a
job, the head in O(1)) and answers three questions for the scheduler
(:mod:`fleetsim.scheduler.core`): which waiting jobs come first (:meth:`candidates`), may a job
start at all now (:meth:`admissible`: quotas), and which running jobs a blocked one may preempt
(:meth:`victims`). Policies are *strict*: when the first candidate does not fit, nothing behind
it starts, unless EASY backfill is on (``scheduler.backfill``) or the policy is not strict
(fair-share, whose teams do not block each other).

``fifo``        submission order (original submission: a preempted job keeps its place).
``backfill``    fifo with EASY backfill (Lifka 1995; Mu'alem & Feitelson, TPDS 2001).
``sjf``         shortest estimated job first (the user's estimate, or the duration).
``priority``    higher ``priority`` first, then fifo; a blocked job preempts running jobs of
                lower priority (lowest first, most recently started first) that have run at
                least ``preemption.after`` (Meta's RSC: preemptible after 2 h).
``las``         least attained service, discretised as Tiresias (Gu et al., NSDI'19): queues
                split by GPU-time attained (``thresholds``), fifo within a queue; a job whose
                attained GPU-time crosses a threshold while it runs drops a queue, and a
                waiting job of a higher queue preempts running jobs of lower ones.
``fair-share``  each team's nominal ``quotas`` share of the GPUs, as Kueue's cluster queues in
                a cohort: teams under their share go first (lowest usage / quota first, fifo
                within a team); with ``borrowing`` a team may use idle GPUs beyond its share,
                and a team within its share reclaims them by preempting the jobs of teams over
                theirs (newest first). Jobs without a team, or of a team without a quota,
                only borrow.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC
from typing import Any, ClassVar, Iterable, Iterator, Protocol

from sortedcontainers import SortedList

from fleetsim.registry import Registry
from fleetsim.scenario.scheduling import SchedulerSpec

POLICIES: Registry[type["SchedulingPolicy"]] = Registry("scheduling policy")

#: scheduler keys every policy accepts
COMMON_KEYS = ("policy", "placement", "backfill", "backfill_depth", "preemption")


class Schedulable(Protocol):
    """What a policy reads of a job."""

    name: str
    submit_s: float
    priority: int
    team: str | None
    gpus: int
    preemptible: bool
    last_start_s: float | None
    estimate_s: float
    attained_gpu_s: float


class WaitingJobs:
    """Waiting jobs sorted by a key computed when they join (ties: the order they joined)."""

    def __init__(self) -> None:
        self._sorted = SortedList()
        self._entries: dict[Any, tuple] = {}
        self._jobs: dict[int, Any] = {}
        self._sequence = itertools.count()

    def add(self, job: Any, key: tuple) -> None:
        entry = (*key, next(self._sequence))
        self._entries[job] = entry
        self._jobs[entry[-1]] = job
        self._sorted.add(entry)

    def remove(self, job: Any) -> None:
        entry = self._entries.pop(job)
        del self._jobs[entry[-1]]
        self._sorted.remove(entry)

    def __contains__(self, job: Any) -> bool:
        return job in self._entries

    def __len__(self) -> int:
        return len(self._sorted)

    def __iter__(self) -> Iterator[Any]:
        jobs = self._jobs
        for entry in list(self._sorted.islice(0, len(self._sorted))):
            yield jobs[entry[-1]]

    def first(self, count: int) -> list[Any]:
        """The first ``count`` jobs."""
        if count == 1:
            return [self._jobs[self._sorted[0][-1]]] if self._sorted else []
        return [self._jobs[entry[-1]] for entry in self._sorted.islice(0, count)]

    def walk(self, count: int, chunk: int = 32) -> Iterator[Any]:
        """The first ``count`` jobs, read ``chunk`` at a time as the caller goes on, so a
        walk that stops early costs what it read. The caller may remove the jobs it was given
        (they were before the next one); the jobs given are those :meth:`first` would have
        given when the walk began, if no other job joins or leaves meanwhile."""
        jobs, given, last = self._jobs, 0, None
        while given < count:
            if last is None:
                entries = list(self._sorted.islice(0, min(chunk, count - given)))
            else:
                entries = list(itertools.islice(
                    self._sorted.irange(last, inclusive=(False, False)),
                    min(chunk, count - given)))
            if not entries:
                return
            for entry in entries:
                yield jobs[entry[-1]]
            given += len(entries)
            last = entries[-1]


class SchedulingPolicy(ABC):
    """Base: fifo order, strict, no preemption (subclasses change the key or the rules)."""

    name: ClassVar[str]
    keys: ClassVar[tuple[str, ...]] = ()  # scheduler keys this policy reads, beyond COMMON_KEYS
    strict: ClassVar[bool] = True
    preemptive: ClassVar[bool] = False
    backfill: ClassVar[bool] = False  # EASY backfill by default

    def __init__(self, spec: SchedulerSpec, total_gpus: int) -> None:
        self.spec = spec
        self.total_gpus = total_gpus
        self.waiting = WaitingJobs()

    def key(self, job: Schedulable) -> tuple:
        """The sort key of a job joining the queue."""
        return (job.submit_s,)

    def add(self, job: Schedulable) -> None:
        self.waiting.add(job, self.key(job))

    def remove(self, job: Schedulable) -> None:
        self.waiting.remove(job)

    def __len__(self) -> int:
        return len(self.waiting)

    def candidates(self, limit: int) -> Iterable[Schedulable]:
        """Up to ``limit`` waiting jobs in the order they should start (read as the scheduler
        walks them: it may start, and so remove, each job it was given)."""
        if limit == 1:
            return self.waiting.first(1)
        return self.waiting.walk(limit)

    def admissible(self, job: Schedulable) -> bool:
        """May ``job`` start now if it fits (quotas)?"""
        return True

    def borrows(self, job: Schedulable) -> bool:
        """Would ``job`` use GPUs beyond its share (fair-share)? It then waits while another
        job reclaims GPUs by preemption, so the GPUs freed reach the reclaiming job."""
        return False

    def started(self, job: Schedulable) -> None:
        """``job`` started (bookkeeping of usage)."""

    def stopped(self, job: Schedulable) -> None:
        """``job`` finished or was preempted."""

    def victims(self, job: Schedulable, running: Iterable[Schedulable],
                now: float) -> list[Schedulable]:
        """Running jobs ``job`` may preempt, in the order to preempt them (none by default)."""
        return []

    def _preemptible(self, job: Schedulable, now: float) -> bool:
        started = job.last_start_s
        return (job.preemptible and started is not None
                and now - started >= self.spec.preemption.after)


@POLICIES.register
class Fifo(SchedulingPolicy):
    name = "fifo"


@POLICIES.register
class Backfill(SchedulingPolicy):
    name = "backfill"
    backfill = True


@POLICIES.register
class ShortestJobFirst(SchedulingPolicy):
    name = "sjf"

    def key(self, job: Schedulable) -> tuple:
        return (job.estimate_s, job.submit_s)


@POLICIES.register
class Priority(SchedulingPolicy):
    name = "priority"
    preemptive = True

    def key(self, job: Schedulable) -> tuple:
        return (-job.priority, job.submit_s)

    def victims(self, job: Schedulable, running: Iterable[Schedulable],
                now: float) -> list[Schedulable]:
        lower = [other for other in running
                 if other.priority < job.priority and self._preemptible(other, now)]
        return sorted(lower, key=lambda other: (other.priority, -(other.last_start_s or 0.0)))


@POLICIES.register
class LeastAttainedService(SchedulingPolicy):
    name = "las"
    keys = ("thresholds",)
    preemptive = True

    #: Tiresias' default two queues split at this GPU-time [assumption: the NSDI'19 paper
    #: tunes thresholds per trace; one GPU-hour splits short debugging jobs from the rest]
    DEFAULT_THRESHOLDS = (3600.0,)

    def __init__(self, spec: SchedulerSpec, total_gpus: int) -> None:
        super().__init__(spec, total_gpus)
        self.thresholds = tuple(spec.thresholds or self.DEFAULT_THRESHOLDS)

    def queue_of(self, job: Schedulable) -> int:
        """The queue of a job with its attained GPU-time (0: the highest priority)."""
        attained = job.attained_gpu_s * (1 + 1e-9)  # a job at its threshold has crossed it
        return sum(1 for threshold in self.thresholds if attained >= threshold)

    def next_threshold(self, job: Schedulable) -> float:
        """The GPU-time at which the job drops to the next queue (inf in the last)."""
        queue = self.queue_of(job)
        return self.thresholds[queue] if queue < len(self.thresholds) else math.inf

    def key(self, job: Schedulable) -> tuple:
        return (self.queue_of(job), job.submit_s)

    def victims(self, job: Schedulable, running: Iterable[Schedulable],
                now: float) -> list[Schedulable]:
        mine = self.queue_of(job)
        lower = [other for other in running
                 if self.queue_of(other) > mine and self._preemptible(other, now)]
        return sorted(lower, key=lambda other: (-self.queue_of(other),
                                                -(other.last_start_s or 0.0)))


@POLICIES.register
class FairShare(SchedulingPolicy):
    name = "fair-share"
    keys = ("quotas", "borrowing")
    strict = False
    preemptive = True

    def __init__(self, spec: SchedulerSpec, total_gpus: int) -> None:
        super().__init__(spec, total_gpus)
        self.quota_gpus = {team: share * total_gpus for team, share in (spec.quotas or {}).items()}
        self.usage: dict[str | None, int] = {}
        self.teams: dict[str | None, WaitingJobs] = {}

    def quota(self, team: str | None) -> float:
        return self.quota_gpus.get(team, 0.0) if team is not None else 0.0

    def add(self, job: Schedulable) -> None:
        self.teams.setdefault(job.team, WaitingJobs()).add(job, (job.submit_s,))
        self.waiting.add(job, (job.submit_s,))

    def remove(self, job: Schedulable) -> None:
        self.teams[job.team].remove(job)
        self.waiting.remove(job)

    def _share(self, team: str | None) -> float:
        quota = self.quota(team)
        used = self.usage.get(team, 0)
        return used / quota if quota > 0 else math.inf

    def candidates(self, limit: int) -> list[Schedulable]:
        """Teams by usage / quota, lowest first (a team with no quota last), each team's
        waiting jobs in fifo order."""
        teams = sorted((team for team, queue in self.teams.items() if len(queue)),
                       key=lambda team: (self._share(team), str(team)))
        ordered: list[Schedulable] = []
        for team in teams:
            ordered.extend(self.teams[team].first(limit - len(ordered)))
            if len(ordered) >= limit:
                break
        return ordered

    def borrows(self, job: Schedulable) -> bool:
        """Would starting ``job`` take its team beyond its quota?"""
        return self.usage.get(job.team, 0) + job.gpus > self.quota(job.team) + 1e-9

    def admissible(self, job: Schedulable) -> bool:
        return self.spec.borrowing or not self.borrows(job)

    def started(self, job: Schedulable) -> None:
        self.usage[job.team] = self.usage.get(job.team, 0) + job.gpus

    def stopped(self, job: Schedulable) -> None:
        self.usage[job.team] -= job.gpus

    def victims(self, job: Schedulable, running: Iterable[Schedulable],
                now: float) -> list[Schedulable]:
        """A team within its quota reclaims GPUs from teams over theirs (Kueue's
        reclaimWithinCohort: Any): the newest jobs of the teams furthest over their share."""
        if self.usage.get(job.team, 0) + job.gpus > self.quota(job.team) + 1e-9:
            return []
        over = sorted((other for other in running
                       if other.team != job.team and self._preemptible(other, now)
                       and self.usage.get(other.team, 0) > self.quota(other.team) + 1e-9),
                      key=lambda other: (-self._over(other.team), -(other.last_start_s or 0.0)))
        projected = dict(self.usage)
        chosen = []
        for other in over:  # never push a team below its own share
            if projected[other.team] > self.quota(other.team) + 1e-9:
                chosen.append(other)
                projected[other.team] -= other.gpus
        return chosen

    def _over(self, team: str | None) -> float:
        return self.usage.get(team, 0) - self.quota(team)


__all__ = ["COMMON_KEYS", "POLICIES", "Schedulable", "SchedulingPolicy", "WaitingJobs"]
