"""Routers: which replica of a serving job gets an arriving request, registered by name.

A router's :meth:`Router.choose` picks one of the replicas that are up (non-empty list, in
replica order). ``shared-queue`` is not a choice but a queue: requests wait in one FIFO that
every replica takes from when it has room (the job handles it; :attr:`Router.shared`).

* ``random``: uniform over the replicas that are up (the run's ``routing.<job>`` stream).
* ``round-robin``: the next replica in turn, skipping those that are down.
* ``join-shortest-queue``: fewest outstanding requests (queued + running); ties to the
  lowest index. JSQ is delay-optimal among non-anticipating policies for identical servers
  (Winston 1977).
* ``least-kv-load``: lowest KV-cache load (blocks held + blocks the queued prompts need, over
  capacity), then fewest outstanding: what vLLM production routers (e.g. llm-d's KV-aware
  scorer) balance on.
* ``shared-queue``: one queue for all (M/M/c rather than c x M/M/1).
"""

from __future__ import annotations

from typing import Protocol, Sequence, TypeVar

import numpy as np

from fleetsim.registry import Registry, UnknownName
from fleetsim.serving.records import ServingError


class Routable(Protocol):
    """What a router reads of a replica."""

    @property
    def outstanding(self) -> int: ...

    @property
    def kv_load(self) -> float: ...


R = TypeVar("R", bound=Routable)
#: Routers by the name a scenario's ``router`` uses.
ROUTERS: Registry[type["Router"]] = Registry("router")
#: Class decorator: make a router available under its ``name``.
register_router = ROUTERS.register


def make_router(name: str, rng: np.random.Generator) -> "Router":
    """The router registered as ``name``."""
    try:
        return ROUTERS.get(name)(rng)
    except UnknownName as error:
        raise ServingError(str(error)) from None


class Router:
    """Picks a replica for each request."""

    name = ""
    shared = False  # requests wait in one queue shared by all replicas

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def choose(self, replicas: Sequence[R]) -> R:
        raise NotImplementedError


@register_router
class RandomRouter(Router):
    name = "random"

    def choose(self, replicas: Sequence[R]) -> R:
        return replicas[int(self.rng.integers(len(replicas)))]


@register_router
class RoundRobin(Router):
    name = "round-robin"

    def __init__(self, rng: np.random.Generator) -> None:
        super().__init__(rng)
        self._turn = 0

    def choose(self, replicas: Sequence[R]) -> R:
        replica = replicas[self._turn % len(replicas)]
        self._turn += 1
        return replica


@register_router
class JoinShortestQueue(Router):
    name = "join-shortest-queue"

    def choose(self, replicas: Sequence[R]) -> R:
        return min(replicas, key=lambda replica: replica.outstanding)


@register_router
class LeastKvLoad(Router):
    name = "least-kv-load"

    def choose(self, replicas: Sequence[R]) -> R:
        loads = [replica.kv_load for replica in replicas]
        low = min(loads)
        tied = [replica for replica, load in zip(replicas, loads) if load == low]
        return tied[0] if len(tied) == 1 else min(tied, key=lambda r: r.outstanding)


@register_router
class SharedQueue(Router):
    name = "shared-queue"
    shared = True

    def choose(self, replicas: Sequence[R]) -> R:
        raise ServingError("shared-queue does not choose: requests wait in the shared queue")
