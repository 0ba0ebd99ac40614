"""Fused decode: the machinery that runs many decode iterations as one SimPy timeout.

Iteration-level policies (``batching.py``) advance decodes in one of two ways: the exact
path steps one iteration per event with every request's state materialised; the fused path
("segments, not steps", DESIGN.md) lets a stretch of decode iterations be one timeout.
This module holds the pieces of the fused path:

* :class:`IterationClock`: the cost model's iteration time as plain-float arithmetic.
  :meth:`~fleetsim.serving.cost.ServingCost.roofline` is affine in each token count, so its
  coefficients are read off once and the time of an iteration is a max of two affine
  terms (compute, memory) plus communication and overhead.
* :class:`DecodeRun`: the times of consecutive decode iterations of a constant batch in
  closed form. Compute and memory are affine in the iteration index and cross at most once,
  so the iterations split at the compute/memory crossover into two runs, each an
  arithmetic series; the iteration in progress at a given elapsed time is the root of a
  quadratic.
* :class:`DecodeBatch`: a replica's decoding requests, advanced lazily by a step counter
  (per run of iterations, whatever its length): per-request state is materialised only
  when a member finishes or leaves; finishes sit in a heap, and the KV blocks a run of
  iterations takes come from counting members per block residue class (``classes``: the
  ``block_tokens`` residues of the step at which a member's context crosses a block
  boundary), not from visiting every request.
* :class:`Segment`: fused decode iterations of the replica's whole decode batch, up to the
  batch's next finish or block shortage, logged as one unit. An arrival that makes the
  queue's head admissible cuts the segment at the end of the iteration in progress, so
  admission happens at the next iteration boundary exactly as when stepping.

Events are then O(arrivals + finishes + iterations with prefill work + block shortages),
not O(iterations). Records and decisions are those of the exact path (times to rounding).

``replica.py`` and ``batching.py`` import from here; this module imports neither at run
time (type hints only).
"""

from __future__ import annotations

import heapq
import math
from typing import TYPE_CHECKING

from fleetsim.serving.cost import ServingCost
from fleetsim.serving.records import Request

if TYPE_CHECKING:
    from fleetsim.serving.replica import Replica


# ------------------------------------------------------------------------- iteration times
class IterationClock:
    """The cost model's iteration time as plain-float arithmetic, for the fused path.

    :meth:`ServingCost.roofline` is affine in each token count (``cost.py``): linear compute =
    ``token_s * new + logit_s * sequences`` against the constant ``weights_s``; attention
    compute = ``pair_s * attended`` against ``kv_s * kv_tokens_read``; the iteration adds
    communication (a function of ``new``, zero at tp = 1) and the CPU overhead
    ``overhead_s + sequence_s * sequences``. The coefficients are read off the cost model
    once, by evaluating it at ``PROBE`` units of one count (a large probe, so rounding does
    not swamp the slopes), so the formula stays in one place. :meth:`time` agrees with
    :meth:`ServingCost.iteration_time` to rounding (a test checks 1e-12).
    """

    PROBE = 2.0 ** 40

    def __init__(self, cost: ServingCost) -> None:
        probe = self.PROBE
        base = cost.roofline(0.0, 0.0, 0.0, 0.0)
        self.token_s = cost.roofline(probe, 0.0, 0.0, 0.0).linear_compute_s / probe
        self.pair_s = cost.roofline(0.0, probe, 0.0, 0.0).attention_compute_s / probe
        per_sequence = cost.roofline(0.0, 0.0, probe, 0.0)
        self.logit_s = per_sequence.linear_compute_s / probe
        self.sequence_s = (per_sequence.overhead_s - base.overhead_s) / probe
        self.weights_s = float(base.weights_s)
        self.kv_s = cost.roofline(0.0, 0.0, 0.0, probe).kv_s / probe
        self.overhead_s = float(base.overhead_s)
        self._cost = cost
        self._communication: dict[int, float] = {}

    def communication(self, new_tokens: int) -> float:
        """TP all-reduce seconds of an iteration computing ``new_tokens`` (cached per count)."""
        if self._cost.tp == 1:
            return 0.0
        seconds = self._communication.get(new_tokens)
        if seconds is None:
            seconds = float(self._cost.roofline(new_tokens, 0, 0, 0).communication_s)
            self._communication[new_tokens] = seconds
        return seconds

    def linear(self, new_tokens: float, sequences: float) -> float:
        """Seconds of the linear layers: the larger of their FLOPs and the weight stream."""
        compute = self.token_s * new_tokens + self.logit_s * sequences
        return compute if compute > self.weights_s else self.weights_s

    def time(self, new_tokens: int, attended_pairs: int, sequences: int,
             kv_tokens_read: int) -> float:
        """Seconds of one iteration (the arguments of :meth:`ServingCost.roofline`)."""
        compute = self.pair_s * attended_pairs
        memory = self.kv_s * kv_tokens_read
        return (self.linear(new_tokens, sequences) + (compute if compute > memory else memory)
                + self.communication(new_tokens) + self.overhead_s
                + self.sequence_s * sequences)


    def compute_share(self, new_tokens: int, attended_pairs: int, sequences: int,
                      seconds: float) -> float:
        """Share of an iteration's device time its FLOPs take (:attr:`Roofline.compute_share`)
        given its ``seconds`` (from :meth:`time`)."""
        device = seconds - self.overhead_s - self.sequence_s * sequences
        compute = (self.token_s * new_tokens + self.logit_s * sequences
                   + self.pair_s * attended_pairs)
        return min(1.0, compute / device) if device > 0 else 0.0


