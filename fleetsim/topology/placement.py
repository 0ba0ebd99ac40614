"""Place a job's ranks onto GPU vertices: ``packed`` (topology-aware) or ``random``.

A placement returns the GPU vertex names in rank order; collectives (comm/) follow that order
(ring neighbours are consecutive ranks). Strategies are small classes registered by the name a
scenario uses (:data:`PLACEMENTS`); adding one is one class with ``@register_placement``.

``packed``  keep a job as close as the fabric allows: a job that fits in one node goes to the
            node with the fewest free GPUs that still hold it (best fit); a bigger job goes to
            the smallest network domain that holds it — same leaf or SU, then same pod, then the
            whole cluster (the GPUs' ``locality`` tuple, set by the fabric builders) — taking
            whole free nodes first. Ranks then run node by node, GPUs by local index, so ring
            neighbours share a node and the ring crosses the network once per node boundary.
``random``  a uniformly random subset in random order, drawn from the numpy ``Generator``
            passed in (the run's ``placement`` stream): same seed, same placement.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, Iterable

import numpy as np

if TYPE_CHECKING:  # networkx is imported where a graph is made: loading a scenario needs none
    import networkx as nx

from fleetsim.registry import Registry
from fleetsim.topology.graph import TopologyError, gpus

#: Rank placements on the graph by name.
PLACEMENTS: Registry[type["Placement"]] = Registry("placement")
#: Class decorator: make a placement available under its ``name``.
register_placement = PLACEMENTS.register


class Placement(ABC):
    """Chooses which GPUs a job of ``ranks`` ranks runs on, in rank order."""

    name: ClassVar[str]

    @abstractmethod
    def place(self, graph: nx.DiGraph, ranks: int, free: list[str],
              rng: np.random.Generator | None) -> list[str]:
        """``ranks`` GPUs out of ``free`` (in graph order), in rank order."""


@register_placement
class PackedPlacement(Placement):
    """Fill nodes, then the same leaf/SU, then the same pod (module docstring)."""

    name = "packed"

    def place(self, graph: nx.DiGraph, ranks: int, free: list[str],
              rng: np.random.Generator | None) -> list[str]:
        by_node: dict[object, list[str]] = {}
        for gpu in free:
            node = graph.nodes[gpu].get("node")
            by_node.setdefault(gpu if node is None else node, []).append(gpu)
        nodes = list(by_node)
        order = {node: position for position, node in enumerate(nodes)}
        fitting = [node for node in nodes if len(by_node[node]) >= ranks]
        if fitting:
            best = min(fitting, key=lambda node: (len(by_node[node]), order[node]))
            return by_node[best][:ranks]
        locality = {node: tuple(graph.nodes[by_node[node][0]].get("locality", ()))
                    for node in nodes}
        depth = max((len(key) for key in locality.values()), default=0)
        for level in range(depth, -1, -1):
            domains: dict[tuple, list[object]] = {}
            for node in nodes:
                domains.setdefault(locality[node][:level], []).append(node)
            sizes = {key: sum(len(by_node[node]) for node in members)
                     for key, members in domains.items()}
            holding = [key for key in domains if sizes[key] >= ranks]
            if holding:
                chosen = min(holding, key=lambda key: sizes[key])
                return self._fill(domains[chosen], by_node, order, ranks)
        raise AssertionError("unreachable: the caller checked there are enough GPUs")

    @staticmethod
    def _fill(members: list[object], by_node: dict[object, list[str]],
              order: dict[object, int], ranks: int) -> list[str]:
        take: dict[object, int] = {}
        remaining = ranks
        for node in sorted(members, key=lambda node: (-len(by_node[node]), order[node])):
            if remaining == 0:
                break
            take[node] = min(remaining, len(by_node[node]))
            remaining -= take[node]
        placed: list[str] = []
        for node in sorted(take, key=order.__getitem__):
            placed.extend(by_node[node][:take[node]])
        return placed


@register_placement
class RandomPlacement(Placement):
    """A random subset in random order, from the ``rng`` given (module docstring)."""

    name = "random"

    def place(self, graph: nx.DiGraph, ranks: int, free: list[str],
              rng: np.random.Generator | None) -> list[str]:
        if rng is None:
            raise TopologyError("random placement needs a numpy Generator (rng=...)")
        chosen = rng.permutation(len(free))[:ranks]
        return [free[int(index)] for index in chosen]


def place(graph: nx.DiGraph, ranks: int, strategy: str = "packed", *,
          available: Iterable[str] | None = None,
          rng: np.random.Generator | None = None) -> list[str]:
    """GPU vertex names for ``ranks`` ranks, in rank order.

    ``available`` restricts the choice (healthy, unallocated GPUs; default all GPUs);
    ``rng`` is required by ``random``. Raises :class:`TopologyError` for an unknown strategy
    or too few GPUs.
    """
    if strategy not in PLACEMENTS:
        raise TopologyError(f"unknown placement {strategy!r} (known: {PLACEMENTS.known()})")
    if ranks < 1:
        raise TopologyError(f"a job needs at least one rank, got {ranks}")
    if available is None:
        free = gpus(graph)
    else:
        wanted = set(available)
        free = [gpu for gpu in gpus(graph) if gpu in wanted]
    if len(free) < ranks:
        raise TopologyError(f"{ranks} ranks need {ranks} free GPUs, only {len(free)} are free")
    return PLACEMENTS[strategy]().place(graph, ranks, free, rng)
