"""The fleet's free GPUs, indexed for placement: whole free nodes by network domain, partly
free nodes by how many GPUs they have left.

A node that is up, not a hot spare and not fully held is *free* in part or in whole:

* ``whole[domain]``: nodes with every GPU free, per network domain (the node's locality
  tuple from the fabric plan: ``(pod, su)`` on a rail fat tree, ``(pod, leaf)`` on a fat tree,
  ``()`` elsewhere), in the order they became free (a deque's order, as a dict);
* ``partial[k]``: nodes with exactly ``k`` free GPUs, ``0 < k < gpus_per_node``.

Every update is O(1) (dict insertions and deletions), so the index costs nothing per event;
placement strategies (:mod:`fleetsim.scheduler.placement`) read it to pick nodes: the
smallest domain that holds a multi-node job, the fullest node that still fits a small one.
"""

from __future__ import annotations

from typing import Iterator, Sequence


class Capacity:
    """Free GPUs on the up, non-spare nodes of one cluster."""

    def __init__(self, gpus_per_node: int, localities: Sequence[tuple]) -> None:
        self.gpus_per_node = gpus_per_node
        self.locality: list[tuple] = [tuple(key) for key in localities]
        self.free: list[int] = [0] * len(self.locality)  # free GPUs per node (0: not free)
        self.whole: dict[tuple, dict[int, None]] = {}
        for key in self.locality:
            self.whole.setdefault(key, {})
        self.partial: list[dict[int, None]] = [{} for _ in range(gpus_per_node)]
        self.whole_count = 0
        self.free_gpus = 0

    # -- updates ------------------------------------------------------------------------------
    def add(self, node: int, gpus: int) -> None:
        """``gpus`` more GPUs of ``node`` became free."""
        if gpus <= 0:
            return
        self._unlist(node)
        self.free[node] += gpus
        self.free_gpus += gpus
        self._list(node)

    def take(self, node: int, gpus: int) -> None:
        """``gpus`` free GPUs of ``node`` are held (or the node left: down or spare)."""
        if gpus <= 0:
            return
        if gpus > self.free[node]:
            raise ValueError(f"node {node} has {self.free[node]} free GPUs, not {gpus}")
        self._unlist(node)
        self.free[node] -= gpus
        self.free_gpus -= gpus
        self._list(node)

    def drop(self, node: int) -> int:
        """``node`` left the free pool (it went down or became a spare); returns the free
        GPUs it had."""
        gpus = self.free[node]
        self.take(node, gpus)
        return gpus

    def _unlist(self, node: int) -> None:
        free = self.free[node]
        if free == self.gpus_per_node:
            del self.whole[self.locality[node]][node]
            self.whole_count -= 1
        elif free:
            del self.partial[free][node]

    def _list(self, node: int) -> None:
        free = self.free[node]
        if free == self.gpus_per_node:
            self.whole[self.locality[node]][node] = None
            self.whole_count += 1
        elif free:
            self.partial[free][node] = None

    # -- queries ------------------------------------------------------------------------------
    def whole_nodes(self) -> Iterator[int]:
        """Every whole free node, domain by domain."""
        for members in self.whole.values():
            yield from members

    def max_partial(self) -> int:
        """The most free GPUs on any node (a whole free node counts ``gpus_per_node``)."""
        if self.whole_count:
            return self.gpus_per_node
        for free in range(self.gpus_per_node - 1, 0, -1):
            if self.partial[free]:
                return free
        return 0

    def fits(self, nodes: int, gpus_per_node: int) -> bool:
        """Could a job of ``nodes`` x ``gpus_per_node`` GPUs be placed now?"""
        if gpus_per_node >= self.gpus_per_node:
            return self.whole_count >= nodes
        return self.max_partial() >= gpus_per_node
