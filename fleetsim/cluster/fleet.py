"""The fleet's nodes: who holds which GPUs, the spare pool, failures taking nodes down, repair.

Node life cycle::

    free/spare --allocate--> held by jobs --release--> free (or spare, to refill the pool)
         \\________________________ failure ________________________/
                                     v
                                   down --repair--> (waiting replacements, else spare pool,
                                                      else free)

* Who gets free GPUs first is the scheduler's decision (:mod:`fleetsim.scheduler`): it places
  a job and calls :meth:`Fleet.allocate` with the GPUs it chose. The fleet only keeps the
  books: which holder has how many GPUs on which node (a job of a node or more holds whole
  nodes; a smaller job holds some GPUs of one node, which other small jobs may share), and the
  free GPUs indexed for placement (:class:`~fleetsim.cluster.capacity.Capacity`).
* The hot spares are reserved for failover and never given to the scheduler.
* Replacements after a failure (:meth:`Fleet.request_replacements`) come before any new start:
  from the spare pool first, then the free whole nodes (the holder's own network domain
  first); a job smaller than a node is re-placed on the fullest node that still fits it. A
  holder waiting for replacements keeps the healthy GPUs it holds and is topped up as nodes
  return, first come, first served.
* Repair: a constant time, or a pipeline (automatic, escalated to manual with a probability;
  a repair may leave the fault in place, and the node then fails ``bad_factor`` times faster
  until a later repair fixes it). A fraction of nodes may be inherently bad (always faster).
* When GPUs may have become free (a release, a repair) the fleet serves the waiting
  replacements, then calls every ``on_capacity`` listener (the scheduler runs a pass).

The fleet logs GPU counts per state at every change (``state_log``) and integrates each
holder's GPU-seconds, from which utilization, the timeseries and the fleet's GPU-second
accounting are computed exactly. Asked to (``log_nodes``, for power per rack), it also logs
every change of the GPUs a holder has on a node (``node_log``).
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterable, Protocol, Sequence

import numpy as np
import simpy

from fleetsim.cluster.capacity import Capacity
from fleetsim.engine.events import EventLog
from fleetsim.faults.clock import Failure
from fleetsim.scenario.faults import BadNodes, RepairPipeline
from fleetsim.scenario.stragglers import SlowNodesSpec

#: (node, GPUs) granted to a holder
Grant = tuple[int, int]


class NodeHolder(Protocol):
    """What the fleet needs of a job (or anything holding GPUs)."""

    name: str
    nodes_required: int  # nodes it needs to run
    gpus_per_node_required: int  # GPUs on each: the node's count, or fewer on one node

    def on_node_failure(self, failure: Failure) -> None: ...

    def on_silent_corruption(self, failure: Failure) -> None: ...

    def on_allocation_changed(self, gpus: int) -> None: ...


class _Request:
    __slots__ = ("holder", "event")

    def __init__(self, holder: NodeHolder, event: simpy.Event) -> None:
        self.holder, self.event = holder, event


class Fleet:
    """Node states, GPUs held by jobs, spare pool and repair, for one cluster."""

    def __init__(self, env: simpy.Environment, nodes: int, gpus_per_node: int, spares: int,
                 repair: float | RepairPipeline, log: EventLog, *,
                 rng: np.random.Generator | None = None, bad_nodes: BadNodes | None = None,
                 localities: Sequence[tuple] | None = None, log_nodes: bool = False) -> None:
        self.env = env
        self.nodes = nodes
        self.gpus_per_node = gpus_per_node
        self.total_gpus = nodes * gpus_per_node
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
        self.capacity = Capacity(gpus_per_node, localities or [()] * nodes)
        self._holders: list[dict[NodeHolder, int]] = [{} for _ in range(nodes)]
        self._held: dict[NodeHolder, dict[int, int]] = {}  # holder -> {node: GPUs} (ordered)
        self._held_gpus: dict[NodeHolder, int] = {}
        self._down: list[bool] = [False] * nodes
        self._spare: deque[int] = deque(range(nodes - spares, nodes))
        for node in range(nodes - spares):
            self.capacity.add(node, gpus_per_node)
        self._waiting: deque[_Request] = deque()
        #: called (no arguments) whenever GPUs may have become free
        self.on_capacity: list[Callable[[], None]] = []
        #: called with the holder whenever a holder's allocation changes (a power cap)
        self.on_holding: list[Callable[[NodeHolder], None]] = []
        self.failures = 0
        self.failures_by_cause: dict[str, int] = {}
        self.repairs = 0
        #: (time_s, busy, down, spare, idle) GPU counts after every change
        self.state_log: list[tuple[float, int, int, int, int]] = []
        #: (time_s, holder name, GPUs it holds now) after every change of a holder's
        #: allocation (the power model's per-job step functions)
        self.holding_log: list[tuple[float, str, int]] = []
        #: (time_s, node, holder name, GPUs it holds on that node now) after every change of
        #: a holder's GPUs on a node; None unless ``log_nodes`` (power per rack)
        self.node_log: list[tuple[float, int, str, int]] | None = [] if log_nodes else None
        #: GPU-seconds each holder (by name) has held so far
        self.gpu_seconds: dict[str, float] = {}
        self._since: dict[NodeHolder, float] = {}
        self._busy = 0
        self._down_count = 0
        self._log_state()

    # -- queries --------------------------------------------------------------------------
    def held(self, holder: NodeHolder) -> list[int]:
        """The healthy nodes ``holder`` holds GPUs on, in the order it got them."""
        return list(self._held.get(holder, ()))

    def held_count(self, holder: NodeHolder) -> int:
        """How many healthy nodes ``holder`` holds GPUs on (O(1))."""
        return len(self._held.get(holder, ()))

    def held_gpus(self, holder: NodeHolder) -> int:
        """How many GPUs ``holder`` holds (O(1))."""
        return self._held_gpus.get(holder, 0)

    def grants(self, holder: NodeHolder) -> list[Grant]:
        """``(node, GPUs)`` of everything ``holder`` holds, in the order it got them."""
        return list(self._held.get(holder, {}).items())

    @property
    def usable_gpus(self) -> int:
        """GPUs outside the spare pool's target (what jobs can be given at most)."""
        return (self.nodes - self.spare_target) * self.gpus_per_node

    # -- allocation -----------------------------------------------------------------------
    def allocate(self, holder: NodeHolder, grants: Iterable[Grant]) -> None:
        """Give ``holder`` these free GPUs now (the scheduler chose them)."""
        for node, gpus in grants:
            if self._down[node]:
                raise ValueError(f"node {node} is down")
            self.capacity.take(node, gpus)
            self._give(holder, node, gpus)
        self._log_state()

    def request_replacements(self, holder: NodeHolder) -> simpy.Event:
        """An event that succeeds once ``holder`` holds ``nodes_required`` healthy nodes of
        ``gpus_per_node_required`` GPUs again (replacements come before new starts)."""
        event = self.env.event()
        self._held.setdefault(holder, {})
        self._waiting.append(_Request(holder, event))
        if self._serve():
            self._log_state()
        return event

    def release(self, holder: NodeHolder, nodes: Iterable[int] | None = None) -> None:
        """Return what ``holder`` holds (every node, or just ``nodes``) to the pools; releasing
        everything also drops its pending replacement requests (an elastic job may finish
        before its replacements arrive)."""
        held = self._held.get(holder, {})
        chosen = list(held) if nodes is None else [node for node in nodes if node in held]
        if nodes is None:
            self._waiting = deque(request for request in self._waiting
                                  if request.holder is not holder)
        self._account(holder)
        for node in chosen:
            gpus = held.pop(node)
            del self._holders[node][holder]
            self._log_node(node, holder, 0)
            self._busy -= gpus
            self._held_gpus[holder] -= gpus
            self._return_gpus(node, gpus)
        if nodes is None:
            self._held.pop(holder, None)
            self._since.pop(holder, None)
            self._held_gpus.pop(holder, None)
        if chosen:
            self._notify(holder, self._held_gpus.get(holder, 0))
        self._serve()
        self._log_state()
        self._capacity_changed()

    def _serve(self) -> bool:
        """Serve waiting replacement requests, first come first served; True if any GPU
        changed hands."""
        changed = False
        for request in list(self._waiting):
            holder = request.holder
            held = self._held[holder]
            per_node = holder.gpus_per_node_required
            missing = holder.nodes_required - len(held)
            while missing > 0:
                grant = self._replacement(holder, per_node)
                if grant is None:
                    break
                node, gpus = grant
                self._give(holder, node, gpus)
                self.log.record(self.env.now, "replaced", job=holder.name, unit=f"node{node}")
                missing -= 1
                changed = True
            if missing <= 0:
                self._waiting.remove(request)
                request.event.succeed()
        return changed

    def _replacement(self, holder: NodeHolder, per_node: int) -> Grant | None:
        """One node for ``holder``: a spare, else a free whole node (near its other nodes),
        else for a job smaller than a node the fullest node that fits it."""
        capacity = self.capacity
        if per_node < self.gpus_per_node:
            for free in range(per_node, self.gpus_per_node):
                for node in capacity.partial[free]:
                    capacity.take(node, per_node)
                    return node, per_node
        if self._spare:
            node = self._spare.popleft()
            if per_node < self.gpus_per_node:  # the rest of the spare becomes free capacity
                capacity.add(node, self.gpus_per_node - per_node)
            return node, per_node
        if capacity.whole_count:
            near = [capacity.locality[node] for node in self._held.get(holder, ())]
            for key in near + list(capacity.whole):
                members = capacity.whole.get(key)
                if members:
                    node = next(iter(members))
                    capacity.take(node, per_node)
                    return node, per_node
        return None

    def _give(self, holder: NodeHolder, node: int, gpus: int) -> None:
        self._account(holder)
        self._holders[node][holder] = gpus
        self._held.setdefault(holder, {})[node] = gpus
        self._log_node(node, holder, gpus)
        self._held_gpus[holder] = self._held_gpus.get(holder, 0) + gpus
        self._busy += gpus
        self._notify(holder, self._held_gpus[holder])

    def _log_node(self, node: int, holder: NodeHolder, gpus: int) -> None:
        """Log that ``holder`` now holds ``gpus`` on ``node`` (when asked to)."""
        if self.node_log is not None:
            self.node_log.append((self.env.now, node, holder.name, gpus))

    def _notify(self, holder: NodeHolder, gpus: int) -> None:
        """Log ``holder``'s new GPU count and tell it."""
        self.holding_log.append((self.env.now, holder.name, gpus))
        holder.on_allocation_changed(gpus)
        for listener in self.on_holding:
            listener(holder)

    def _account(self, holder: NodeHolder) -> None:
        """Credit ``holder``'s GPU-seconds up to now (before its allocation changes)."""
        now = self.env.now
        since = self._since.get(holder)
        if since is not None:
            self.gpu_seconds[holder.name] = (self.gpu_seconds.get(holder.name, 0.0)
                                             + (now - since) * self._held_gpus.get(holder, 0))
        else:
            self.gpu_seconds.setdefault(holder.name, 0.0)
        self._since[holder] = now

    def _return_gpus(self, node: int, gpus: int) -> None:
        """``gpus`` of an up node are no longer held: to the spare pool if the node is now
        wholly free and the pool is short, else to the free capacity."""
        if self._down[node]:
            return
        if (not self._holders[node] and len(self._spare) < self.spare_target
                and self.capacity.free[node] + gpus == self.gpus_per_node):
            self.capacity.drop(node)
            self._spare.append(node)
        else:
            self.capacity.add(node, gpus)

    def _capacity_changed(self) -> None:
        for listener in self.on_capacity:
            listener()

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

    def slow_nodes_of(self, holder: NodeHolder) -> list[int]:
        """The slow nodes ``holder`` holds now (sorted; O(slow nodes), not O(job size))."""
        return sorted(node for node in self._slow if holder in self._holders[node])

    def evict(self, holder: NodeHolder, node: int) -> None:
        """Take slow ``node`` out of ``holder`` (to repair, which clears it); the job drains
        and restarts on a replacement."""
        if holder not in self._holders[node] or self._down[node]:
            return
        self.evictions += 1
        self.log.record(self.env.now, "eviction", job=holder.name, cause="straggler",
                        unit=f"node{node}")
        others = [other for other in self._holders[node] if other is not holder]
        self._take_down(node)
        self._log_state()
        eviction = Failure(self.env.now, "straggler_eviction", "node", (node,), f"node{node}",
                           planned=True)
        holder.on_node_failure(eviction)
        for other in others:  # jobs sharing the node lose it too
            other.on_node_failure(eviction)

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
            for holder in self._holders[node]:
                if holder not in holders:
                    holders.append(holder)
        if not up or (failure.scope == "job" and not holders):
            return False
        if failure.silent:
            return self._corrupt(failure, up, holders)
        self._count_failure(failure, holders)
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

    def _count_failure(self, failure: Failure, holders: list[NodeHolder]) -> None:
        self.failures += 1
        self.failures_by_cause[failure.cause] = self.failures_by_cause.get(failure.cause, 0) + 1
        self.log.record(failure.time_s, "failure", job=",".join(h.name for h in holders),
                        cause=failure.cause, unit=failure.unit)

    def _corrupt(self, failure: Failure, up: list[int], holders: list[NodeHolder]) -> bool:
        """Silent data corruption: nothing stops now; the holding job is told, and at the
        detection time the node goes to repair and the job rolls back."""
        self._count_failure(failure, holders)
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
        holders = self._holders[node]
        for holder, gpus in list(holders.items()):
            self._account(holder)
            del self._held[holder][node]
            self._log_node(node, holder, 0)
            self._held_gpus[holder] -= gpus
            self._busy -= gpus
            self._notify(holder, self._held_gpus[holder])
        holders.clear()
        if node in self._spare:
            self._spare.remove(node)
        else:
            self.capacity.drop(node)
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
        self._return_gpus(node, self.gpus_per_node)
        self._serve()
        self._log_state()
        self._capacity_changed()

    # -- bookkeeping ----------------------------------------------------------------------
    def downtime_until(self, end_s: float) -> list[tuple[int, float, float]]:
        """Every down interval, those still open closed at ``end_s``."""
        still = [(node, since, end_s) for node, since in sorted(self._down_since.items())]
        return self.downtime + still

    def close(self) -> None:
        """End of run: credit every holder's GPU-seconds up to now."""
        for holder in list(self._since):
            self._account(holder)

    def _log_state(self) -> None:
        per_node = self.gpus_per_node
        down = self._down_count * per_node
        spare = len(self._spare) * per_node
        entry = (self.env.now, self._busy, down, spare,
                 self.total_gpus - self._busy - down - spare)
        if self.state_log and self.state_log[-1][0] == entry[0]:
            self.state_log[-1] = entry
        else:
            self.state_log.append(entry)
