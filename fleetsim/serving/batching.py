"""Batching policies of a serving replica, registered by name (see ``replica.py``'s docstring).

A policy's :meth:`BatchingPolicy.schedule` is called whenever the replica is free and returns
the next :class:`~fleetsim.serving.records.Work`, a :class:`~fleetsim.serving.fused.Segment`
of fused decode iterations, a time to look again, or ``None`` (sleep until an arrival).
Adding a policy is one class with ``@register_policy`` and one test.

Iteration times on the fused path come from :class:`~fleetsim.serving.fused.IterationClock`,
the cost model's roofline in closed form; :class:`~fleetsim.serving.fused.DecodeRun` sums a
run of decode iterations of a constant batch exactly, without visiting them one by one
(``fused.py`` holds that machinery).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import numpy as np

from fleetsim.registry import Registry, UnknownName
from fleetsim.serving.cost import (ServingCost, ServingCostError, speculative_compute_share,
                                   speculative_expected_tokens, speculative_iteration_time,
                                   speculative_kv_capacity_blocks)
from fleetsim.serving.fused import DecodeBatch, Segment
from fleetsim.serving.records import Request, ServingError, Work

if TYPE_CHECKING:
    from fleetsim.serving.replica import Replica


#: Batching policies by the name a scenario's ``batching.policy`` uses.
POLICIES: Registry[type["BatchingPolicy"]] = Registry("batching policy")
#: Class decorator: make a batching policy available under its ``name``.
register_policy = POLICIES.register


def make_policy(name: str, **params) -> "BatchingPolicy":
    """The batching policy registered as ``name`` with ``params``."""
    try:
        cls = POLICIES.get(name)
    except UnknownName as error:
        raise ServingError(str(error)) from None
    try:
        return cls(**params)
    except TypeError as error:
        raise ServingError(f"batching policy {name!r}: {error}") from None


# ------------------------------------------------------------------------------ policies
class BatchingPolicy(ABC):
    """Decides the replica's next unit of work.

    :meth:`schedule` returns a :class:`Work`, a :class:`Segment`, a time at which to look
    again (a deadline such as a queue-delay timeout), or ``None`` to sleep until an arrival.
    """

    name: str = ""

    @abstractmethod
    def schedule(self, replica: "Replica") -> Work | Segment | float | None:
        ...

    def kv_blocks(self, cost: ServingCost, draft_cost: ServingCost | None) -> int:
        """KV blocks of a replica running this policy on ``cost`` (``draft_cost``: a draft
        model, used by speculative decoding only)."""
        return cost.kv_capacity_blocks

    def admits_after(self, replica: "Replica", segment: Segment, n: int) -> bool:
        """Whether the queue's head would be admitted at the end of iteration ``n`` of
        ``segment`` (only iteration-level policies fuse)."""
        return False


class RequestLevel(BatchingPolicy):
    """Batches formed from the queue and run to completion as one timeout.

    KV reservation: a request-level system does not know how long an answer will be, so it
    reserves contiguous KV for the maximum sequence length when the request starts (vLLM
    paper §2.3 and §3: "reserved" and "internal fragmentation" waste): each request holds
    ``ceil(max(prompt + output, reserve_tokens) / block)`` blocks, ``reserve_tokens``
    defaulting to the model's context length (``seq_len``), capped at the whole cache. The
    cache therefore admits far fewer concurrent requests than paged, iteration-level
    policies, which hold only the blocks a sequence has filled.
    """

    def __init__(self, max_batch_size: int = 1, max_queue_delay_s: float = 0.0,
                 reserve_tokens: int | None = None) -> None:
        if max_batch_size < 1:
            raise ServingError(f"batch size must be >= 1, got {max_batch_size}")
        if max_queue_delay_s < 0:
            raise ServingError(f"max_queue_delay_s must be >= 0, got {max_queue_delay_s}")
        if reserve_tokens is not None and reserve_tokens < 1:
            raise ServingError(f"reserve_tokens must be >= 1, got {reserve_tokens}")
        self.max_batch_size = int(max_batch_size)
        self.max_queue_delay_s = float(max_queue_delay_s)
        self.reserve_tokens = reserve_tokens

    def reservation(self, replica: "Replica", request: Request) -> int:
        """KV blocks ``request`` holds while it runs (class docstring)."""
        cost = replica.cost
        reserve = self.reserve_tokens if self.reserve_tokens is not None else cost.arch.seq_len
        tokens = max(request.prompt_tokens + request.output_tokens, reserve)
        return min(-(-tokens // cost.block_tokens), max(replica.total_blocks, -(
            -(request.prompt_tokens + request.output_tokens) // cost.block_tokens)))

    def schedule(self, replica: "Replica") -> Work | float | None:
        waiting = replica.waiting
        if not waiting:
            return None
        now = replica.env.now
        if len(waiting) < self.max_batch_size:
            deadline = waiting[0].arrival_s + self.max_queue_delay_s
            if deadline > now:
                return deadline if math.isfinite(deadline) else None
        batch: list[Request] = []
        blocks = 0
        while waiting and len(batch) < self.max_batch_size:
            need = self.reservation(replica, waiting[0])
            if batch and blocks + need > replica.total_blocks:
                break
            request = replica.dequeue()
            request.blocks = need
            batch.append(request)
            blocks += need
        return self._run(replica, batch, blocks)

    @staticmethod
    def _run(replica: "Replica", batch: list[Request], blocks: int) -> Work:
        """The batch holds its KV reservation (``blocks``) and sits in ``running`` until
        done."""
        now = replica.env.now
        cost = replica.cost
        prompts = np.array([r.prompt_tokens for r in batch], float)
        outputs = np.array([r.output_tokens for r in batch])
        prefill = cost.prefill_roofline(prompts)
        prefill_s = float(prefill.total_s)
        steps = int(outputs.max()) - 1  # the prefill produces the first token
        decode_s = 0.0
        compute_s, device_s = float(prefill.compute_s), float(prefill.device_s)
        if steps > 0:
            # padded batch: every sequence stays until the longest finishes
            contexts = prompts.sum() + len(batch) * np.arange(steps, dtype=float)
            size = len(batch)
            decode = cost.roofline(size, contexts + size, size, contexts)
            decode_s = float(np.sum(decode.total_s * np.ones_like(contexts)))
            compute_s += float(np.sum(decode.compute_s * np.ones_like(contexts)))
            device_s += float(np.sum(decode.device_s * np.ones_like(contexts)))
        for request in batch:
            request.start_s = now
        for request in batch:
            replica.join(request)
        replica.free_blocks -= blocks
        duration = prefill_s + decode_s
        replica.iterations.add(now, duration, len(batch), steps + 1,
                               min(1.0, blocks / max(1, replica.total_blocks)),
                               min(1.0, compute_s / device_s) if device_s > 0 else 0.0)

        def done() -> None:
            for request in batch:
                request.first_token_s = now + prefill_s
                request.generated = request.output_tokens
            replica.finish(batch)
        return Work(duration, done)


@register_policy
class NoBatching(RequestLevel):
    """One request at a time."""

    name = "none"

    def __init__(self, reserve_tokens: int | None = None) -> None:
        super().__init__(1, 0.0, reserve_tokens)


@register_policy
class StaticBatching(RequestLevel):
    """Wait for a full batch of ``batch_size`` (forever, unless ``timeout_s`` is given)."""

    name = "static"

    def __init__(self, batch_size: int = 8, timeout_s: float = math.inf,
                 reserve_tokens: int | None = None) -> None:
        super().__init__(batch_size, timeout_s, reserve_tokens)


@register_policy
class DynamicBatching(RequestLevel):
    """Start at ``max_batch_size`` requests or after ``max_queue_delay_s`` of the oldest."""

    name = "dynamic"

    def __init__(self, max_batch_size: int = 8, max_queue_delay_s: float = 0.01,
                 reserve_tokens: int | None = None) -> None:
        super().__init__(max_batch_size, max_queue_delay_s, reserve_tokens)


class IterationLevel(BatchingPolicy):
    """Shared machinery of iteration-level policies: admission, KV blocks, preemption, and
    the two ways of advancing decodes.

    Exact path (:meth:`step`, one iteration per call, every request's state materialised):
    the reference semantics, used when ``fuse=False``, with speculative decoding, and on
    the fused path for an iteration in which the cache runs out of blocks.

    Fused path (``fuse=True``): decoding requests live in the replica's
    :class:`~fleetsim.serving.fused.DecodeBatch`. While no request is prefilling and the
    queue's head cannot be admitted, the batch is constant until its next finish or block
    shortage, and those iterations are one :class:`Segment`. Records and decisions are those
    of the exact path (times to rounding): a test checks them against the per-iteration
    implementation.

    Speculative decoding (``draft_tokens = k > 0``, Leviathan et al., ICML 2023): each decode
    iteration runs ``k`` draft decode iterations and one target pass verifying ``k + 1``
    tokens per decoding sequence (:func:`~fleetsim.serving.cost.speculative_iteration_time`);
    each decoding request gains the *expected* number of tokens per pass,
    ``E = (1 - a^(k+1)) / (1 - a)`` (eq. 1, ``a`` = ``acceptance``), deterministically: with
    ``carry`` the tokens expected so far, a pass yields ``floor(carry + E) - floor(carry)``
    tokens, at most what the request still needs. The replica needs a ``draft_cost`` (the
    draft on the same accelerators); its KV cache shrinks by the draft's weights and each
    token also holds the draft's KV. Speculative iterations take the exact path.
    """

    def __init__(self, max_batch_size: int = 256, token_budget: int = 8192,
                 watermark_fraction: float = 0.01, draft_tokens: int = 0,
                 acceptance: float = 0.7, fuse: bool = True) -> None:
        if max_batch_size < 1 or token_budget < 1:
            raise ServingError("max_batch_size and token_budget must be >= 1")
        if not 0 <= watermark_fraction < 1:
            raise ServingError(f"watermark_fraction must be in [0, 1), got {watermark_fraction}")
        try:
            expected = speculative_expected_tokens(acceptance, draft_tokens)
        except ServingCostError as error:
            raise ServingError(str(error)) from None
        self.max_batch_size = int(max_batch_size)
        self.token_budget = int(token_budget)
        self.watermark_fraction = float(watermark_fraction)
        self.draft_tokens = int(draft_tokens)
        self.acceptance = float(acceptance)
        self.expected_tokens = expected
        self.fuse = bool(fuse) and self.draft_tokens == 0

    def kv_blocks(self, cost: ServingCost, draft_cost: ServingCost | None) -> int:
        if self.draft_tokens == 0:
            return cost.kv_capacity_blocks
        if draft_cost is None:
            raise ServingError(f"speculative decoding (draft_tokens={self.draft_tokens}) "
                               "needs the replica's draft_cost")
        return speculative_kv_capacity_blocks(cost, draft_cost)

    def schedule(self, replica: "Replica") -> Work | Segment | None:
        if not self.fuse:
            return self.step(replica)
        return self.fused(replica)

    @abstractmethod
    def step(self, replica: "Replica") -> Work | None:
        """One iteration on the exact path."""

    @abstractmethod
    def fused(self, replica: "Replica") -> Work | Segment | None:
        """The next unit on the fused path."""

    # -- admission ----------------------------------------------------------------------------
    def admit(self, replica: "Replica", budget: int, whole: bool) -> list[Request]:
        """Move waiting requests (FIFO) to running while blocks for their prefill are free.

        ``whole``: the prompt must fit in ``budget`` tokens (except the first admitted);
        otherwise only a non-empty budget is required (chunks follow).
        """
        admitted: list[Request] = []
        waiting = replica.waiting
        size = replica.cost.block_tokens
        watermark = int(self.watermark_fraction * replica.total_blocks)
        while waiting and replica.running_count < self.max_batch_size and budget > 0:
            request = waiting[0]
            target = request.prompt_tokens + request.generated
            need = -(-target // size)
            reserve = watermark if replica.running_count else 0
            if need > replica.free_blocks - reserve:
                break
            if whole and admitted and target > budget:
                break
            replica.dequeue()
            request.prefill_target = target
            request.computed = 0
            request.blocks = need
            replica.free_blocks -= need
            replica.join(request)
            admitted.append(request)
            budget -= target if whole else min(target, budget)
        return admitted

    def admissible(self, replica: "Replica", free_blocks: int, budget: int) -> bool:
        """Whether :meth:`admit` would take the queue's head with ``free_blocks`` free and
        ``budget`` tokens left in the iteration (the replica has running requests)."""
        waiting = replica.waiting
        if not waiting or replica.running_count >= self.max_batch_size or budget <= 0:
            return False
        head = waiting[0]
        need = -(-(head.prompt_tokens + head.generated) // replica.cost.block_tokens)
        return need <= free_blocks - int(self.watermark_fraction * replica.total_blocks)

    # -- exact path ---------------------------------------------------------------------------
    def tokens(self, request: Request) -> int:
        """Tokens a decoding request produces in this iteration (1 without a draft)."""
        if self.draft_tokens == 0:
            return 1
        gain = math.floor(request.carry + self.expected_tokens) - math.floor(request.carry)
        return min(gain, request.output_tokens - request.generated)

    def decodes(self, replica: "Replica") -> list[tuple[Request, int]]:
        """Running requests past their prefill with the tokens each produces, each given KV
        slots for them; preempts the newest running requests when the cache is full."""
        running = replica.running
        size = replica.cost.block_tokens
        chosen: list[tuple[Request, int]] = []
        i = 0
        while i < len(running):
            request = running[i]
            if request.computed < request.prefill_target:
                i += 1
                continue
            n = self.tokens(request)
            need = -(-(request.computed + n) // size) - request.blocks
            if need > 0:
                while replica.free_blocks < need and running[-1] is not request:
                    replica.preempt(running[-1])
                if replica.free_blocks < need:
                    replica.preempt(request)
                    break
                replica.free_blocks -= need
                request.blocks += need
            chosen.append((request, n))
            i += 1
        return chosen

    def iteration(self, replica: "Replica", chunks: list[tuple[Request, int]],
                  decodes: list[tuple[Request, int]]) -> Work:
        """Work of one model iteration: ``n`` prompt tokens for each ``(request, n)`` of
        ``chunks``, and the tokens ``g`` for each ``(request, g)`` of ``decodes``."""
        now = replica.env.now
        new, attended, read, sequences = _prompt_work(chunks, now)
        if self.draft_tokens:
            context = sum(request.computed for request, _ in decodes)
            duration = speculative_iteration_time(
                replica.cost, replica.draft_cost, self.draft_tokens, len(decodes), context,
                (new, attended, sequences, read))
            share = speculative_compute_share(replica.cost, self.draft_tokens, len(decodes),
                                              context, (new, attended, sequences, read))
        else:
            for request, _ in decodes:
                c = request.computed
                new += 1
                attended += c + 1
                read += c
                sequences += 1
            roofline = replica.cost.roofline(new, attended, sequences, read)
            duration, share = float(roofline.total_s), float(roofline.compute_share)
        replica.iterations.add(now, duration, len(chunks) + len(decodes), 1,
                               1 - replica.free_blocks / max(1, replica.total_blocks), share)
        expected = self.expected_tokens if self.draft_tokens else 0.0

        def done() -> None:
            end = replica.env.now
            finished: list[Request] = []
            for request, g in decodes:
                request.computed += g
                request.generated += g
                request.carry += expected
                if request.generated >= request.output_tokens:
                    finished.append(request)
            for request, n in chunks:
                request.computed += n
                if request.computed >= request.prefill_target:
                    request.generated += 1
                    if math.isnan(request.first_token_s):
                        request.first_token_s = end
                    if request.generated >= request.output_tokens:
                        finished.append(request)
            if finished:
                replica.finish(finished)
        return Work(duration, done)

    # -- fused path ---------------------------------------------------------------------------
    def exact(self, replica: "Replica") -> Work | None:
        """One exact iteration from the fused path (the cache is short of blocks): every
        decoding request is materialised, and returns to the decode batch afterwards."""
        replica.decoding.release()
        work = self.step(replica)
        if work is None:
            self.rebatch(replica)
            return None

        def done() -> None:
            work.done()
            self.rebatch(replica)
        return Work(work.duration_s, done)

    @staticmethod
    def rebatch(replica: "Replica") -> None:
        """Running requests past their prefill (re)join the decode batch; the others are the
        prefilling ones."""
        batch = replica.decoding
        prefilling = []
        for request in replica.running:
            if request.computed >= request.prefill_target:
                batch.add(request)
            else:
                prefilling.append(request)
        replica.prefilling = prefilling

    def segment(self, replica: "Replica", first: int, budget: int) -> Segment:
        """Fuse decode iterations of the whole decode batch (nothing admissible, no prefill,
        ``first`` blocks free for its next iteration) up to its next finish or block
        shortage."""
        batch = replica.decoding
        free = replica.free_blocks
        k = batch.next_finish()
        blocks = batch.needed(k)
        if blocks > free:
            k = batch.affordable(free)
            blocks = batch.needed(k)
        if replica.shared and k > 1 and self.admissible_any(replica, free - first, budget):
            k, blocks = 1, first
        return Segment(replica, k, blocks, first)

    def admissible_any(self, replica: "Replica", free_blocks: int, budget: int) -> bool:
        """Whether some request (one block at least) could be admitted. A queue shared with
        other replicas changes without telling this one (they take its head, return preempted
        requests), so a replica that could admit anything steps one iteration at a time."""
        return (replica.running_count < self.max_batch_size and budget > 0
                and free_blocks - int(self.watermark_fraction * replica.total_blocks) >= 1)


def _prompt_work(chunks: list[tuple[Request, int]], now: float) -> tuple[int, int, int, int]:
    """``(new tokens, attended pairs, cached tokens read, sequences producing a logit)`` of
    prompt chunks ``(request, n)`` computed in one iteration starting at ``now`` (a chunk
    of n tokens after c cached attends to n c + n (n + 1) / 2 positions); marks each
    request started."""
    new = attended = read = sequences = 0
    for request, n in chunks:
        c = request.computed
        new += n
        attended += n * c + n * (n + 1) // 2
        read += c
        if c + n >= request.prefill_target:
            sequences += 1
        if math.isnan(request.start_s):
            request.start_s = now
    return new, attended, read, sequences


def _prefilled(request: Request, end: float, batch: DecodeBatch,
               finished: list[Request]) -> None:
    """``request``'s prefill ended at ``end`` with its next token: it finishes (appended to
    ``finished``) or joins the decode batch."""
    request.generated += 1
    if math.isnan(request.first_token_s):
        request.first_token_s = end
    if request.generated >= request.output_tokens:
        finished.append(request)
    else:
        batch.add(request)


@register_policy
class ContinuousBatching(IterationLevel):
    """vLLM/Orca iteration-level batching with prefill-only iterations for new requests."""

    name = "continuous"

    def step(self, replica: "Replica") -> Work | None:
        admitted = self.admit(replica, self.token_budget, whole=True)
        if admitted:
            return self.iteration(replica, [(r, r.prefill_target) for r in admitted], [])
        decodes = self.decodes(replica)
        if decodes:
            return self.iteration(replica, [], decodes)
        return None

    def fused(self, replica: "Replica") -> Work | Segment | None:
        if replica.waiting:
            admitted = self.admit(replica, self.token_budget, whole=True)
            if admitted:
                return self.prefill(replica, admitted)
        batch = replica.decoding
        if not batch.size:
            return None
        first = batch.needed(1)
        if first > replica.free_blocks:
            return self.exact(replica)
        return self.segment(replica, first, self.token_budget)

    def prefill(self, replica: "Replica", admitted: list[Request]) -> Work:
        """A prefill-only iteration of whole prompts; the decode batch waits."""
        now = replica.env.now
        new = attended = 0
        for request in admitted:
            n = request.prefill_target
            new += n
            attended += n * (n + 1) // 2
            if math.isnan(request.start_s):
                request.start_s = now
        duration = replica.clock.time(new, attended, len(admitted), 0)
        replica.iterations.add(now, duration, len(admitted), 1,
                               1 - replica.free_blocks / max(1, replica.total_blocks),
                               replica.clock.compute_share(new, attended, len(admitted),
                                                           duration))

        def done() -> None:
            end = replica.env.now
            batch = replica.decoding
            finished: list[Request] = []
            for request in admitted:
                request.computed = request.prefill_target
                _prefilled(request, end, batch, finished)
            if finished:
                replica.finish(finished)
        return Work(duration, done)

    def admits_after(self, replica: "Replica", segment: Segment, n: int) -> bool:
        # admission at a boundary sees the blocks the iterations so far took
        free = segment.free_blocks - replica.decoding.needed(n)
        return self.admissible(replica, free, self.token_budget)


@register_policy
class ChunkedPrefill(IterationLevel):
    """Sarathi-Serve: decodes first, then prompt chunks, ``token_budget`` tokens per iteration
    (a speculative decode counts ``draft_tokens + 1``)."""

    name = "chunked-prefill"

    def __init__(self, max_batch_size: int = 256, token_budget: int = 512,
                 watermark_fraction: float = 0.01, draft_tokens: int = 0,
                 acceptance: float = 0.7, fuse: bool = True) -> None:
        super().__init__(max_batch_size, token_budget, watermark_fraction, draft_tokens,
                         acceptance, fuse)

    def step(self, replica: "Replica") -> Work | None:
        decodes = self.decodes(replica)
        budget = self.token_budget - (self.draft_tokens + 1) * len(decodes)
        chunks: list[tuple[Request, int]] = []
        for request in replica.running:
            if budget <= 0:
                break
            remaining = request.prefill_target - request.computed
            if remaining > 0:
                chunk = min(remaining, budget)
                chunks.append((request, chunk))
                budget -= chunk
        for request in self.admit(replica, budget, whole=False):
            chunk = min(request.prefill_target, budget)
            if chunk <= 0:
                break
            chunks.append((request, chunk))
            budget -= chunk
        return self.iteration(replica, chunks, decodes) if chunks or decodes else None

    def fused(self, replica: "Replica") -> Work | Segment | None:
        batch = replica.decoding
        first = batch.needed(1)
        if first > replica.free_blocks:
            return self.exact(replica)
        budget = self.token_budget - batch.size
        if batch.size and not replica.prefilling and not self.admissible(
                replica, replica.free_blocks - first, budget):
            return self.segment(replica, first, budget)
        return self.mixed(replica, first, budget)

    def mixed(self, replica: "Replica", decode_blocks: int, budget: int) -> Work | None:
        """One iteration of the decode batch (one token each, ``decode_blocks`` new blocks)
        plus prompt chunks: continuing prefills first, then admissions."""
        replica.free_blocks -= decode_blocks
        chunks: list[tuple[Request, int]] = []
        for request in replica.prefilling:
            if budget <= 0:
                break
            chunk = min(request.prefill_target - request.computed, budget)
            chunks.append((request, chunk))
            budget -= chunk
        admitted = self.admit(replica, budget, whole=False)
        for request in admitted:
            chunk = min(request.prefill_target, budget)
            if chunk <= 0:
                break
            chunks.append((request, chunk))
            budget -= chunk
        replica.prefilling.extend(admitted)
        batch = replica.decoding
        decoding, context = batch.size, batch.context
        if not chunks and not decoding:
            return None
        now = replica.env.now
        new, attended, read, sequences = _prompt_work(chunks, now)
        new, attended, read, sequences = (new + decoding, attended + context + decoding,
                                          read + context, sequences + decoding)
        duration = replica.clock.time(new, attended, sequences, read)
        replica.iterations.add(now, duration, decoding + len(chunks), 1,
                               1 - replica.free_blocks / max(1, replica.total_blocks),
                               replica.clock.compute_share(new, attended, sequences, duration))

        def done() -> None:
            end = replica.env.now
            finished = batch.advance(1) if decoding else []
            for request, n in chunks:
                request.computed += n
                if request.computed >= request.prefill_target:
                    replica.prefilling.remove(request)
                    _prefilled(request, end, batch, finished)
            if finished:
                replica.finish(finished)
        return Work(duration, done)

    def admits_after(self, replica: "Replica", segment: Segment, n: int) -> bool:
        # at a boundary the next iteration's decodes take their blocks before admission
        batch = replica.decoding
        free = segment.free_blocks - batch.needed(n + 1)
        return self.admissible(replica, free, self.token_budget - batch.size)
