"""One serving replica as one SimPy process: a request queue, a batching policy, a KV cache.

(The policies live in ``batching.py``, the records in ``records.py``, the abstract queueing
mode in ``queueing.py``; this docstring describes how they fit together.)

A :class:`Replica` runs a model through a :class:`~fleetsim.serving.cost.ServingCost`; its
batching policy (registered by name in :data:`POLICIES`) decides, each time the replica is
free, what the next unit of work is. Events are O(iterations) for iteration-level policies and
O(batches) for request-level ones (a whole batch is one timeout whose length is the vectorised
sum of its iteration times). A :class:`QueueingReplica` is the abstract mode for queueing labs:
``servers`` identical FCFS servers with a service-time distribution, no model.

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

Request-level policies reserve KV for ``prompt + output`` tokens per request up to the cache
capacity (pre-vLLM systems reserve the maximum length, vLLM §2.3). A request whose prompt +
output can never fit the cache is rejected at submission (``rejected = True``).

Records: each :class:`Request` keeps arrival, start (first scheduled), first token, finish,
token counts and preemptions; :class:`IterationLog` keeps per unit of work its start time,
duration, batch size, number of model iterations it stands for, and KV utilisation.
"""

from __future__ import annotations

from collections import deque

import simpy

from fleetsim.serving.batching import BatchingPolicy, make_policy
from fleetsim.serving.cost import ServingCost
from fleetsim.serving.records import IterationLog, Request, Work


class Replica:
    """A model replica: a FIFO queue, running requests, a paged KV cache, one SimPy process."""

    def __init__(self, env: simpy.Environment, cost: ServingCost,
                 policy: BatchingPolicy | str = "continuous", name: str = "replica0",
                 **policy_params) -> None:
        self.env = env
        self.cost = cost
        self.policy = make_policy(policy, **policy_params) if isinstance(policy, str) else policy
        self.name = name
        self.total_blocks = cost.kv_capacity_blocks
        self.free_blocks = self.total_blocks
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []
        self.requests: list[Request] = []
        self.iterations = IterationLog()
        self._wake: simpy.Event | None = None
        self.process = env.process(self._run())

    def submit(self, request: Request) -> None:
        """A request arrives now."""
        request.replica = self.name
        self.requests.append(request)
        blocks = -(-(request.prompt_tokens + request.output_tokens) // self.cost.block_tokens)
        if blocks > self.total_blocks:
            request.rejected = True
            return
        self.waiting.append(request)
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def preempt(self, request: Request) -> None:
        """Evict a running request (recompute): free its blocks, put it at the queue's head."""
        self.running.remove(request)
        self.free_blocks += request.blocks
        request.blocks = 0
        request.computed = 0
        request.preemptions += 1
        self.waiting.appendleft(request)

    def _run(self):
        env = self.env
        while True:
            plan = self.policy.schedule(self)
            if isinstance(plan, Work):
                yield env.timeout(plan.duration_s)
                plan.done()
                continue
            self._wake = env.event()
            if plan is None:
                yield self._wake
            else:
                yield self._wake | env.timeout(max(0.0, plan - env.now))
            self._wake = None
