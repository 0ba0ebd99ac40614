"""One serving replica as one SimPy process: a request queue, a batching policy, a KV cache.

(The policies live in ``batching.py``, the fused-decode machinery in ``fused.py``, the
records in ``records.py``, the abstract queueing mode in ``queueing.py``; this docstring
describes how they fit together.)

A :class:`Replica` runs a model through a :class:`~fleetsim.serving.cost.ServingCost`; its
batching policy (registered by name in :data:`POLICIES`) decides, each time the replica is
free, what the next unit of work is: a :class:`~fleetsim.serving.records.Work` (one timeout,
then ``done()``), a :class:`~fleetsim.serving.fused.Segment` of fused decode iterations,
a deadline, or nothing (sleep until woken). A :class:`QueueingReplica` is the abstract mode
for queueing labs: ``servers`` identical FCFS servers with a service-time distribution, no
model.

Policies (YAML name: what it does, after whom):

* ``none``: one request at a time, to completion.
* ``static``: wait for ``batch_size`` requests, run them to completion together (early
  finishers wait for the longest: FasterTransformer-style request-level batching, Orca §2).
* ``dynamic``: start a batch at ``max_batch_size`` requests or when the oldest has waited
  ``max_queue_delay_s`` (Triton's dynamic batcher), then run it to completion.
* ``continuous``: iteration-level scheduling (Orca, OSDI'22; vLLM, SOSP'23): before each
  iteration admit waiting requests whose prompt fits in free KV blocks and prefill them (a
  prefill-only iteration, as vLLM v0); otherwise decode one token for every running request.
  When a decode needs a block and none is free, the newest running request is preempted
  (recompute: its blocks are freed, it returns to the head of the queue, and later re-prefills
  its prompt plus the tokens it had generated).
* ``chunked-prefill``: Sarathi-Serve (OSDI'24): every iteration carries all running decodes
  plus prompt chunks up to ``token_budget`` tokens in total.

Iteration-level policies take ``draft_tokens``/``acceptance`` for speculative decoding (the
replica then needs ``draft_cost``) and ``fuse`` (default on).

Events ("segments, not steps", DESIGN.md): a request-level batch is one timeout whose length
is the vectorised sum of its iteration times. Iteration-level policies fuse (``fused.py``):
decoding requests sit in the replica's :class:`~fleetsim.serving.fused.DecodeBatch`, which
advances them lazily (per run of iterations, whatever its length: a heap operation per
finish and a scan of the 16 block residues, not a visit to every request); while nothing is
prefilling and the queue's head cannot be admitted, the iterations up to the batch's next
finish or block shortage are one timeout whose length is a closed form
(:class:`~fleetsim.serving.fused.DecodeRun`). An arrival (``submit``/``wake``) that could be
admitted interrupts the segment, which then ends with the iteration in progress, so
admission happens at the next iteration boundary exactly as when stepping. Events are then
O(arrivals + finishes + iterations with prefill work + block shortages), not O(iterations).
The iterations with prefill work and those short of blocks (preemption) are stepped one at a
time, exactly.

Request-level policies reserve KV for the maximum length per request (the model's context,
or ``reserve_tokens``; at least prompt + output, at most the cache), as pre-vLLM systems do
(vLLM §2.3). A request whose prompt +
output can never fit the cache is rejected at submission (``rejected = True``).

A queue may be shared by several replicas (``waiting=``; requests wait in one FIFO and go to
the first replica with room at an iteration boundary). Such a queue changes without telling
a replica (others take its head or return preempted requests), so a replica on a shared
queue fuses only while it could admit no request at all, and otherwise steps.

Records: each :class:`Request` keeps arrival, start (first scheduled), first token, finish,
token counts and preemptions; :class:`IterationLog` keeps per unit of work its start time,
duration, batch size, number of model iterations it stands for, and KV utilisation at its
start. A replica that fails is stopped (:meth:`Replica.stop`): it hands back the requests
it held.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Callable

import numpy as np
import simpy

from fleetsim.serving.batching import BatchingPolicy, make_policy
from fleetsim.serving.cost import ServingCost
from fleetsim.serving.fused import DecodeBatch, IterationClock, Segment
from fleetsim.serving.power import ReplicaPower
from fleetsim.serving.records import IterationLog, Request, ServingError, Work


class Replica:
    """A model replica: a FIFO queue, running requests, a paged KV cache, one SimPy process.

    ``waiting``: a queue shared with other replicas (they and the caller append to it; call
    :meth:`wake` after appending); default: the replica's own. ``draft_cost``: the draft
    model of speculative decoding on the same accelerators. ``on_finish(request)`` is called
    when a request produces its last token.
    """

    def __init__(self, env: simpy.Environment, cost: ServingCost,
                 policy: BatchingPolicy | str = "continuous", name: str = "replica0", *,
                 waiting: deque[Request] | None = None, draft_cost: ServingCost | None = None,
                 on_finish: Callable[[Request], None] | None = None,
                 **policy_params) -> None:
        self.env = env
        self.cost = cost
        self.draft_cost = draft_cost
        self.policy = make_policy(policy, **policy_params) if isinstance(policy, str) else policy
        self.name = name
        self.total_blocks = self.policy.kv_blocks(cost, draft_cost)
        self.free_blocks = self.total_blocks
        self.shared = waiting is not None
        self.waiting: deque[Request] = waiting if waiting is not None else deque()
        self._running: list[Request] = []  # admission order; finished ones leave lazily
        self._finished_running = 0  # finished requests still in _running
        self.prefilling: list[Request] = []  # chunked prefill on the fused path, running order
        self.decoding = DecodeBatch(cost.block_tokens)
        self.clock = IterationClock(cost)
        self.requests: list[Request] = []
        self.iterations = IterationLog()
        self.on_finish = on_finish
        self._queued_blocks = 0  # prefill blocks of the requests in the own queue
        self._wake: simpy.Event | None = None
        self._segment: Segment | None = None
        self._started = False
        self._stopped = False
        self.process = env.process(self._run())

    # -- the interface ------------------------------------------------------------------------
    def submit(self, request: Request) -> None:
        """A request arrives now (rejected if its prompt + output can never fit the cache)."""
        if self._stopped:
            raise ServingError(f"replica {self.name} has stopped")
        request.replica = self.name
        self.requests.append(request)
        if not self.fits(request):
            request.rejected = True
            return
        self.waiting.append(request)
        if not self.shared:
            self._queued_blocks += self._prefill_blocks(request)
        self.wake()

    def fits(self, request: Request) -> bool:
        """Could ``request``'s prompt + output ever fit this replica's KV cache?"""
        blocks = -(-(request.prompt_tokens + request.output_tokens) // self.cost.block_tokens)
        return blocks <= self.total_blocks

    def wake(self) -> None:
        """The queue may hold an admissible request: a sleeping replica looks again; a fused
        segment is cut after the iteration in progress if the queue's head could be admitted
        then."""
        if self._stopped:
            return
        if self._wake is not None:
            if not self._wake.triggered:
                self._wake.succeed()
            return
        segment = self._segment
        if segment is None or segment.cut or segment.iterations == 1:
            return  # a one-iteration segment ends at the next boundary anyway
        n = segment.begun(self.env.now)
        if n < segment.iterations and self.policy.admits_after(self, segment, n):
            segment.cut = n
            self.process.interrupt(n)

    def stop(self) -> list[Request]:
        """The replica fails now: its process ends (no pending ``done()`` runs), its blocks
        are freed, the last logged unit is cut at now, and the unfinished requests it held
        (running, and its own queue unless shared) are returned with their scheduler state
        reset; their records are left as they are. The replica is dead afterwards."""
        if self._stopped:
            return []
        self._stopped = True
        now = self.env.now
        log = self.iterations
        if log.start_s and log.start_s[-1] + log.duration_s[-1] > now:
            segment = self._segment
            iterations = segment.begun(now) if segment is not None else log.iterations[-1]
            log.truncate_last(now - log.start_s[-1], iterations)
        self.decoding.release()
        lost = list(self.running)
        if not self.shared:
            lost.extend(self.waiting)
            self.waiting.clear()
        for request in lost:
            request.generated = request.computed = request.prefill_target = request.blocks = 0
            request.carry = 0.0
        self.running = []
        self.prefilling = []
        self._segment = None
        self.free_blocks = self.total_blocks
        self._queued_blocks = 0
        if self._started and self.process.is_alive and self.env.active_process is not self.process:
            self.process.interrupt(None)
        return lost

    @property
    def outstanding(self) -> int:
        """Unfinished requests submitted here: queued (own queue only) and running."""
        return self.running_count + (0 if self.shared else len(self.waiting))

    @property
    def kv_load(self) -> float:
        """(KV blocks held + blocks the own queue's requests need for their prefill) / total.
        Inside a fused segment the blocks of the iterations begun by now count as held."""
        free = self.free_blocks
        segment = self._segment
        if segment is not None:
            free = segment.free_blocks - self.decoding.needed(segment.begun(self.env.now))
        return (self.total_blocks - free + self._queued_blocks) / max(1, self.total_blocks)

    @property
    def busy_s(self) -> float:
        """Seconds of logged work units up to now (the unit in progress counts to now)."""
        log = self.iterations
        if not log.start_s:
            return 0.0
        ahead = log.start_s[-1] + log.duration_s[-1] - self.env.now
        return math.fsum(log.duration_s) - max(0.0, ahead)

    def busy_j(self, power: ReplicaPower) -> float:
        """Joules one of the replica's accelerators drew computing, up to now: each logged
        unit at its compute share's draw (the unit in progress counts to now)."""
        log = self.iterations
        if not log.start_s:
            return 0.0
        durations = np.asarray(log.duration_s, float)
        durations[-1] = min(durations[-1], max(0.0, self.env.now - log.start_s[-1]))
        return power.busy_j(durations, log.compute_share)

    # -- for the policies ---------------------------------------------------------------------
    @property
    def running(self) -> list[Request]:
        """The running requests, in admission order (the newest last)."""
        if self._finished_running:
            self._compact()
        return self._running

    @running.setter
    def running(self, requests: list[Request]) -> None:
        self._running = requests
        self._finished_running = 0

    @property
    def running_count(self) -> int:
        """``len(running)``, without tidying the list."""
        return len(self._running) - self._finished_running

    def join(self, request: Request) -> None:
        """``request`` starts running (admitted)."""
        self._running.append(request)

    def _compact(self) -> None:
        self._running[:] = [r for r in self._running if math.isnan(r.finish_s)]
        self._finished_running = 0

    def dequeue(self) -> Request:
        """Take the queue's head (from a shared queue, the request is now this replica's)."""
        request = self.waiting.popleft()
        if self.shared:
            request.replica = self.name
        else:
            self._queued_blocks -= self._prefill_blocks(request)
        return request

    def preempt(self, request: Request) -> None:
        """Evict a running request (recompute): free its blocks, put it at the queue's head."""
        self.running.remove(request)
        self.free_blocks += request.blocks
        request.blocks = 0
        request.computed = 0
        request.preemptions += 1
        self.waiting.appendleft(request)
        if not self.shared:
            self._queued_blocks += self._prefill_blocks(request)

    def finish(self, finished: list[Request]) -> None:
        """These requests produced their last token now: free their blocks, drop them from
        ``running``, report them to ``on_finish``. (They leave the list lazily: it is
        tidied when read, or when half of it has finished, so a finish costs O(1)
        amortised instead of a search.)"""
        now = self.env.now
        for request in finished:
            request.finish_s = now
            self.free_blocks += request.blocks
            request.blocks = 0
        self._finished_running += len(finished)
        if 2 * self._finished_running > len(self._running):
            self._compact()
        if self.on_finish is not None:
            for request in finished:
                self.on_finish(request)

    def _prefill_blocks(self, request: Request) -> int:
        return -(-(request.prompt_tokens + request.generated) // self.cost.block_tokens)

    # -- the process --------------------------------------------------------------------------
    def _run(self):
        self._started = True
        env = self.env
        try:
            while not self._stopped:
                plan = self.policy.schedule(self)
                if isinstance(plan, Work):
                    yield env.timeout(plan.duration_s)
                    plan.done()
                elif isinstance(plan, Segment):
                    self._segment = plan
                    n = plan.iterations
                    end = env.timeout(plan.duration_s)
                    while True:
                        try:
                            yield end
                            break
                        except simpy.Interrupt as interrupt:  # a cut (from wake) or stop()
                            if self._stopped:
                                raise
                            n = interrupt.cause
                            end = env.timeout(max(0.0, plan.end_s(n) - env.now))
                    self._segment = None
                    plan.done(n)
                else:
                    self._wake = env.event()
                    if plan is None:
                        yield self._wake
                    else:
                        yield self._wake | env.timeout(max(0.0, plan - env.now))
                    self._wake = None
        except simpy.Interrupt:  # stop()
            return
