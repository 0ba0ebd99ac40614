"""Serving records: requests, the per-iteration log, and the arrival feed process.

:class:`Request` is one request's record and scheduler state (times in seconds of simulated
time, NaN until reached); :class:`IterationLog` is a replica's log of units of work; their
columns drop straight into a DataFrame (``metrics.request_table``, ``IterationLog.as_arrays``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol, Sequence

import numpy as np
import simpy

from fleetsim.errors import FleetsimError


class ServingError(FleetsimError):
    """A bad batching policy name or parameter."""


@dataclass(slots=True, eq=False)
class Request:
    """One request and its record (times in seconds of simulated time; NaN = not yet)."""

    id: int
    arrival_s: float
    prompt_tokens: int
    output_tokens: int
    start_s: float = math.nan
    first_token_s: float = math.nan
    finish_s: float = math.nan
    preemptions: int = 0
    rejected: bool = False
    replica: str = ""
    # scheduler state
    generated: int = 0  # output tokens produced so far
    computed: int = 0  # tokens whose KV is in the cache
    prefill_target: int = 0  # tokens to (re)compute before the next token is produced
    blocks: int = 0  # KV blocks held
    decode_step: int = -1  # >= 0: decoding lazily, generated/computed/blocks as of this
    # step of the replica's DecodeBatch (replica.py); -1: the fields above are current
    carry: float = 0.0  # speculative decoding: expected tokens accumulated so far

    @property
    def done(self) -> bool:
        return not math.isnan(self.finish_s)


def make_requests(times_s: Sequence[float], prompt_tokens: Sequence[int],
                  output_tokens: Sequence[int], first_id: int = 0) -> list[Request]:
    """Request objects from arrays (as :func:`fleetsim.serving.arrivals.generate_requests`)."""
    return [Request(first_id + i, float(t), int(p), max(1, int(o)))
            for i, (t, p, o) in enumerate(zip(times_s, prompt_tokens, output_tokens))]


class Submits(Protocol):
    def submit(self, request: Request) -> None: ...


def feed(env: simpy.Environment, replica: Submits, requests: Iterable[Request]) -> simpy.Process:
    """Start a process submitting ``requests`` (sorted by arrival) to ``replica`` on time."""
    def run():
        for request in requests:
            delay = request.arrival_s - env.now
            if delay > 0:
                yield env.timeout(delay)
            replica.submit(request)
    return env.process(run())


@dataclass
class IterationLog:
    """Per unit of work: start, duration, batch size, model iterations, KV utilisation (at
    the unit's start) and compute share (of its device time spent on FLOPs, for its power
    draw: :mod:`fleetsim.serving.power`). A fused run of decode iterations is one unit of
    ``iterations`` > 1 (its compute share that of its first iteration)."""

    start_s: list[float] = field(default_factory=list)
    duration_s: list[float] = field(default_factory=list)
    batch_size: list[int] = field(default_factory=list)
    iterations: list[int] = field(default_factory=list)
    kv_utilisation: list[float] = field(default_factory=list)
    compute_share: list[float] = field(default_factory=list)

    def add(self, start_s: float, duration_s: float, batch_size: int, iterations: int,
            kv_utilisation: float, compute_share: float) -> None:
        self.start_s.append(start_s)
        self.duration_s.append(duration_s)
        self.batch_size.append(batch_size)
        self.iterations.append(iterations)
        self.kv_utilisation.append(kv_utilisation)
        self.compute_share.append(compute_share)

    def truncate_last(self, duration_s: float, iterations: int) -> None:
        """The last unit ended early (a fused segment cut short, a replica stopped)."""
        self.duration_s[-1] = duration_s
        self.iterations[-1] = iterations

    def as_arrays(self) -> dict[str, np.ndarray]:
        return {name: np.asarray(getattr(self, name)) for name in
                ("start_s", "duration_s", "batch_size", "iterations", "kv_utilisation",
                 "compute_share")}


@dataclass
class Work:
    """A unit of work a policy hands the replica: wait ``duration_s``, then call ``done()``."""

    duration_s: float
    done: Callable[[], None]
