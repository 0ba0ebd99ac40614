"""The fleet's nodes: who holds which node, the spare pool, failures taking nodes down, repair.

Node life cycle::

    idle/spare --allocate--> held by a job --release--> idle (or spare, to refill the pool)
         \\________________________ failure ________________________/
                                     v
                                   down --repair--> (waiting jobs, else spare pool, else idle)

* A job's first allocation is all-or-nothing from the idle pool (gang scheduling); the hot
  spares are reserved for failover and never used for a first allocation.
* Replacements after a failure come from the spare pool first, then the idle pool; a job
  waiting for replacements keeps the healthy nodes it holds and is topped up as nodes return.
* Requests are served first come, first served; replacements before first allocations.

The fleet keeps a log of GPU counts per state at every change, from which utilization and the
timeseries are computed exactly.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

import simpy

from fleetsim.engine.events import EventLog
from fleetsim.faults.clock import Failure


class NodeHolder(Protocol):
    """What the fleet needs of a job."""

    name: str
    nodes_required: int

    def on_node_failure(self, failure: Failure) -> None: ...


class _Request:
    __slots__ = ("job", "event", "initial")

    def __init__(self, job: NodeHolder, event: simpy.Event, initial: bool) -> None:
        self.job, self.event, self.initial = job, event, initial


class Fleet:
    """Node states, allocation to jobs, spare pool and repair, for one cluster."""

    def __init__(self, env: simpy.Environment, nodes: int, gpus_per_node: int, spares: int,
                 repair_s: float, log: EventLog) -> None:
        self.env = env
        self.nodes = nodes
        self.gpus_per_node = gpus_per_node
        self.spare_target = spares
        self.repair_s = repair_s
        self.log = log
        self._holder: list[NodeHolder | None] = [None] * nodes
        self._down: list[bool] = [False] * nodes
        self._idle: deque[int] = deque(range(nodes - spares))
        self._spare: deque[int] = deque(range(nodes - spares, nodes))
        self._held: dict[str, dict[int, None]] = {}  # job -> its nodes (an ordered set)
        self._waiting: deque[_Request] = deque()
        self.failures = 0
        self.failures_by_cause: dict[str, int] = {}
        self.repairs = 0
        #: (time_s, busy, down, spare, idle) node counts after every change
        self.state_log: list[tuple[float, int, int, int, int]] = []
        self._busy = 0
        self._down_count = 0
        self._log_state()

    # -- queries --------------------------------------------------------------------------
    def held(self, job: NodeHolder) -> list[int]:
        """The healthy nodes ``job`` holds now."""
        return list(self._held.get(job.name, ()))

    @property
    def spare_count(self) -> int:
        return len(self._spare)

    # -- allocation -----------------------------------------------------------------------
    def request(self, job: NodeHolder, *, initial: bool) -> simpy.Event:
        """An event that succeeds once ``job`` holds ``job.nodes_required`` healthy nodes."""
        event = self.env.event()
        self._held.setdefault(job.name, {})
        self._waiting.append(_Request(job, event, initial))
        self._serve()
        return event

    def release(self, job: NodeHolder) -> None:
        """Return every node ``job`` holds to the pools."""
        for node in self._held.pop(job.name, {}):
            self._holder[node] = None
            self._busy -= 1
            self._return_to_pool(node)
        self._serve()
        self._log_state()

    def _serve(self) -> None:
        changed = False
        for request in sorted(self._waiting, key=lambda r: r.initial):  # stable: FIFO per kind
            held = self._held[request.job.name]
            missing = request.job.nodes_required - len(held)
            if request.initial:
                if missing > len(self._idle):
                    continue
                sources: tuple[deque[int], ...] = (self._idle,)
            else:
                sources = (self._spare, self._idle)
            for pool in sources:
                while missing > 0 and pool:
                    node = pool.popleft()
                    self._give(request.job, node, replacement=not request.initial)
                    missing -= 1
                    changed = True
            if missing == 0:
                self._waiting.remove(request)
                request.event.succeed()
        if changed:
            self._log_state()

    def _give(self, job: NodeHolder, node: int, *, replacement: bool) -> None:
        self._holder[node] = job
        self._held[job.name][node] = None
        self._busy += 1
        if replacement:
            self.log.record(self.env.now, "replaced", job=job.name, unit=f"node{node}")

    def _return_to_pool(self, node: int) -> None:
        if len(self._spare) < self.spare_target:
            self._spare.append(node)
        else:
            self._idle.append(node)

    # -- failure and repair ---------------------------------------------------------------
    def fail(self, failure: Failure) -> bool:
        """Take ``failure.node`` down and notify its job; False if it was already down."""
        node = failure.node
        if self._down[node]:
            return False
        self._down[node] = True
        self._down_count += 1
        self.failures += 1
        self.failures_by_cause[failure.cause] = self.failures_by_cause.get(failure.cause, 0) + 1
        holder = self._holder[node]
        self.log.record(failure.time_s, "failure", job=holder.name if holder else "",
                        cause=failure.cause, unit=failure.unit)
        if holder is not None:
            self._holder[node] = None
            del self._held[holder.name][node]
            self._busy -= 1
        else:
            self._remove_from_pools(node)
        self._log_state()
        self.env.timeout(self.repair_s).callbacks.append(lambda _event: self._repaired(node))
        if holder is not None:
            holder.on_node_failure(failure)
        return True

    def _remove_from_pools(self, node: int) -> None:
        for pool in (self._spare, self._idle):
            try:
                pool.remove(node)
                return
            except ValueError:
                continue

    def _repaired(self, node: int) -> None:
        self._down[node] = False
        self._down_count -= 1
        self.repairs += 1
        self.log.record(self.env.now, "repaired", unit=f"node{node}")
        self._return_to_pool(node)
        self._serve()
        self._log_state()

    # -- bookkeeping ----------------------------------------------------------------------
    def _log_state(self) -> None:
        entry = (self.env.now, self._busy, self._down_count, len(self._spare), len(self._idle))
        if self.state_log and self.state_log[-1][0] == entry[0]:
            self.state_log[-1] = entry
        else:
            self.state_log.append(entry)
