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
* Repair: a constant time, or a pipeline (automatic, escalated to manual with a probability;
  a repair may leave the fault in place, and the node then fails ``bad_factor`` times faster
  until a later repair fixes it). A fraction of nodes may be inherently bad (always faster).

The fleet keeps a log of GPU counts per state at every change, from which utilization and the
timeseries are computed exactly.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

import numpy as np
import simpy

from fleetsim.engine.events import EventLog
from fleetsim.faults.clock import Failure
from fleetsim.scenario.faults import BadNodes, RepairPipeline
from fleetsim.scenario.stragglers import SlowNodesSpec


class NodeHolder(Protocol):
    """What the fleet needs of a job."""

    name: str
    nodes_required: int

    def on_node_failure(self, failure: Failure) -> None: ...

    def on_silent_corruption(self, failure: Failure) -> None: ...


class _Request:
    __slots__ = ("job", "event", "initial")

    def __init__(self, job: NodeHolder, event: simpy.Event, initial: bool) -> None:
        self.job, self.event, self.initial = job, event, initial


class Fleet:
    """Node states, allocation to jobs, spare pool and repair, for one cluster."""

    def __init__(self, env: simpy.Environment, nodes: int, gpus_per_node: int, spares: int,
                 repair: float | RepairPipeline, log: EventLog, *,
                 rng: np.random.Generator | None = None, bad_nodes: BadNodes | None = None
                 ) -> None:
        self.env = env
        self.nodes = nodes
        self.gpus_per_node = gpus_per_node
        self.spare_target = spares
        self.repair = repair
        self.log = log
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.bad_factor = bad_nodes.factor if bad_nodes is not None else 5.0
        count = round(bad_nodes.fraction * nodes) if bad_nodes is not None else 0
        self._bad = np.zeros(nodes, dtype=bool)  # fails bad_factor x faster (inherently)
        if count:
            self._bad[self.rng.choice(nodes, size=count, replace=False)] = True
        self._hidden_fault = np.zeros(nodes, dtype=bool)  # a repair left the fault in place
        self.repairs_by_kind: dict[str, int] = {}
        self._slow: set[int] = set()  # persistently slow nodes (stragglers); few
        self._down_since: dict[int, float] = {}
        #: (node, down_s, up_s) for every repair, for timelines
        self.downtime: list[tuple[int, float, float]] = []
        self.evictions = 0
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

    def held_count(self, job: NodeHolder) -> int:
        """How many healthy nodes ``job`` holds now (O(1))."""
        return len(self._held.get(job.name, ()))

    # -- allocation -----------------------------------------------------------------------
    def request(self, job: NodeHolder, *, initial: bool) -> simpy.Event:
        """An event that succeeds once ``job`` holds ``job.nodes_required`` healthy nodes."""
        event = self.env.event()
        self._held.setdefault(job.name, {})
        self._waiting.append(_Request(job, event, initial))
        self._serve()
        return event

    def release(self, job: NodeHolder) -> None:
        """Return every node ``job`` holds to the pools (and drop its pending requests: an
        elastic job may finish before its replacements arrive)."""
        self._waiting = deque(request for request in self._waiting if request.job is not job)
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

    # -- slow nodes (stragglers) ----------------------------------------------------------
    def start_slow_nodes(self, spec: SlowNodesSpec, rng: np.random.Generator) -> None:
        """Make ``spec.fraction`` of the nodes slow now, and (with ``mtbs``) run the process
        of nodes becoming slow: one superposed exponential clock for all nodes."""
        count = round(spec.fraction * self.nodes)
        if count:
            self._slow.update(int(node) for node in rng.choice(self.nodes, size=count,
                                                               replace=False))
        if spec.mtbs is not None:
            self.env.process(self._slowdowns(spec, rng))

    def _slowdowns(self, spec: SlowNodesSpec, rng: np.random.Generator):
        assert spec.mtbs is not None
        while True:
            yield self.env.timeout(rng.exponential(spec.mtbs / self.nodes))
            node = int(rng.integers(self.nodes))
            if self._down[node] or node in self._slow:
                continue
            self._slow.add(node)
            self.log.record(self.env.now, "slow", unit=f"node{node}")
            if spec.duration is not None:
                self.env.timeout(rng.exponential(spec.duration)).callbacks.append(
                    lambda _event, node=node: self._clear_slow(node))

    def _clear_slow(self, node: int) -> None:
        if node in self._slow:
            self._slow.discard(node)
            self.log.record(self.env.now, "slow_cleared", unit=f"node{node}")

    def slow_nodes_of(self, job: NodeHolder) -> list[int]:
        """The slow nodes ``job`` holds now (sorted; O(slow nodes), not O(job size))."""
        return sorted(node for node in self._slow if self._holder[node] is job)

    def evict(self, job: NodeHolder, node: int) -> None:
        """Take slow ``node`` out of ``job`` (to repair, which clears it); the job drains and
        restarts on a replacement."""
        if self._holder[node] is not job or self._down[node]:
            return
        self.evictions += 1
        self.log.record(self.env.now, "eviction", job=job.name, cause="straggler",
                        unit=f"node{node}")
        self._take_down(node)
        self._log_state()
        job.on_node_failure(Failure(self.env.now, "straggler_eviction", "node", (node,),
                                    f"node{node}", planned=True))

    # -- failure and repair ---------------------------------------------------------------
    @property
    def bad_node_count(self) -> int:
        """Nodes that are inherently bad."""
        return int(self._bad.sum())

    @property
    def max_multiplier(self) -> float:
        """The highest failure-rate multiplier any node can have (for thinning)."""
        can_be_bad = self._bad.any() or (isinstance(self.repair, RepairPipeline) and (
            self.repair.false_repair_automatic > 0 or self.repair.false_repair_manual > 0))
        return self.bad_factor if can_be_bad else 1.0

    def multiplier(self, node: int) -> float:
        """How many times faster than nominal ``node`` fails now."""
        return self.bad_factor if self._bad[node] or self._hidden_fault[node] else 1.0

    def fail(self, failure: Failure) -> bool:
        """Apply ``failure``: take its nodes down (except scope ``job``) and notify their jobs.

        Returns False (and records nothing) if it had no effect: its nodes were already down,
        or a job-scoped failure struck a node no job holds."""
        up = [node for node in failure.nodes if not self._down[node]]
        holders: list[NodeHolder] = []
        for node in up:
            holder = self._holder[node]
            if holder is not None and holder not in holders:
                holders.append(holder)
        if not up or (failure.scope == "job" and not holders):
            return False
        if failure.silent:
            return self._corrupt(failure, up, holders)
        self.failures += 1
        self.failures_by_cause[failure.cause] = self.failures_by_cause.get(failure.cause, 0) + 1
        self.log.record(failure.time_s, "failure", job=",".join(h.name for h in holders),
                        cause=failure.cause, unit=failure.unit)
        if failure.scope == "leaf":  # one switch repair brings all its nodes back
            repair_s, kind, _fixed = self._draw_repair()
            for node in up:
                self._take_down(node, repair=(repair_s, f"switch {kind}", None))
            self.env.timeout(repair_s).callbacks.append(lambda _event: self._count_repair("switch"))
            self._log_state()
        elif failure.scope != "job":
            for node in up:
                self._take_down(node)
            self._log_state()
        for holder in holders:
            holder.on_node_failure(failure)
        return True

    def _corrupt(self, failure: Failure, up: list[int], holders: list[NodeHolder]) -> bool:
        """Silent data corruption: nothing stops now; the holding job is told, and at the
        detection time the node goes to repair and the job rolls back."""
        self.failures += 1
        self.failures_by_cause[failure.cause] = self.failures_by_cause.get(failure.cause, 0) + 1
        self.log.record(failure.time_s, "failure", job=",".join(h.name for h in holders),
                        cause=failure.cause, unit=failure.unit)
        for holder in holders:
            holder.on_silent_corruption(failure)

        def detected(_event) -> None:
            still_up = [node for node in up if not self._down[node]]
            for node in still_up:
                self._take_down(node)
            self._log_state()
            found = Failure(self.env.now, failure.cause, failure.scope, failure.nodes,
                            failure.unit, detection_s=0.0, silent=True)
            for holder in holders:
                holder.on_node_failure(found)

        self.env.timeout(failure.detection_s).callbacks.append(detected)
        return True

    def _take_down(self, node: int,
                   repair: tuple[float, str, bool | None] | None = None) -> None:
        """Mark ``node`` down and schedule its repair (drawn here unless given; ``fixed`` None
        keeps the node's hidden-fault state: its own hardware was not touched)."""
        self._down[node] = True
        self._down_count += 1
        self._down_since[node] = self.env.now
        holder = self._holder[node]
        if holder is not None:
            self._holder[node] = None
            del self._held[holder.name][node]
            self._busy -= 1
        else:
            self._remove_from_pools(node)
        repair_s, kind, fixed = repair if repair is not None else self._draw_repair()
        self.env.timeout(repair_s).callbacks.append(
            lambda _event: self._repaired(node, kind, fixed))

    def _draw_repair(self) -> tuple[float, str, bool]:
        """(duration, kind, whether the fault is really fixed) of one repair."""
        pipeline = self.repair
        if not isinstance(pipeline, RepairPipeline):
            return float(pipeline), "repair", True
        rng = self.rng
        duration = rng.exponential(pipeline.automatic)
        if pipeline.manual is not None and rng.random() < pipeline.escalation:
            duration += rng.exponential(pipeline.manual)
            return duration, "manual", rng.random() >= pipeline.false_repair_manual
        return duration, "automatic", rng.random() >= pipeline.false_repair_automatic

    def _remove_from_pools(self, node: int) -> None:
        for pool in (self._spare, self._idle):
            try:
                pool.remove(node)
                return
            except ValueError:
                continue

    def _count_repair(self, kind: str) -> None:
        self.repairs += 1
        self.repairs_by_kind[kind] = self.repairs_by_kind.get(kind, 0) + 1

    def _repaired(self, node: int, kind: str = "repair", fixed: bool | None = True) -> None:
        self._down[node] = False
        self._down_count -= 1
        self.downtime.append((node, self._down_since.pop(node), self.env.now))
        if fixed is not None:  # the node itself was repaired (not just its switch)
            self._slow.discard(node)
            self._count_repair(kind)
            self._hidden_fault[node] = not fixed
            if not fixed:
                self.repairs_by_kind["false"] = self.repairs_by_kind.get("false", 0) + 1
        self.log.record(self.env.now, "repaired", cause=kind if fixed is not False
                        else f"{kind}, fault left", unit=f"node{node}")
        self._return_to_pool(node)
        self._serve()
        self._log_state()

    # -- bookkeeping ----------------------------------------------------------------------
    def downtime_until(self, end_s: float) -> list[tuple[int, float, float]]:
        """Every down interval, those still open closed at ``end_s``."""
        still = [(node, since, end_s) for node, since in sorted(self._down_since.items())]
        return self.downtime + still

    def _log_state(self) -> None:
        entry = (self.env.now, self._busy, self._down_count, len(self._spare), len(self._idle))
        if self.state_log and self.state_log[-1][0] == entry[0]:
            self.state_log[-1] = entry
        else:
            self.state_log.append(entry)
