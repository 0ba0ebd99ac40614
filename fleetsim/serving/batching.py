"""Batching policies of a serving replica, registered by name (see ``replica.py``'s docstring).

A policy's :meth:`BatchingPolicy.schedule` is called whenever the replica is free and returns
the next :class:`~fleetsim.serving.records.Work`, a time to look again, or ``None`` (sleep
until an arrival). Adding a policy is one class with ``@register_policy`` and one test.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from fleetsim.serving.records import Request, ServingError, Work

if TYPE_CHECKING:
    from fleetsim.serving.replica import Replica


POLICIES: dict[str, type["BatchingPolicy"]] = {}
P = TypeVar("P")


def register_policy(cls: P) -> P:
    """Class decorator: make a batching policy available under ``cls.name``."""
    POLICIES[cls.name] = cls
    return cls


def make_policy(name: str, **params) -> "BatchingPolicy":
    """The batching policy registered as ``name`` with ``params``."""
    if name not in POLICIES:
        raise ServingError(f"unknown batching policy {name!r} (known: {', '.join(POLICIES)})")
    try:
        return POLICIES[name](**params)
    except TypeError as error:
        raise ServingError(f"batching policy {name!r}: {error}") from None


class BatchingPolicy(ABC):
    """Decides the replica's next unit of work.

    :meth:`schedule` returns a :class:`Work`, or a time at which to look again (a deadline such
    as a queue-delay timeout), or ``None`` to sleep until the next arrival.
    """

    name: str = ""

    @abstractmethod
    def schedule(self, replica: "Replica") -> Work | float | None:
        ...


class RequestLevel(BatchingPolicy):
    """Batches formed from the queue and run to completion as one timeout."""

    def __init__(self, max_batch_size: int = 1, max_queue_delay_s: float = 0.0) -> None:
        if max_batch_size < 1:
            raise ServingError(f"batch size must be >= 1, got {max_batch_size}")
        if max_queue_delay_s < 0:
            raise ServingError(f"max_queue_delay_s must be >= 0, got {max_queue_delay_s}")
        self.max_batch_size = int(max_batch_size)
        self.max_queue_delay_s = float(max_queue_delay_s)

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
        size = replica.cost.block_tokens
        while waiting and len(batch) < self.max_batch_size:
            need = -(-(waiting[0].prompt_tokens + waiting[0].output_tokens) // size)
            if batch and blocks + need > replica.total_blocks:
                break
            batch.append(waiting.popleft())
            blocks += need
        return self._run(replica, batch, blocks)

    @staticmethod
    def _run(replica: "Replica", batch: list[Request], blocks: int) -> Work:
        now = replica.env.now
        cost = replica.cost
        prompts = np.array([r.prompt_tokens for r in batch], float)
        outputs = np.array([r.output_tokens for r in batch])
        prefill_s = cost.prefill_time(prompts)
        steps = int(outputs.max()) - 1  # the prefill produces the first token
        decode_s = 0.0
        if steps > 0:
            # padded batch: every sequence stays until the longest finishes
            contexts = prompts.sum() + len(batch) * np.arange(steps, dtype=float)
            decode_s = float(cost.decode_times(len(batch), contexts).sum())
        for request in batch:
            request.start_s = now
        duration = prefill_s + decode_s
        replica.iterations.add(now, duration, len(batch), steps + 1,
                               min(1.0, blocks / max(1, replica.total_blocks)))

        def done() -> None:
            for request in batch:
                request.first_token_s = now + prefill_s
                request.finish_s = now + duration
                request.generated = request.output_tokens
        return Work(duration, done)


@register_policy
class NoBatching(RequestLevel):
    """One request at a time."""

    name = "none"

    def __init__(self) -> None:
        super().__init__(1, 0.0)


@register_policy
class StaticBatching(RequestLevel):
    """Wait for a full batch of ``batch_size`` (forever, unless ``timeout_s`` is given)."""

    name = "static"

    def __init__(self, batch_size: int = 8, timeout_s: float = math.inf) -> None:
        super().__init__(batch_size, timeout_s)


@register_policy
class DynamicBatching(RequestLevel):
    """Start at ``max_batch_size`` requests or after ``max_queue_delay_s`` of the oldest."""

    name = "dynamic"

    def __init__(self, max_batch_size: int = 8, max_queue_delay_s: float = 0.01) -> None:
        super().__init__(max_batch_size, max_queue_delay_s)


class IterationLevel(BatchingPolicy):
    """Shared machinery of iteration-level policies: admission, KV blocks, preemption."""

    def __init__(self, max_batch_size: int = 256, token_budget: int = 8192,
                 watermark_fraction: float = 0.01) -> None:
        if max_batch_size < 1 or token_budget < 1:
            raise ServingError("max_batch_size and token_budget must be >= 1")
        if not 0 <= watermark_fraction < 1:
            raise ServingError(f"watermark_fraction must be in [0, 1), got {watermark_fraction}")
        self.max_batch_size = int(max_batch_size)
        self.token_budget = int(token_budget)
        self.watermark_fraction = float(watermark_fraction)

    def admit(self, replica: "Replica", budget: int, whole: bool) -> list[Request]:
        """Move waiting requests (FIFO) to running while blocks for their prefill are free.

        ``whole``: the prompt must fit in ``budget`` tokens (except the first admitted);
        otherwise only a non-empty budget is required (chunks follow).
        """
        admitted: list[Request] = []
        waiting, running = replica.waiting, replica.running
        size = replica.cost.block_tokens
        watermark = int(self.watermark_fraction * replica.total_blocks)
        while waiting and len(running) < self.max_batch_size and budget > 0:
            request = waiting[0]
            target = request.prompt_tokens + request.generated
            need = -(-target // size)
            reserve = watermark if running else 0
            if need > replica.free_blocks - reserve:
                break
            if whole and admitted and target > budget:
                break
            waiting.popleft()
            request.prefill_target = target
            request.computed = 0
            request.blocks = need
            replica.free_blocks -= need
            running.append(request)
            admitted.append(request)
            budget -= target if whole else min(target, budget)
        return admitted

    def decodes(self, replica: "Replica") -> list[Request]:
        """Running requests past their prefill, each given a KV slot for one more token;
        preempts the newest running requests when the cache is full."""
        running = replica.running
        size = replica.cost.block_tokens
        chosen: list[Request] = []
        i = 0
        while i < len(running):
            request = running[i]
            if request.computed < request.prefill_target:
                i += 1
                continue
            if request.computed + 1 > request.blocks * size:
                while replica.free_blocks == 0 and running[-1] is not request:
                    replica.preempt(running[-1])
                if replica.free_blocks == 0:
                    replica.preempt(request)
                    break
                replica.free_blocks -= 1
                request.blocks += 1
            chosen.append(request)
            i += 1
        return chosen

    @staticmethod
    def iteration(replica: "Replica", items: list[tuple[Request, int]]) -> Work:
        """Work of one model iteration computing ``n`` new tokens for each ``(request, n)``."""
        now = replica.env.now
        new = attended = read = sequences = 0
        for request, n in items:
            c = request.computed
            new += n
            attended += n * c + n * (n + 1) // 2
            read += c
            if c + n >= request.prefill_target:
                sequences += 1
            if math.isnan(request.start_s):
                request.start_s = now
        duration = float(replica.cost.iteration_time(new, attended, sequences, read))
        replica.iterations.add(now, duration, len(items), 1,
                               1 - replica.free_blocks / max(1, replica.total_blocks))

        def done() -> None:
            end = replica.env.now
            finished = False
            for request, n in items:
                request.computed += n
                if request.computed >= request.prefill_target:
                    request.generated += 1
                    if math.isnan(request.first_token_s):
                        request.first_token_s = end
                    if request.generated >= request.output_tokens:
                        request.finish_s = end
                        replica.free_blocks += request.blocks
                        request.blocks = 0
                        finished = True
            if finished:
                replica.running = [r for r in replica.running if not r.done]
        return Work(duration, done)


@register_policy
class ContinuousBatching(IterationLevel):
    """vLLM/Orca iteration-level batching with prefill-only iterations for new requests."""

    name = "continuous"

    def schedule(self, replica: "Replica") -> Work | float | None:
        admitted = self.admit(replica, self.token_budget, whole=True)
        if admitted:
            return self.iteration(replica, [(r, r.prefill_target) for r in admitted])
        decodes = self.decodes(replica)
        if decodes:
            return self.iteration(replica, [(r, 1) for r in decodes])
        return None


@register_policy
class ChunkedPrefill(IterationLevel):
    """Sarathi-Serve: decodes first, then prompt chunks, ``token_budget`` tokens per iteration."""

    name = "chunked-prefill"

    def __init__(self, max_batch_size: int = 256, token_budget: int = 512,
                 watermark_fraction: float = 0.01) -> None:
        super().__init__(max_batch_size, token_budget, watermark_fraction)

    def schedule(self, replica: "Replica") -> Work | float | None:
        items: list[tuple[Request, int]] = [(r, 1) for r in self.decodes(replica)]
        budget = self.token_budget - len(items)
        for request in replica.running:
            if budget <= 0:
                break
            remaining = request.prefill_target - request.computed
            if remaining > 0:
                chunk = min(remaining, budget)
                items.append((request, chunk))
                budget -= chunk
        for request in self.admit(replica, budget, whole=False):
            chunk = min(request.prefill_target, budget)
            if chunk <= 0:
                break
            items.append((request, chunk))
            budget -= chunk
        return self.iteration(replica, items) if items else None