class DecodeRun:
    """Times of consecutive decode iterations of ``batch`` sequences whose summed context is
    ``context`` at the first iteration and grows by ``batch`` per iteration.

    Iteration ``i`` (from 0) takes ``t_i = max(c0 + c1 i, m0 + m1 i) + fixed``: attention
    compute ``c0 = pair_s (C + B)``, ``c1 = pair_s B``; KV reads ``m0 = kv_s C``,
    ``m1 = kv_s B``; ``fixed`` = the linear layers of B tokens (constant while the batch is)
    + communication + CPU overhead. Two affine functions cross at most once, so the
    iterations split into a leading run where one side dominates and a trailing run where
    the other does; the time of the first ``n`` iterations is a sum of two arithmetic series,
    and the iteration in progress at a given elapsed time is the root of a quadratic
    (:meth:`count`).
    """

    __slots__ = ("first", "first_slope", "second", "second_slope", "split", "fixed")

    def __init__(self, clock: IterationClock, batch: int, context: int) -> None:
        self.fixed = (clock.linear(batch, batch) + clock.communication(batch)
                      + clock.overhead_s + clock.sequence_s * batch)
        compute = clock.pair_s * (context + batch), clock.pair_s * batch
        memory = clock.kv_s * context, clock.kv_s * batch
        # "first" dominates iteration 0; "second" overtakes it from iteration "split" on
        # (the first i with second(i) > first(i)), or never
        (self.first, self.first_slope), (self.second, self.second_slope) = (
            (compute, memory) if compute[0] >= memory[0] else (memory, compute))
        if self.second_slope > self.first_slope:
            self.split = math.floor((self.first - self.second)
                                    / (self.second_slope - self.first_slope)) + 1
        else:
            self.split = math.inf

    def elapsed(self, n: int) -> float:
        """Seconds of the first ``n`` iterations."""
        m = n if n < self.split else self.split
        total = n * self.fixed + m * self.first + self.first_slope * (m * (m - 1) / 2)
        if n > m:
            total += (n - m) * self.second + self.second_slope * ((n * (n - 1) - m * (m - 1))
                                                                   / 2)
        return total

    def count(self, elapsed_s: float) -> int:
        """The smallest ``n >= 1`` whose first ``n`` iterations take at least ``elapsed_s``:
        the iteration in progress ``elapsed_s`` after the first began."""
        split = self.split
        if split == math.inf or self.elapsed(split) >= elapsed_s:
            start, rest, base, slope = 0, elapsed_s, self.first + self.fixed, self.first_slope
        else:
            start, rest = split, elapsed_s - self.elapsed(split)
            base, slope = self.second + self.second_slope * split + self.fixed, \
                self.second_slope
        # slope/2 n^2 + (base - slope/2) n = rest, solved in the cancellation-free form
        b = base - slope / 2
        root = 2 * rest / (b + math.sqrt(b * b + 2 * slope * rest)) if rest > 0 else 0.0
        n = max(1, start + math.ceil(root))
        while n > 1 and self.elapsed(n - 1) >= elapsed_s:
            n -= 1
        while self.elapsed(n) < elapsed_s:
            n += 1
        return n


