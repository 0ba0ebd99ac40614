"""Where a job's GPUs go: ``packed``, ``spread`` or ``random`` nodes of the fleet's free
capacity (registered by the name ``scheduler.placement`` uses).

A job of a node or more (``nodes`` x the node's GPUs) takes whole free nodes; a smaller job
takes ``gpus`` GPUs of one node, which it may share with other small jobs. Strategies read
the fleet's :class:`~fleetsim.cluster.capacity.Capacity` index (whole free nodes by network
domain, partly free nodes by free GPUs) and return ``(node, GPUs)`` grants, or ``None`` when
the job does not fit now; they never scan the cluster node by node (O(domains), except
``random``, which is O(free nodes)). A placement may be told to leave some nodes alone
(``exclude``: the nodes held for a job that is reclaiming GPUs by preemption); with none
excluded it chooses exactly as without the argument.

``packed``  keep a job inside the smallest network domain that holds it (the same SU or
            leaf, then the same pod, then anywhere), taking the domain's nodes in the order
            they became free; a small job goes to the fullest node that still fits it (best
            fit), else to a whole node of the domain with the fewest whole nodes free, keeping
            large domains intact for large jobs. Jobs then share few links with each other.
``spread``  take whole nodes round-robin across the domains with the most free nodes, and
            put a small job on the emptiest node (worst fit): the opposite of packed, which
            spreads a job's traffic over many uplinks and mixes jobs on links.
``random``  a uniformly random choice among the nodes that fit (the run's ``placement``
            stream), as a scheduler blind to the topology would do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from typing import ClassVar, Collection

import numpy as np

from fleetsim.cluster.capacity import Capacity
from fleetsim.registry import Registry

Grant = tuple[int, int]

PLACEMENTS: Registry[type["Placement"]] = Registry("placement")


class Placement(ABC):
    """Chooses the GPUs of a job of ``nodes`` x ``per_node`` GPUs."""

    name: ClassVar[str]

    def place(self, capacity: Capacity, nodes: int, per_node: int,
              rng: np.random.Generator,
              exclude: Collection[int] = frozenset()) -> list[Grant] | None:
        """Grants for the job on nodes not in ``exclude``, or ``None`` if it does not fit
        there now."""
        if not fits(capacity, nodes, per_node, exclude):
            return None
        if per_node >= capacity.gpus_per_node:
            return [(node, per_node) for node in self.whole(capacity, nodes, rng, exclude)]
        return [(self.small(capacity, per_node, rng, exclude), per_node)]

    @abstractmethod
    def whole(self, capacity: Capacity, nodes: int, rng: np.random.Generator,
              exclude: Collection[int] = frozenset()) -> list[int]:
        """``nodes`` whole free nodes not in ``exclude`` (there are enough)."""

    @abstractmethod
    def small(self, capacity: Capacity, gpus: int, rng: np.random.Generator,
              exclude: Collection[int] = frozenset()) -> int:
        """A node not in ``exclude`` with at least ``gpus`` free GPUs (there is one)."""


def fits(capacity: Capacity, nodes: int, per_node: int,
         exclude: Collection[int] = frozenset()) -> bool:
    """Could a job of ``nodes`` x ``per_node`` GPUs be placed now on nodes not in
    ``exclude``? O(GPUs per node + excluded nodes)."""
    if not exclude:
        return capacity.fits(nodes, per_node)
    hidden = Counter(capacity.free[node] for node in exclude)
    size = capacity.gpus_per_node
    if per_node >= size:
        return capacity.whole_count - hidden[size] >= nodes
    if capacity.whole_count > hidden[size]:
        return True
    return any(len(capacity.partial[free]) > hidden[free] for free in range(per_node, size))


def _domain_sizes(capacity: Capacity, level: int | None,
                  exclude: Collection[int] = frozenset()) -> dict[tuple, int]:
    """Whole free nodes not in ``exclude`` per domain, keys cut to ``level`` (``None``: the
    innermost domains), for the domains that have some."""
    sizes: dict[tuple, int] = {}
    for key, members in capacity.whole.items():
        if members:
            sizes[key[:level]] = sizes.get(key[:level], 0) + len(members)
    for node in exclude:
        if capacity.free[node] == capacity.gpus_per_node:
            key = capacity.locality[node][:level]
            sizes[key] -= 1
            if not sizes[key]:
                del sizes[key]
    return sizes


@PLACEMENTS.register
class Packed(Placement):
    """Smallest domain that holds the job; best fit for small jobs (module docstring)."""

    name = "packed"

    def whole(self, capacity: Capacity, nodes: int, rng: np.random.Generator,
              exclude: Collection[int] = frozenset()) -> list[int]:
        depth = max((len(key) for key in capacity.whole), default=0)
        for level in range(depth, -1, -1):
            sizes = _domain_sizes(capacity, level, exclude)
            holding = [key for key, size in sizes.items() if size >= nodes]
            if holding:
                chosen = min(holding, key=sizes.__getitem__)
                taken: list[int] = []
                for key, members in capacity.whole.items():
                    if key[:level] == chosen:
                        for node in members:
                            if node in exclude:
                                continue
                            taken.append(node)
                            if len(taken) == nodes:
                                return taken
        raise AssertionError("unreachable: the caller checked that the job fits")

    def small(self, capacity: Capacity, gpus: int, rng: np.random.Generator,
              exclude: Collection[int] = frozenset()) -> int:
        for free in range(gpus, capacity.gpus_per_node):
            for node in capacity.partial[free]:
                if node not in exclude:
                    return node
        sizes = _domain_sizes(capacity, None, exclude)
        key = min(sizes, key=sizes.__getitem__)
        return next(node for node in capacity.whole[key] if node not in exclude)


@PLACEMENTS.register
class Spread(Placement):
    """Round-robin over the fullest domains; worst fit for small jobs (module docstring)."""

    name = "spread"

    def whole(self, capacity: Capacity, nodes: int, rng: np.random.Generator,
              exclude: Collection[int] = frozenset()) -> list[int]:
        queues = sorted(([node for node in members if node not in exclude]
                         for members in capacity.whole.values() if members),
                        key=len, reverse=True)
        taken: list[int] = []
        depth = 0
        while len(taken) < nodes:
            for queue in queues:
                if depth < len(queue):
                    taken.append(queue[depth])
                    if len(taken) == nodes:
                        break
            depth += 1
        return taken

    def small(self, capacity: Capacity, gpus: int, rng: np.random.Generator,
              exclude: Collection[int] = frozenset()) -> int:
        sizes = _domain_sizes(capacity, None, exclude)
        if sizes:
            key = max(sizes, key=sizes.__getitem__)
            return next(node for node in capacity.whole[key] if node not in exclude)
        for free in range(capacity.gpus_per_node - 1, gpus - 1, -1):
            for node in capacity.partial[free]:
                if node not in exclude:
                    return node
        raise AssertionError("unreachable: the caller checked that the job fits")


@PLACEMENTS.register
class Random(Placement):
    """Uniformly random among the nodes that fit (module docstring)."""

    name = "random"

    def whole(self, capacity: Capacity, nodes: int, rng: np.random.Generator,
              exclude: Collection[int] = frozenset()) -> list[int]:
        free = [node for node in capacity.whole_nodes() if node not in exclude]
        chosen = rng.choice(len(free), size=nodes, replace=False)
        return [free[int(index)] for index in chosen]

    def small(self, capacity: Capacity, gpus: int, rng: np.random.Generator,
              exclude: Collection[int] = frozenset()) -> int:
        fitting = [node for node in capacity.whole_nodes() if node not in exclude]
        for free in range(gpus, capacity.gpus_per_node):
            fitting.extend(node for node in capacity.partial[free] if node not in exclude)
        return fitting[int(rng.integers(len(fitting)))]
