"""Where a job's GPUs go: ``packed``, ``spread`` or ``random`` nodes of the fleet's free
capacity (registered by the name ``scheduler.placement`` uses).

A job of a node or more (``nodes`` x the node's GPUs) takes whole free nodes; a smaller job
takes ``gpus`` GPUs of one node, which it may share with other small jobs. Strategies read
the fleet's :class:`~fleetsim.cluster.capacity.Capacity` index (whole free nodes by network
domain, partly free nodes by free GPUs) and return ``(node, GPUs)`` grants, or ``None`` when
the job does not fit now; they never scan the cluster node by node (O(domains), except
``random``, which is O(free nodes)).

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
from typing import ClassVar

import numpy as np

from fleetsim.cluster.capacity import Capacity
from fleetsim.registry import Registry

Grant = tuple[int, int]

PLACEMENTS: Registry[type["Placement"]] = Registry("placement")


class Placement(ABC):
    """Chooses the GPUs of a job of ``nodes`` x ``per_node`` GPUs."""

    name: ClassVar[str]

    def place(self, capacity: Capacity, nodes: int, per_node: int,
              rng: np.random.Generator) -> list[Grant] | None:
        """Grants for the job, or ``None`` if it does not fit now."""
        if not capacity.fits(nodes, per_node):
            return None
        if per_node >= capacity.gpus_per_node:
            return [(node, per_node) for node in self.whole(capacity, nodes, rng)]
        return [(self.small(capacity, per_node, rng), per_node)]

    @abstractmethod
    def whole(self, capacity: Capacity, nodes: int, rng: np.random.Generator) -> list[int]:
        """``nodes`` whole free nodes (there are enough)."""

    @abstractmethod
    def small(self, capacity: Capacity, gpus: int, rng: np.random.Generator) -> int:
        """A node with at least ``gpus`` free GPUs (there is one)."""


def _domain_sizes(capacity: Capacity, level: int) -> dict[tuple, int]:
    sizes: dict[tuple, int] = {}
    for key, members in capacity.whole.items():
        if members:
            sizes[key[:level]] = sizes.get(key[:level], 0) + len(members)
    return sizes


@PLACEMENTS.register
class Packed(Placement):
    """Smallest domain that holds the job; best fit for small jobs (module docstring)."""

    name = "packed"

    def whole(self, capacity: Capacity, nodes: int, rng: np.random.Generator) -> list[int]:
        depth = max((len(key) for key in capacity.whole), default=0)
        for level in range(depth, -1, -1):
            sizes = _domain_sizes(capacity, level)
            holding = [key for key, size in sizes.items() if size >= nodes]
            if holding:
                chosen = min(holding, key=sizes.__getitem__)
                taken: list[int] = []
                for key, members in capacity.whole.items():
                    if key[:level] == chosen:
                        for node in members:
                            taken.append(node)
                            if len(taken) == nodes:
                                return taken
        raise AssertionError("unreachable: the caller checked that the job fits")

    def small(self, capacity: Capacity, gpus: int, rng: np.random.Generator) -> int:
        for free in range(gpus, capacity.gpus_per_node):
            for node in capacity.partial[free]:
                return node
        sizes = {key: len(members) for key, members in capacity.whole.items() if members}
        key = min(sizes, key=sizes.__getitem__)
        return next(iter(capacity.whole[key]))


@PLACEMENTS.register
class Spread(Placement):
    """Round-robin over the fullest domains; worst fit for small jobs (module docstring)."""

    name = "spread"

    def whole(self, capacity: Capacity, nodes: int, rng: np.random.Generator) -> list[int]:
        queues = sorted(([node for node in members] for members in capacity.whole.values()
                         if members), key=len, reverse=True)
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

    def small(self, capacity: Capacity, gpus: int, rng: np.random.Generator) -> int:
        if capacity.whole_count:
            sizes = {key: len(members) for key, members in capacity.whole.items() if members}
            key = max(sizes, key=sizes.__getitem__)
            return next(iter(capacity.whole[key]))
        for free in range(capacity.gpus_per_node - 1, gpus - 1, -1):
            for node in capacity.partial[free]:
                return node
        raise AssertionError("unreachable: the caller checked that the job fits")


@PLACEMENTS.register
class Random(Placement):
    """Uniformly random among the nodes that fit (module docstring)."""

    name = "random"

    def whole(self, capacity: Capacity, nodes: int, rng: np.random.Generator) -> list[int]:
        free = list(capacity.whole_nodes())
        chosen = rng.choice(len(free), size=nodes, replace=False)
        return [free[int(index)] for index in chosen]

    def small(self, capacity: Capacity, gpus: int, rng: np.random.Generator) -> int:
        fitting = list(capacity.whole_nodes())
        for free in range(gpus, capacity.gpus_per_node):
            fitting.extend(capacity.partial[free])
        return fitting[int(rng.integers(len(fitting)))]