# ---------------------------------------------------------------------- lazy decode batch
class DecodeBatch:
    """A replica's decoding requests, advanced lazily by a step counter ``step``.

    A member entered at step ``r.decode_step`` with its ``computed``/``generated`` as then;
    after ``step - r.decode_step`` iterations (one token each) it has ``computed + d`` tokens
    in the cache and holds ``ceil(computed / block_tokens)`` blocks (the exact path keeps
    that invariant: it takes a block when a decode's slot crosses a block boundary). So:

    * ``context`` (summed cached tokens) grows by ``size`` per iteration;
    * a member needs a new block in the iteration from step ``s`` iff its context is a
      multiple of ``block_tokens`` then, i.e. iff ``s = decode_step - computed``
      (mod ``block_tokens``): ``classes`` counts members per residue, so the blocks the next
      ``k`` iterations take are ``size * (k // bt)`` plus a partial sum (:meth:`needed`);
    * a member finishes at step ``decode_step + output - generated`` (a heap).
    """

    __slots__ = ("block_tokens", "step", "size", "context", "classes", "_finishes",
                 "_members", "_order")

    #: heap keys are ``finish_step << ORDER_BITS | insertion count`` (ties break by insertion)
    ORDER_BITS = 32

    def __init__(self, block_tokens: int) -> None:
        self.block_tokens = block_tokens
        self.step = 0
        self.size = 0
        self.context = 0
        self.classes = [0] * block_tokens
        self._finishes: list[int] = []  # heap of keys
        self._members: dict[int, Request] = {}  # key -> member
        self._order = 0

    def add(self, request: Request) -> None:
        """A request past its prefill joins (its ``computed``/``generated`` are current)."""
        request.decode_step = self.step
        self.size += 1
        self.context += request.computed
        self.classes[(self.step - request.computed) % self.block_tokens] += 1
        finish = self.step + request.output_tokens - request.generated
        key = finish << self.ORDER_BITS | self._order
        heapq.heappush(self._finishes, key)
        self._members[key] = request
        self._order += 1

    def next_finish(self) -> int:
        """Iterations until the next member finishes (the batch is not empty)."""
        return (self._finishes[0] >> self.ORDER_BITS) - self.step

    def needed(self, k: int) -> int:
        """New KV blocks the next ``k`` iterations take."""
        size = self.block_tokens
        if k == 1:
            return self.classes[self.step % size]
        cycles, rest = divmod(k, size)
        total = cycles * self.size
        if rest:
            classes = self.classes
            start = self.step % size
            end = start + rest
            total += sum(classes[start:end]) if end <= size else (
                sum(classes[start:]) + sum(classes[:end - size]))
        return total

    def affordable(self, free_blocks: int) -> int:
        """The most iterations whose new blocks fit in ``free_blocks`` (batch not empty)."""
        cycles, rest = divmod(free_blocks, self.size)
        classes, step, size = self.classes, self.step, self.block_tokens
        j = 0
        while classes[(step + j) % size] <= rest:  # a whole cycle needs size > rest blocks
            rest -= classes[(step + j) % size]
            j += 1
        return cycles * size + j

    def advance(self, k: int) -> list[Request]:
        """``k`` iterations ran (``k <= next_finish()``); returns the members that finished,
        materialised and removed."""
        self.step += k
        self.context += self.size * k
        finished: list[Request] = []
        finishes, members = self._finishes, self._members
        due = (self.step + 1) << self.ORDER_BITS
        while finishes and finishes[0] < due:
            request = members.pop(heapq.heappop(finishes))
            self._remove(request)
            finished.append(request)
        return finished

    def release(self) -> list[Request]:
        """Materialise every member and empty the batch."""
        members = list(self._members.values())
        for request in members:
            self._remove(request)
        self._finishes = []
        self._members = {}
        return members

    def _remove(self, request: Request) -> None:
        self.classes[(request.decode_step - request.computed) % self.block_tokens] -= 1
        ran = self.step - request.decode_step
        request.computed += ran
        request.generated += ran
        request.blocks = -(-request.computed // self.block_tokens)
        request.decode_step = -1
        self.size -= 1
        self.context -= request.computed


# ------------------------------------------------------------------------------ segments
class Segment(DecodeRun):
    """Fused decode iterations of the replica's whole decode batch, from now.

    The segment runs ``iterations`` iterations (up to the batch's next finish or block
    shortage) and lasts ``duration_s``; their KV blocks are taken at its start and it is
    logged as one unit. If a wake-up makes the queue's head admissible, the replica cuts it
    at the end of the iteration in progress (``cut``); :meth:`done` then applies the
    iterations that ran: the batch advances, blocks of iterations not run return, the log
    entry is shortened, and the requests that produced their last token finish.
    """

    __slots__ = ("replica", "start_s", "iterations", "duration_s", "free_blocks", "cut")

    def __init__(self, replica: "Replica", iterations: int, blocks: int,
                 first_blocks: int) -> None:
        """``blocks``: the new KV blocks of all the iterations, ``first_blocks``: of the
        first."""
        batch = replica.decoding
        super().__init__(replica.clock, batch.size, batch.context)
        self.replica = replica
        self.start_s = now = replica.env.now
        self.iterations = iterations
        self.duration_s = duration = self.elapsed(iterations)
        self.free_blocks = free = replica.free_blocks  # before the segment
        self.cut = 0
        replica.free_blocks = free - blocks
        size, context = batch.size, batch.context
        replica.iterations.add(now, duration, size, iterations,
                               1 - (free - first_blocks) / max(1, replica.total_blocks),
                               replica.clock.compute_share(size, context + size, size,
                                                           self.first + self.fixed))

    def end_s(self, n: int) -> float:
        """When iteration ``n`` (from 1) ends."""
        return self.start_s + self.elapsed(n)

    def begun(self, now_s: float) -> int:
        """Iterations begun by ``now_s`` (the one in progress included)."""
        return min(self.iterations, self.count(now_s - self.start_s))

    def done(self, n: int) -> None:
        """The first ``n`` iterations ran."""
        replica = self.replica
        batch = replica.decoding
        if n < self.iterations:
            replica.free_blocks = self.free_blocks - batch.needed(n)
            replica.iterations.truncate_last(self.elapsed(n), n)
        finished = batch.advance(n)
        if finished:
            replica.finish(finished)
