"""The scheduler: a queue of waiting jobs, a policy that orders them, a placement that picks
their GPUs, preemption, EASY backfill, and the fleet's queue statistics.

Passes, not polling: the scheduler runs a *pass* whenever something may let a job start (a
submission, a job finishing or yielding its GPUs, a node coming back from repair, a serving
job asking for more replicas); several such events at the same instant share one pass (a
zero-delay event). A pass walks the policy's candidates in order:

* a candidate that fits (:mod:`fleetsim.scheduler.placement`) and is admissible (quotas)
  starts: the fleet allocates its GPUs and the job runs;
* the first that does not fit is the *head*. A preemptive policy names the running jobs it may
  preempt; if preempting some of them would make room, they are asked to stop (they save
  or lose their work and yield their GPUs, and the head starts in the pass that follows).
  The victims are the first of the policy's order whose nodes make the head fit (a victim on
  a node that would not become usable for the head is spared). Until they have yielded, the
  nodes the head will take (its victims' nodes, and the free GPUs it counts on) are *held*:
  no job behind it in the pass may start on them, by backfill or otherwise, else the head
  would find its GPUs taken and preempt again, for ever at one instant.
  Otherwise a strict policy stops the pass here, unless EASY backfill is on: the head gets a
  reservation at the *shadow time* (when enough running jobs will have ended, by their
  estimates, for it to fit) and a later job may start now if it fits and either ends, by its
  estimate, before the shadow time or uses only the *extra* nodes the head will not need then
  (Mu'alem & Feitelson, TPDS 2001, section 2.2). At most ``backfill_depth`` jobs are tried
  per pass (Slurm's ``bf_max_job_test``).

Cost: a strict policy looks at its head only (O(log n) per start in the sorted queue); a
backfill pass is skipped when no waiting job's shape fits the free capacity, and the
reservation (a heap of the running jobs' estimated ends, popped until the head fits) is
computed once per change of the running set. A backfill walk reads the queue as it goes and
stops as soon as nothing more can start: every waiting shape (nodes, GPUs per node) either
does not fit what is left, or may only pass the head by ending before the shadow time and no
waiting job of that shape is that short (remaining estimates indexed per shape). When the
queue is longer than ``backfill_depth`` and holds such short jobs beyond the depth, the walk
reads up to ``backfill_depth`` jobs per pass: that bound is the knob
(``benchmarks/FLEET_RESULTS.md``).
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from typing import Any, Iterable

import numpy as np
import simpy
from sortedcontainers import SortedList

from fleetsim.cluster import Fleet
from fleetsim.engine import EventLog
from fleetsim.scenario.scheduling import SchedulerSpec
from fleetsim.scheduler.placement import PLACEMENTS, Grant
from fleetsim.scheduler.preemption import Preemption
from fleetsim.scheduler.policies import POLICIES, LeastAttainedService, SchedulingPolicy


class Scheduler(Preemption):
    """Decides when each job starts, on which GPUs, and whom to preempt."""

    def __init__(self, env: simpy.Environment, fleet: Fleet, spec: SchedulerSpec, *,
                 rng: np.random.Generator, log: EventLog) -> None:
        self.env = env
        self.fleet = fleet
        self.spec = spec
        self.log = log
        self.rng = rng
        self.policy = POLICIES.get(spec.policy)(spec, fleet.usable_gpus)
        self.placement = PLACEMENTS.get(spec.placement)()
        self.backfill = spec.backfill if spec.backfill is not None else self.policy.backfill
        self.running: dict[Any, None] = {}  # jobs holding GPUs, in start order
        self._vacating: set[Any] = set()  # preempted, still yielding their GPUs
        self._watches: dict[Any, int] = {}  # LAS: the current threshold watch of each job
        self._recheck_at: float | None = None  # a pass when a running job turns preemptible
        self._reclaiming: dict[Any, set[Any]] = {}  # blocked job -> the victims it waits for
        self._held: dict[Any, frozenset[int]] = {}  # blocked job -> the nodes it will take
        self._shapes: Counter[tuple[int, int]] = Counter()  # waiting (nodes, GPUs per node)
        #: the remaining estimates of the waiting jobs of each shape, shortest first
        self._estimates: dict[tuple[int, int], SortedList] = {}
        self._estimate_of: dict[Any, float] = {}
        self._waiting_gpus = 0
        self._pass_pending = False
        self._version = 0  # bumped whenever the running set changes
        self._reservation_cache: tuple[Any, int, tuple] | None = None
        #: the first reservation (shadow time) each job got as the blocked head (EASY)
        self.reserved_start: dict[str, float] = {}
        #: (time_s, waiting jobs, waiting GPUs, running jobs, fragmented GPUs) per change
        self.queue_log: list[tuple[float, int, int, int, int]] = [(env.now, 0, 0, 0, 0)]
        #: (time_s, job, grants) of every start, in order
        self.starts: list[tuple[float, str, list[Grant]]] = []
        self.submitted = 0
        self.preemptions = 0
        fleet.on_capacity.append(self.request_pass)

    # -- jobs come and go ---------------------------------------------------------------------
    def submit(self, job: Any) -> None:
        """``job`` joins the queue (now)."""
        job.listener = self
        self.submitted += 1
        self._enqueue(job)
        self.request_pass()

    def _enqueue(self, job: Any) -> None:
        self.policy.add(job)
        shape = (job.nodes_required, job.gpus_per_node_required)
        self._shapes[shape] += 1
        self._waiting_gpus += job.gpus
        estimate = self._estimate_of[job] = job.remaining_estimate_s  # fixed while it waits
        self._estimates.setdefault(shape, SortedList()).add(estimate)

    def _dequeue(self, job: Any) -> None:
        self.policy.remove(job)
        shape = (job.nodes_required, job.gpus_per_node_required)
        self._shapes[shape] -= 1
        self._estimates[shape].remove(self._estimate_of.pop(job))
        if not self._shapes[shape]:
            del self._shapes[shape]
            del self._estimates[shape]
        self._waiting_gpus -= job.gpus

    def on_finished(self, job: Any) -> None:
        """``job`` completed (its GPUs are already released)."""
        self._stopped(job)
        self.request_pass()

    def on_preempted(self, job: Any) -> None:
        """``job`` yielded its GPUs after a preemption: it queues again."""
        self._stopped(job)
        self._enqueue(job)
        self.request_pass()

    def _stopped(self, job: Any) -> None:
        self.running.pop(job, None)
        self._watches.pop(job, None)
        self._vacating.discard(job)
        self.policy.stopped(job)
        self._version += 1
        for waiting, victims in list(self._reclaiming.items()):
            victims.discard(job)
            if not victims:
                del self._reclaiming[waiting]
                del self._held[waiting]

    # -- passes -------------------------------------------------------------------------------
    def request_pass(self) -> None:
        """Run a pass at this instant, after the events already due (one per instant)."""
        if not self._pass_pending:
            self._pass_pending = True
            self.env.timeout(0.0).callbacks.append(self._pass)

    def _pass(self, _event: simpy.Event | None = None) -> None:
        self._pass_pending = False
        policy = self.policy
        if self.backfill or not policy.strict:
            if len(policy):
                self._walk(policy.candidates(self.spec.backfill_depth))
        else:  # strict: start heads until one does not fit
            while len(policy) and self._walk(policy.candidates(1)):
                pass
        self._record()

    def _walk(self, candidates: Iterable[Any]) -> bool:
        """Start what may start of ``candidates`` (in order); True if all of them started."""
        policy, capacity = self.policy, self.fleet.capacity
        head = None
        shadow, extra, protected = math.inf, 0, set()
        held: set[int] = set()  # nodes held for the reclaiming jobs seen so far in the pass
        unfit: set[tuple[int, int]] = set()  # shapes that do not fit (the pass only takes)
        dead: set[tuple[int, int]] = set()  # shapes only a job ending by the shadow may pass
        quotas = type(policy).admissible is not SchedulingPolicy.admissible
        estimate_of = self._estimate_of
        for job in candidates:
            if quotas and not policy.admissible(job):
                continue
            if self._reclaiming and job not in self._reclaiming and policy.borrows(job):
                continue
            if head is None or not self.backfill:
                grants = self._place(job, held)
                if grants is not None:
                    self._start(job, grants)
                    continue
                if policy.preemptive and job not in self._reclaiming and (
                        head is None or not policy.strict):
                    self._preempt_for(job)  # the head, or any blocked job of a lax policy
                if job in self._held:
                    held.update(self._held[job])  # no job behind it may take them
                if head is None:
                    head = job
                    if self.backfill:
                        if job.name not in self.reserved_start:
                            self.reserved_start[job.name] = self._reservation(job)[0]
                        if not self._anything_fits():
                            return False
                        shadow, extra, counted = self._reservation(job)
                        protected = set(counted)
                        continue
                if policy.strict:
                    return False
                continue
            # EASY backfill behind the blocked head
            if job in self._held:  # reclaiming, behind a head that came since: wait
                held.update(self._held[job])
                continue
            shape = (job.nodes_required, job.gpus_per_node_required)
            if shape in unfit:
                continue
            if not capacity.fits(*shape):
                unfit.add(shape)
                if self._nothing_left(head, shadow, extra, protected | held, unfit, dead):
                    break  # no waiting job can start any more
                continue
            if self.env.now + estimate_of[job] <= shadow:
                grants = self._place(job, held)  # ends before the head's reserved start
                if grants is not None:  # its nodes will be free again by then: keep them so
                    protected.update(node for node, _gpus in grants)
            else:
                grants = None
                if head.gpus_per_node_required < capacity.gpus_per_node:
                    pass  # a small head: only jobs that end in time may pass it
                elif job.gpus_per_node_required >= capacity.gpus_per_node:
                    if job.nodes_required <= extra:
                        grants = self._place(job, held)  # only nodes the head will not need
                        if grants is not None:
                            extra -= job.nodes_required
                else:
                    grants = self._place_beside(job, protected | held if held else protected)
                    if grants is None and extra >= 1:
                        grants = self._place(job, held)
                        if grants is not None:
                            extra -= 1
                if grants is None:
                    if shape not in dead and self._nothing_left(
                            head, shadow, extra, protected | held, unfit, dead):
                        break  # no waiting job can start any more
                    continue
            if grants is not None:
                self._start(job, grants)
        return head is None

    def _nothing_left(self, head: Any, shadow: float, extra: int, blocked: set[int],
                      unfit: set[tuple[int, int]], dead: set[tuple[int, int]]) -> bool:
        """Can no waiting job start in the rest of this backfill pass? True when every
        waiting shape either does not fit (``unfit``) or may only pass the head by ending
        before the shadow time (``dead``: updated here) and no waiting job of it is that
        short. Both only grow during a pass (it only takes GPUs and protects nodes), so the
        walk may stop: it would start nothing more. O(shapes) with the estimates indexed."""
        capacity = self.fleet.capacity
        size = capacity.gpus_per_node
        now = self.env.now
        nothing = True
        for shape in self._shapes:  # every shape is classified, so each is looked at once
            if shape in unfit:
                continue
            if shape not in dead:
                nodes, per_node = shape
                if head.gpus_per_node_required >= size:
                    if per_node >= size:
                        if nodes <= extra:
                            nothing = False
                            continue
                    elif extra >= 1 or any(node not in blocked
                                           for free in range(per_node, size)
                                           for node in capacity.partial[free]):
                        nothing = False
                        continue
                dead.add(shape)
            if nothing and now + self._estimates[shape][0] <= shadow:
                nothing = False
        return nothing

    def _place(self, job: Any, held: set[int] | frozenset[int] = frozenset()
               ) -> list[Grant] | None:
        return self.placement.place(self.fleet.capacity, job.nodes_required,
                                    job.gpus_per_node_required, self.rng, held)

    def _place_beside(self, job: Any, protected: set[int]) -> list[Grant] | None:
        """A small job on a node already in use that the head's reservation does not count
        on becoming whole (so it takes nothing the head needs), fullest first."""
        capacity = self.fleet.capacity
        for free in range(job.gpus_per_node_required, capacity.gpus_per_node):
            for node in capacity.partial[free]:
                if node not in protected:
                    return [(node, job.gpus_per_node_required)]
        return None

    def _anything_fits(self) -> bool:
        """Could any waiting job's shape be placed now (else backfill has nothing to try)?"""
        capacity = self.fleet.capacity
        largest = capacity.max_partial()
        for nodes, per_node in self._shapes:
            if per_node >= capacity.gpus_per_node:
                if nodes <= capacity.whole_count:
                    return True
            elif per_node <= largest:
                return True
        return False

    def _start(self, job: Any, grants: list[Grant]) -> None:
        self._dequeue(job)
        self._reclaiming.pop(job, None)
        self._held.pop(job, None)
        self.fleet.allocate(job, grants)
        self.starts.append((self.env.now, job.name, grants))
        self.running[job] = None
        self.policy.started(job)
        self._version += 1
        job.start()
        if isinstance(self.policy, LeastAttainedService):
            self._watch_attained(job)

    # -- EASY reservation -------------------------------------------------------------------
    def _reservation(self, head: Any) -> tuple[float, int, frozenset[int]]:
        """(shadow time, extra whole nodes, nodes counted on becoming whole by then) for the
        blocked ``head`` (module docstring)."""
        capacity = self.fleet.capacity
        state = (self._version, capacity.free_gpus, capacity.whole_count)
        cached = self._reservation_cache
        if (cached is not None and cached[0] is head and cached[1] == state
                and cached[2][0] >= self.env.now):  # a shadow time already past is stale
            return cached[2]
        fleet = self.fleet
        per_node = capacity.gpus_per_node
        now = self.env.now
        # running jobs by estimated end (ties: start order), taken from a heap as needed
        ends = [(max(now, job.expected_end_s), index, job)
                for index, job in enumerate(self.running)]
        heapq.heapify(ends)
        free: dict[int, int] = {}
        whole = capacity.whole_count
        best = capacity.max_partial()
        result: tuple[float, int, frozenset[int]] = (math.inf, 0, frozenset())
        multi = head.gpus_per_node_required >= per_node
        becoming: set[int] = set()
        while ends:
            end, _index, job = heapq.heappop(ends)
            for node, gpus in fleet.grants(job):
                before = free.get(node, capacity.free[node])
                free[node] = before + gpus
                if free[node] == per_node and before < per_node:
                    whole += 1
                    becoming.add(node)
                best = max(best, free[node])
            if multi and whole >= head.nodes_required:
                result = (end, whole - head.nodes_required, frozenset(becoming))
                break
            if not multi and best >= head.gpus_per_node_required:
                result = (end, 0, frozenset(free))
                break
        self._reservation_cache = (head, state, result)
        return result

    # -- statistics -------------------------------------------------------------------------
    def fragmented_gpus(self) -> int:
        """Free GPUs that no waiting job can use now (0 when nothing waits): whole free nodes
        are usable by a waiting small job, or by a waiting multi-node job that they are
        enough for; a partly free node only by a small job that fits its free GPUs."""
        if not self._shapes:
            return 0
        capacity = self.fleet.capacity
        per_node = capacity.gpus_per_node
        small = [gpus for _nodes, gpus in self._shapes if gpus < per_node]
        smallest = min(small) if small else per_node
        multi = [nodes for nodes, gpus in self._shapes if gpus >= per_node]
        usable = 0
        if small or (multi and min(multi) <= capacity.whole_count):
            usable += capacity.whole_count * per_node
        for free in range(smallest, per_node):
            usable += free * len(capacity.partial[free])
        return capacity.free_gpus - usable

    def _record(self) -> None:
        entry = (self.env.now, len(self.policy), self._waiting_gpus, len(self.running),
                 self.fragmented_gpus())
        if self.queue_log[-1][0] == entry[0]:
            self.queue_log[-1] = entry
        elif self.queue_log[-1][1:] != entry[1:]:
            self.queue_log.append(entry)

    @property
    def waiting(self) -> int:
        return len(self.policy)

    def jobs_waiting(self) -> Iterable[Any]:
        return iter(self.policy.waiting)
