"""A serving job: replicas on fleet nodes behind a router, losing replicas to failures.

Life cycle (one SimPy process for the job's arrivals, one per replica)::

    get nodes -> replicas up (warm) -> arrivals routed to replicas ... -> last arrival -> drain
                      ^                                                            |
                      +-- node failure: replica stops; at detection its requests are re-sent,
                          replacement nodes requested, model reloaded, replica up again

* A replica occupies ``tp * pp`` GPUs: several replicas share a node when they fit, a large
  replica spans whole nodes. A failed node stops every replica on it (a ``job``-scoped
  failure, a software crash, restarts them without losing the node).
* Between the failure and its detection the replica looks healthy: the router may still send
  it requests, which hang with those it held. At detection all of them are re-sent (a
  request's ``retries`` grows; beyond the job's retry budget it is ``dropped``); a re-sent
  request starts over (its latency counts from its first arrival, so it misses SLOs).
* The replica returns after its nodes are replaced and its weights are loaded again (a
  fixed time, or bytes through the cluster's shared storage, which checkpoints also use).
* The job stops admitting after its last arrival (``requests: N`` or the horizon) and
  completes when every admitted request has finished or been dropped (drained).
* Autoscaling (``autoscale``, serving/autoscale.py): the job runs ``target`` replicas,
  between ``min`` and ``max``. Scaling up asks the scheduler for the nodes the new replicas
  need (served before queued starts; a preemptive policy may preempt for them) and loads the
  model there (cold start); scaling down removes the highest replicas: each stops taking
  requests, finishes those it holds (with a shared queue it hands them back instead), and the
  nodes no remaining replica uses go back to the fleet.
* Energy: each replica's GPUs draw, while the replica computes, a power that follows how
  compute-bound each unit of work is (near TDP for a prefill, well below for a memory-bound
  decode), clipped at a power cap (serving/power.py); their idle power while the replica is
  up but idle or loading. That is the GPU-only ``gpu_energy_j``; the job's ``energy`` block
  (fleetsim/power/energy.py) adds the host's share and gives it per request and per output
  token.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Union

import numpy as np
import pandas as pd
import simpy

from fleetsim.cluster import Fleet
from fleetsim.cluster.storage import SharedStorage
from fleetsim.engine import EventLog
from fleetsim.faults.clock import Failure
from fleetsim.scenario.serving import ServingJobSpec
from fleetsim.serving.arrivals import ClosedLoop
from fleetsim.serving.autoscale import Autoscaler
from fleetsim.serving.metrics import request_table, summarize_table
from fleetsim.serving.power import ReplicaPower
from fleetsim.serving.queueing import QueueingReplica
from fleetsim.serving.records import Request, make_requests
from fleetsim.serving.replica import Replica
from fleetsim.serving.router import make_router
from fleetsim.serving.setup import ServingSetup

AnyReplica = Union[Replica, QueueingReplica]

UP, FAILED, DOWN, LOADING, DRAINING = "up", "failed", "down", "loading", "draining"


class ServingJob:
    """One serving job's state, its replicas and its arrival process."""

    type = "serving"

    def __init__(self, env: simpy.Environment, spec: ServingJobSpec, fleet: Fleet,
                 log: EventLog, *, setup: ServingSetup, power: ReplicaPower,
                 gpus_per_node: int, rng_arrivals: np.random.Generator,
                 rng_routing: np.random.Generator, rng_service: np.random.Generator,
                 horizon_s: float | None, storage: SharedStorage | None = None,
                 submit_s: float | None = None) -> None:
        self.env = env
        self.spec = spec
        self.name = spec.name
        self.fleet = fleet
        self.log = log
        self.setup = setup
        self.power = power
        self.storage = storage
        self.rng_service = rng_service
        self.gpus_per_node = gpus_per_node
        self.nodes_required = math.ceil(spec.gpus / gpus_per_node)
        self.gpus_per_node_required = gpus_per_node  # replicas tile whole nodes
        self.submit_s = env.now if submit_s is None else submit_s
        self.gpus = self.nodes_required * gpus_per_node
        self.priority = spec.priority
        self.team = spec.team
        self.preemptible = False  # a service is scaled, not preempted
        self.estimate_s = self.remaining_estimate_s = math.inf
        self.expected_end_s = math.inf
        self.last_start_s: float | None = None
        self.listener = None
        self._started = env.event()
        per_replica = spec.gpus_per_replica
        #: replicas the job may run at most (autoscale.max), and runs now
        capacity = max(spec.replicas, spec.autoscale.max) if spec.autoscale else spec.replicas
        self.target = spec.replicas
        if per_replica <= gpus_per_node:
            share = gpus_per_node // per_replica
            self.replica_slots = [(i // share,) for i in range(capacity)]
        else:
            span = per_replica // gpus_per_node
            self.replica_slots = [tuple(range(i * span, (i + 1) * span))
                                  for i in range(capacity)]
        self.router = make_router(spec.router, rng_routing)
        self.shared: deque[Request] | None = deque() if self.router.shared else None
        times, prompts, outputs = setup.requests(rng_arrivals, horizon_s, spec.requests)
        self.requests = make_requests(times, prompts, outputs)
        count = len(self.requests)
        #: when the last request arrives, counted from the job's start (closed loop: unknown
        #: before the run, 0 here)
        self.last_arrival_s = float(times[-1]) if count else 0.0
        self.closed = setup.arrival if isinstance(setup.arrival, ClosedLoop) else None
        self._issued = 0  # closed loop: requests sent by the clients so far
        self._thinking = 0  # closed loop: clients between a response and their next request
        self.retries = np.zeros(count, dtype=np.int64)
        self.dropped = np.zeros(count, dtype=bool)
        self.slots: list[int | None] = []
        self.replicas: list[AnyReplica | None] = [None] * capacity
        self.state = [DOWN] * capacity
        self._generation = [0] * capacity  # invalidates a stale load when bumped
        self._loads: list[simpy.Event | None] = [None] * capacity
        self._hung: list[list[Request]] = [[] for _ in range(capacity)]
        self._up_since = [0.0] * capacity
        self._draining: dict[int, None] = {}  # replicas removed, finishing their requests
        #: (time_s, replicas) at every change of the target, from the start
        self.target_log: list[tuple[float, int]] = []
        self._pending: deque[Request] = deque()  # no replica up to route to
        #: what the router may choose from: replicas up and failures not yet detected
        self._routable: list[AnyReplica | _Failed] = []
        self._incarnations: list[AnyReplica] = []  # every replica object ever started
        #: (time_s, replica, state) at every change of a replica's state
        self.replica_log: list[tuple[float, int, str]] = []
        self._node_request: simpy.Event | None = None
        self._in_system = 0
        self._arrivals_done = False
        self._drained = env.event()
        self.started_s: float | None = None
        self.completed = False
        self.replica_failures = 0
        self.replica_restarts = 0
        self.up_s = 0.0  # replica-seconds up
        self.energy_j = 0.0  # of replica incarnations that ended
        self.load_s: list[float] = []
        self.process = env.process(self._run())

    # -- the job's process ------------------------------------------------------------------
    # -- called by the scheduler and the fleet -------------------------------------------------
    def start(self) -> None:
        """The scheduler has allocated the job's nodes: bring the replicas up."""
        self.last_start_s = self.env.now
        self._started.succeed()

    def preempt(self, mode: str = "checkpoint", reason: str = "") -> bool:
        """A service is not preempted (it scales down instead)."""
        return False

    def on_allocation_changed(self, gpus: int) -> None:
        """The fleet integrates the service's GPU-seconds itself."""

    @property
    def attained_gpu_s(self) -> float:
        return self.fleet.gpu_seconds.get(self.name, 0.0)

    def _run(self):
        env = self.env
        yield self._started
        self.started_s = env.now
        self.slots = list(self.fleet.held(self))
        self.log.record(env.now, "job_start", job=self.name)
        self.target_log.append((env.now, self.target))
        for index in range(self.target):
            self._start_replica(index)
        if self.spec.autoscale is not None:
            env.process(Autoscaler(self, self.spec.autoscale).run())
        origin = env.now
        if self.closed is not None:
            for _ in range(min(self.closed.concurrency, len(self.requests))):
                self._issue()
            self._check_drained()
            yield self._drained
            self.completed = True
            self.fleet.release(self)
            self.log.record(env.now, "job_complete", job=self.name)
            return
        for request in self.requests:  # arrival times count from the job's start
            request.arrival_s += origin
            delay = request.arrival_s - env.now
            if delay > 0:
                yield env.timeout(delay)
            self._in_system += 1
            self._route(request)
        self._arrivals_done = True
        self._check_drained()
        yield self._drained
        self.completed = True
        self.fleet.release(self)
        self.log.record(env.now, "job_complete", job=self.name)
        if self.listener is not None:
            self.listener.on_finished(self)

    def _issue(self) -> None:
        """Closed loop: a client sends the next request now."""
        request = self.requests[self._issued]
        self._issued += 1
        request.arrival_s = self.env.now
        self.last_arrival_s = self.env.now - (self.started_s or 0.0)
        self._in_system += 1
        if self._issued == len(self.requests):
            self._arrivals_done = True
        self._route(request)

    def _left(self) -> None:
        """A request left the system (finished, dropped or rejected): in a closed loop its
        client sends the next one after its think time (an event, so never from inside a
        replica's bookkeeping)."""
        self._in_system -= 1
        closed = self.closed
        if closed is not None and self._issued + self._thinking < len(self.requests):
            self._thinking += 1
            self.env.timeout(closed.think_s).callbacks.append(self._think_over)
        self._check_drained()

    def _think_over(self, _event) -> None:
        self._thinking -= 1
        if not self.completed:
            self._issue()

    def _route(self, request: Request) -> None:
        if self.shared is not None:
            if not self._incarnations[0].fits(request):  # replicas are alike
                request.rejected = True
                self._left()
                return
            self.shared.append(request)
            for index, replica in enumerate(self.replicas):
                if replica is not None and self.state[index] == UP:
                    replica.wake()
            return
        routable = self._routable
        if not routable:
            self._pending.append(request)
            return
        target = routable[0] if len(routable) == 1 else self.router.choose(routable)
        if isinstance(target, _Failed):  # looks healthy until the failure is detected
            target.hung.append(request)
            return
        target.submit(request)
        if request.rejected:
            self._left()

    def _finished(self, request: Request) -> None:
        """A replica finished ``request``."""
        self._left()
        if self._draining:  # not from inside the replica's own bookkeeping
            self.env.timeout(0.0).callbacks.append(lambda _event: self._check_draining())

    # -- autoscaling --------------------------------------------------------------------------
    @property
    def arrivals_done(self) -> bool:
        return self._arrivals_done

    @property
    def in_system(self) -> int:
        """Requests admitted and not yet finished or dropped."""
        return self._in_system

    def serving_replicas(self) -> list[AnyReplica]:
        """The replicas in service now."""
        return [replica for replica, state in zip(self.replicas, self.state)
                if state == UP and replica is not None]

    def nodes_for(self, replicas: int) -> int:
        """Nodes ``replicas`` replicas occupy."""
        if replicas <= 0:
            return 0
        return max(self.replica_slots[replicas - 1]) + 1

    def scale_to(self, replicas: int) -> None:
        """Run ``replicas`` replicas from now on (module docstring)."""
        current, now = self.target, self.env.now
        if replicas == current or self.completed:
            return
        self.log.record(now, "scaled", job=self.name, cause=f"{current} -> {replicas} replicas")
        self.target = replicas
        self.target_log.append((now, replicas))
        if replicas > current:
            for index in range(current, replicas):
                if index in self._draining:  # still finishing its requests: keep it
                    del self._draining[index]
                    self._set_state(index, UP)
            nodes = self.nodes_for(replicas)
            if nodes > len(self.slots):
                self.slots.extend([None] * (nodes - len(self.slots)))
                self._set_nodes(nodes)
                self._request_nodes()
            for index in range(current, replicas):
                if self.state[index] == DOWN and all(
                        self.slots[slot] is not None for slot in self.replica_slots[index]):
                    self._load(index)
            return
        for index in range(replicas, current):
            self._remove(index)
        self._release_unused()

    def _set_nodes(self, nodes: int) -> None:
        self.nodes_required = nodes
        self.gpus = nodes * self.gpus_per_node

    def _remove(self, index: int) -> None:
        """Replica ``index`` leaves the service: it drains (or hands its requests back)."""
        state = self.state[index]
        self._generation[index] += 1  # a load in flight is void
        if state == LOADING:
            load = self._loads[index]
            if load is not None and self.storage is not None and self.setup.load_s is None:
                self.storage.cancel(load)
            self._loads[index] = None
            self._set_state(index, DOWN)
        elif state == UP:
            replica = self.replicas[index]
            assert replica is not None
            if self.shared is not None or replica.outstanding == 0:
                handed_back = self._stop(index)
                self._set_state(index, DOWN)
                if handed_back and self.shared is not None:  # ahead of the queue, in order
                    self.shared.extendleft(reversed(handed_back))
                    for other in self._routable:
                        if not isinstance(other, _Failed):
                            other.wake()
            else:
                self._set_state(index, DRAINING)
                self._draining[index] = None

    def _check_draining(self) -> None:
        done = [index for index in self._draining
                if (replica := self.replicas[index]) is None or replica.outstanding == 0]
        for index in done:
            del self._draining[index]
            self._stop(index)
            self._set_state(index, DOWN)
        if done:
            self._release_unused()

    def _release_unused(self) -> None:
        """Return the nodes no replica in service (or draining) needs any more."""
        keep = self.nodes_for(max([self.target, *(index + 1 for index in self._draining)]))
        if keep >= len(self.slots):
            return
        unused = [node for node in self.slots[keep:] if node is not None]
        self.slots = self.slots[:keep]
        self._set_nodes(keep)
        if unused:
            self.fleet.release(self, unused)

    def _check_drained(self) -> None:
        if self._arrivals_done and self._in_system == 0 and not self._drained.triggered:
            self._drained.succeed()

    # -- replicas ---------------------------------------------------------------------------
    def _start_replica(self, index: int) -> None:
        env, spec, setup = self.env, self.spec, self.setup
        name = f"{self.name}.r{index}"
        if setup.cost is None:
            assert spec.service is not None
            replica: AnyReplica = QueueingReplica(
                env, self.rng_service, spec.service.mean, spec.service.distribution,
                spec.servers, name, waiting=self.shared, on_finish=self._finished)
        else:
            replica = Replica(env, setup.cost, spec.batching.policy, name, waiting=self.shared,
                              draft_cost=setup.draft_cost, on_finish=self._finished,
                              **setup.policy_params)
        self.replicas[index] = replica
        self._incarnations.append(replica)
        self._set_state(index, UP)
        self._up_since[index] = env.now
        if self.shared is not None:
            replica.wake()
        else:
            while self._pending:
                self._route(self._pending.popleft())

    def _set_state(self, index: int, state: str) -> None:
        self.state[index] = state
        self.replica_log.append((self.env.now, index, state))
        routable: list[AnyReplica | _Failed] = []
        for i, current in enumerate(self.state):
            replica = self.replicas[i]
            if current == UP and replica is not None:
                routable.append(replica)
            elif current == FAILED:
                routable.append(_Failed(self._hung[i]))
        self._routable = routable

    def _replicas_on(self, nodes: tuple[int, ...]) -> list[int]:
        slots = {slot for slot, node in enumerate(self.slots) if node in nodes}
        return [index for index, used in enumerate(self.replica_slots)
                if slots.intersection(used)]

    def on_node_failure(self, failure: Failure) -> None:
        """Nodes this job holds failed: their replicas stop; at detection their requests are
        re-sent and replacements requested (a ``job``-scoped failure keeps the nodes)."""
        hit = [i for i in self._replicas_on(failure.nodes) if self.state[i] != FAILED
               and (i < self.target or self.state[i] != DOWN)]
        for index in hit:
            self._draining.pop(index, None)
        if failure.scope != "job":
            self.slots = [None if node in failure.nodes else node for node in self.slots]
        if not hit:
            return
        for index in hit:
            self._generation[index] += 1
            load = self._loads[index]
            if load is not None and self.storage is not None and self.setup.load_s is None:
                self.storage.cancel(load)
            lost = self._stop(index)
            self._hung[index].extend(lost)
            self._set_state(index, FAILED)
            self.replica_failures += 1
            self.log.record(self.env.now, "replica_down", job=self.name, cause=failure.cause,
                            unit=f"replica{index}")
        self.env.timeout(failure.detection_s).callbacks.append(
            lambda _event: self._detected(hit, failure))

    def on_silent_corruption(self, failure: Failure) -> None:
        """Silent corruption on a serving node: wrong answers, not lost time; nothing to do
        until detection, when its node goes to repair through :meth:`on_node_failure`."""

    def _stop(self, index: int) -> list[Request]:
        replica = self.replicas[index]
        if replica is None or self.state[index] not in (UP, DRAINING):
            return []
        lost = replica.stop()
        now = self.env.now
        self._account(replica, now - self._up_since[index])
        return lost

    def _account(self, replica: AnyReplica, up_s: float) -> None:
        """Add a replica's ``up_s`` seconds up and its GPUs' energy over them: its work at
        its draw (:meth:`Replica.busy_j`), the rest of the time idle."""
        self.up_s += up_s
        busy_s = replica.busy_s
        busy = min(busy_s, up_s)
        busy_j = replica.busy_j(self.power) * (busy / busy_s) if busy_s > 0 else 0.0
        self.energy_j += self._energy(busy_j, up_s - busy)

    def _energy(self, busy_j: float, idle_s: float) -> float:
        """Joules of the replica's GPUs: ``busy_j`` per GPU computing, ``idle_s`` idle."""
        return self.spec.gpus_per_replica * (busy_j + self.power.idle_w * idle_s)

    def _detected(self, indices: list[int], failure: Failure) -> None:
        self.log.record(self.env.now, "detected", job=self.name, cause=failure.cause,
                        unit=",".join(f"replica{i}" for i in indices))
        retry: list[Request] = []
        for index in indices:
            if self.state[index] != FAILED:
                continue
            retry.extend(self._hung[index])
            self._hung[index] = []
            self._set_state(index, DOWN)
        for request in sorted(retry, key=lambda r: (r.arrival_s, r.id)):
            self._retry(request)
        if self.completed:
            return
        if failure.scope == "job":
            for index in indices:
                if index < self.target:
                    self._load(index)
        else:
            self._request_nodes()

    def _retry(self, request: Request) -> None:
        if request.done:
            return
        self.retries[request.id] += 1
        if self.retries[request.id] > self.spec.retries:
            self.dropped[request.id] = True
            self._left()
            return
        request.start_s = request.first_token_s = math.nan
        self._route(request)

    def _request_nodes(self) -> None:
        """Ask for the nodes the job lacks (replacements, or growth: through the scheduler,
        which may preempt for it)."""
        if self._node_request is not None and not self._node_request.triggered:
            return
        grow = getattr(self.listener, "grow", None)
        self._node_request = grow(self) if grow is not None else \
            self.fleet.request_replacements(self)
        self._node_request.callbacks.append(lambda _event: self._replaced())

    def _replaced(self) -> None:
        """Replacement nodes arrived: fill the empty slots, reload the replicas there."""
        if self.completed:
            return
        new = [node for node in self.fleet.held(self) if node not in self.slots]
        self.slots = [node if node is not None else new.pop(0) for node in self.slots]
        for index, state in enumerate(self.state[:self.target]):
            if state == DOWN:
                self._load(index)

    def _load(self, index: int) -> None:
        """Load the weights on replica ``index``, then bring it up."""
        self._set_state(index, LOADING)
        generation = self._generation[index]
        started = self.env.now
        if self.setup.load_s is None:
            assert self.storage is not None
            event = self.storage.transfer(self.setup.load_bytes)
        else:
            event = self.env.timeout(self.setup.load_s)
        self._loads[index] = event

        def loaded(_event) -> None:
            if self._generation[index] != generation or self.completed:
                return
            self._loads[index] = None
            duration = self.env.now - started
            self.load_s.append(duration)
            self.energy_j += self._energy(0.0, duration)
            self.replica_restarts += 1
            self._start_replica(index)
            self.log.record(self.env.now, "replica_up", job=self.name,
                            unit=f"replica{index}")
        event.callbacks.append(loaded)

    def failure_free_s(self) -> float:
        """An upper estimate of the job's failure-free duration, for the run limit: the last
        arrival (0 for a closed loop, whose arrivals follow the responses) plus every
        request served alone, one after another, spread over the replicas (batching only
        shortens that), plus the closed-loop clients' think times. Each request alone costs
        its prefill plus ``output - 1`` decode iterations at its mean context
        (:meth:`ServingCost.iteration_time`, vectorised); abstract mode: the mean service
        time per request over ``replicas x servers``."""
        spec, cost = self.spec, self.setup.cost
        count = len(self.requests)
        if count == 0:
            return self.last_arrival_s
        if cost is None:
            assert spec.service is not None
            work = count * spec.service.mean / spec.servers
        else:
            prompts = np.array([r.prompt_tokens for r in self.requests], float)
            outputs = np.array([r.output_tokens for r in self.requests], float)
            prefill = cost.iteration_time(prompts, prompts * (prompts + 1) / 2, 1.0, 0.0)
            context = prompts + outputs / 2
            decode = cost.iteration_time(1.0, context + 1, 1.0, context)
            work = float(np.sum(prefill + (outputs - 1) * decode))
            if self.setup.draft_cost is not None:  # a speculative draft runs alongside
                work *= 2
        think = (count * self.closed.think_s / self.closed.concurrency
                 if self.closed is not None else 0.0)
        return self.last_arrival_s + work / spec.replicas + think

    # -- results ------------------------------------------------------------------------------
    def close(self, now: float) -> None:
        """End of run at ``now``: account for the replicas still up."""
        for index, state in enumerate(self.state):
            replica = self.replicas[index]
            if state in (UP, DRAINING) and replica is not None:
                self._account(replica, now - self._up_since[index])
                self._up_since[index] = now

    @property
    def slo(self) -> dict[str, float]:
        """The job's latency targets that are set (seconds)."""
        slo = self.spec.slo
        return {key: value for key, value in (("ttft", slo.ttft), ("tpot", slo.tpot))
                if value is not None}

    def phase_frame(self, end_s: float) -> pd.DataFrame:
        """Each replica's states as intervals (job column ``NAME/replicaI``): ``serving``,
        ``failed`` (not yet detected), ``down`` (waiting for nodes), ``loading``,
        ``draining`` (scaled down, finishing its requests)."""
        names = {UP: "serving", FAILED: "failed", DOWN: "down", LOADING: "loading",
                 DRAINING: "draining"}
        last: dict[int, tuple[float, str]] = {}
        rows = []
        ends = [(end_s, index, "") for index in sorted({i for _t, i, _s in self.replica_log})]
        for time_s, index, state in self.replica_log + ends:
            if index in last:
                start, previous = last[index]
                if time_s > start:
                    rows.append((f"{self.name}/replica{index}", names[previous], start, time_s))
            last[index] = (time_s, state)
        rows.sort(key=lambda row: (int(row[0].rsplit("replica", 1)[1]), row[2]))
        return pd.DataFrame.from_records(rows, columns=["job", "phase", "start_s", "end_s"])

    def _replica_seconds(self, end_s: float) -> float:
        """Replica-seconds the job meant to run (its target over time) up to ``end_s``."""
        times = [time for time, _replicas in self.target_log] + [end_s]
        return sum(replicas * (times[i + 1] - time)
                   for i, (time, replicas) in enumerate(self.target_log))

    @property
    def wall_s(self) -> float:
        return (self.env.now - self.started_s) if self.started_s is not None else 0.0

    def request_table(self) -> dict[str, np.ndarray]:
        """Per-request records (columns of :func:`fleetsim.serving.metrics.request_table`)."""
        if self.closed is not None:  # the requests the clients have sent
            n = self._issued
            return request_table(self.requests[:n], self.dropped[:n], self.retries[:n])
        return request_table(self.requests, self.dropped, self.retries)

    def iteration_logs(self) -> list:
        return [replica.iterations for replica in self._incarnations]

    def served(self) -> tuple[int, float]:
        """Requests finished and their output tokens, over the whole run (the energy's
        denominators: the energy covers the whole run too)."""
        table = self.request_table()
        finished = ~np.isnan(table["finish_s"])
        return int(finished.sum()), float(table["output_tokens"][finished].sum())

    def summary(self) -> dict:
        """This job's entry of ``summary.json`` (keys documented in docs/guides/outputs.md)."""
        spec = self.spec
        end_s = self.env.now
        slo = self.slo
        start = self.started_s if self.started_s is not None else end_s
        metrics = summarize_table(self.request_table(), self.iteration_logs(),
                                  warmup_s=start + spec.warmup, horizon_s=end_s,
                                  slo=slo or None)
        requests, tokens = self.served()
        wall = end_s - start if self.started_s is not None else 0.0
        summary = {
            "type": "serving",
            "wall_time_s": wall,
            "start_s": self.started_s,
            "completed": self.completed,
            "gpus": spec.gpus,
            "replicas": spec.replicas,
            "router": spec.router,
            "batching": spec.batching.policy if self.setup.cost is not None else "service",
            **metrics,
            "slo": slo,
            "replica_failures": self.replica_failures,
            "replica_restarts": self.replica_restarts,
            "availability": self.up_s / self._replica_seconds(end_s) if wall > 0 else None,
            "model_load_s": float(np.mean(self.load_s)) if self.load_s else
            self.setup.load_s,
            "gpu_energy_j": self.energy_j,
            "gpu_energy_per_output_token_j": self.energy_j / tokens if tokens else None,
        }
        if spec.autoscale is not None:
            changes = [after - before for (_t, before), (_u, after)
                       in zip(self.target_log, self.target_log[1:])]
            counts = [replicas for _time, replicas in self.target_log]
            summary["autoscale"] = {
                "scale_ups": sum(change > 0 for change in changes),
                "scale_downs": sum(change < 0 for change in changes),
                "replicas_mean": self._replica_seconds(end_s) / wall if wall > 0 else None,
                "replicas_min": min(counts, default=spec.replicas),
                "replicas_max": max(counts, default=spec.replicas)}
        if self.setup.cost is not None:
            cost = self.setup.cost
            summary["kv_capacity_tokens"] = cost.kv_capacity_tokens
            summary["kv_bytes_per_token"] = cost.kv_bytes_per_token
            summary["weight_bytes"] = cost.weight_bytes
        return summary



class _Failed:
    """A failed replica as the router sees it before detection: healthy, holding the requests
    that hang on it."""

    __slots__ = ("hung",)

    def __init__(self, hung: list[Request]) -> None:
        self.hung = hung

    @property
    def outstanding(self) -> int:
        return len(self.hung)

    @property
    def kv_load(self) -> float:
        return 0.0
