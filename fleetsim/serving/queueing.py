"""Abstract serving mode for queueing labs: c FCFS servers with a service-time distribution.

No model and no batching: each request's service time is drawn from ``SERVICE_TIMES[name]``
with the given mean; the response is one unit (first token = finish). Validated against M/M/1,
M/D/1 (Pollaczek-Khinchine) and M/M/c (Erlang C) in ``tests/serving``.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Callable

import numpy as np
import simpy

from fleetsim.serving.power import ReplicaPower
from fleetsim.serving.records import IterationLog, Request, ServingError


#: Service-time distributions of the abstract mode: name -> (rng, mean_s, n) -> samples.
SERVICE_TIMES: dict[str, Callable[[np.random.Generator, float, int], np.ndarray]] = {
    "exponential": lambda rng, mean, n: rng.exponential(mean, n),
    "deterministic": lambda rng, mean, n: np.full(n, mean),
}


class QueueingReplica:
    """Abstract mode: ``servers`` FCFS servers, service time drawn per request, no model.

    The first token is the finish (a response is one unit). Service times are drawn in blocks
    from ``rng`` in order of service start. ``waiting`` given is a queue shared with other
    replicas (router ``shared-queue``): the caller appends to it and calls :meth:`wake`.
    ``on_finish(request)`` is called as each request finishes.
    """

    def __init__(self, env: simpy.Environment, rng: np.random.Generator, mean_service_s: float,
                 distribution: str = "exponential", servers: int = 1,
                 name: str = "replica0", *, waiting: deque[Request] | None = None,
                 on_finish: Callable[[Request], None] | None = None) -> None:
        if distribution not in SERVICE_TIMES:
            raise ServingError(f"unknown service-time distribution {distribution!r} "
                               f"(known: {', '.join(SERVICE_TIMES)})")
        if servers < 1 or not mean_service_s > 0:
            raise ServingError("servers must be >= 1 and mean_service_s > 0")
        self.env = env
        self.rng = rng
        self.mean_service_s = float(mean_service_s)
        self.distribution = distribution
        self.servers = int(servers)
        self.name = name
        self.shared = waiting is not None
        self.on_finish = on_finish
        self.waiting: deque[Request] = waiting if waiting is not None else deque()
        self.requests: list[Request] = []
        self.iterations = IterationLog()  # stays empty: no model iterations here
        self._busy: list[tuple[float, int, Request, float]] = []  # (end, id, request, start)
        self._served_s = 0.0  # service time of requests finished
        self._samples = np.empty(0)
        self._next_sample = 0
        self._wake: simpy.Event | None = None
        self.process = env.process(self._run())

    # -- the interface a serving job uses ---------------------------------------------------
    def submit(self, request: Request) -> None:
        request.replica = self.name
        self.requests.append(request)
        self.waiting.append(request)
        self.wake()

    def fits(self, request: Request) -> bool:
        """No KV cache to outgrow: every request fits."""
        return True

    def wake(self) -> None:
        """Requests may be waiting: look again now if idle."""
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def stop(self) -> list[Request]:
        """Fail now: the requests in service (and in an own queue) are returned unfinished."""
        if self.process.is_alive and self.env.active_process is not self.process:
            self.process.interrupt()
        now = self.env.now
        lost = [request for _end, _id, request, _start in sorted(self._busy)]
        self._served_s += sum(now - start for _end, _id, _request, start in self._busy)
        self._busy.clear()
        if not self.shared:
            lost.extend(self.waiting)
            self.waiting.clear()
        return lost

    @property
    def outstanding(self) -> int:
        """Requests in service, plus those in an own queue."""
        return len(self._busy) + (0 if self.shared else len(self.waiting))

    @property
    def kv_load(self) -> float:
        """No KV cache: outstanding requests per server."""
        return self.outstanding / self.servers

    @property
    def busy_s(self) -> float:
        """Server-seconds of service given up to now (divided by ``servers``: the replica's
        GPUs are busy while any share of them is)."""
        now = self.env.now
        running = sum(now - start for _end, _id, _request, start in self._busy)
        return (self._served_s + running) / self.servers

    def busy_j(self, power: ReplicaPower) -> float:
        """Joules one of the replica's accelerators drew serving, up to now: no cost model
        says how compute-bound the service is, so it draws the fully compute-bound power."""
        return self.busy_s * float(power.draw_w(1.0))

    # -- the process --------------------------------------------------------------------------
    def _service_time(self) -> float:
        if self._next_sample >= self._samples.size:
            self._samples = SERVICE_TIMES[self.distribution](self.rng, self.mean_service_s, 4096)
            self._next_sample = 0
        value = float(self._samples[self._next_sample])
        self._next_sample += 1
        return value

    def _run(self):
        env = self.env
        busy = self._busy
        try:
            while True:
                now = env.now
                while busy and busy[0][0] <= now:
                    end, _, request, start = heapq.heappop(busy)
                    self._served_s += end - start
                    request.finish_s = request.first_token_s = now
                    request.generated = request.output_tokens
                    if self.on_finish is not None:
                        self.on_finish(request)
                while self.waiting and len(busy) < self.servers:
                    request = self.waiting.popleft()
                    request.start_s = now
                    request.replica = self.name
                    heapq.heappush(busy, (now + self._service_time(), request.id, request, now))
                if len(busy) == self.servers:
                    yield env.timeout(busy[0][0] - now)
                    continue
                self._wake = env.event()
                if busy:
                    yield self._wake | env.timeout(busy[0][0] - now)
                else:
                    yield self._wake
                self._wake = None
        except simpy.Interrupt:
            return
