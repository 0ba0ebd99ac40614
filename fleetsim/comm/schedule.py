"""The size-independent description of a collective: phases of concurrent flows between ranks.

An algorithm (registry.py) turns a group's :class:`GroupLayout` into a list of
:class:`Phase`. A phase is a set of flows that run *at the same time* — ``(src rank, dst rank,
fraction)`` or ``(src, dst, fraction, via)``, each moving ``fraction x size_bytes`` bytes, routed
through rank ``via`` when given — repeated over ``steps`` latency-bearing
steps and ``transfers`` bandwidth-bearing transfers. The two counts are equal for a plain
step-by-step algorithm (ring: ``2(p-1)`` of each) and differ for a pipelined one (a pipelined
tree pays ``depth`` step latencies but streams its bytes once). ``latency`` says how the flows
of one step combine into that step's alpha:

``"max"``   the step waits for its slowest flow (recursive halving/doubling, binomial tree);
``"mean"``  a pipelined ring: a chunk crosses every ring link once per ``p`` steps, so the
            latency per step is the average over the ring's links — NCCL's ring model charges
            network latency for ``nNodes`` of every ``nRanks`` steps (tuning.cc, nInterSteps).

The cost of a phase (cost.py) is::

    steps x alpha + transfers x size_bytes x max_f(fraction_f / rate_f)

where ``rate_f`` is flow f's bottleneck share of the links on its path.

Channels (:func:`channel_rings`): NCCL runs one ring per *channel*, and on multi-NIC nodes the
channels use different NICs. fleetsim gives a group spread over m > 1 nodes with k > 1 ranks
each k channels carrying 1/k of the data: channel c visits each node's ranks starting at local
rank c and leaves the node through local rank c's NIC — the last rank of the node's chain hands
its data over NVLink to local rank c first (NCCL's PXN; ``NCCL_CROSS_NIC=0`` keeps a ring on
one rail). Every NIC then carries one channel and every NVLink port one flow per channel, the
way NCCL reaches ~k x NIC bandwidth across nodes. A single node, one rank per node or uneven
nodes get one ring in rank order. On a full-mesh node (xGMI) one ring would use one of a GPU's
k-1 links, so channels there follow k-1 rings that together use every directed link exactly once
(:func:`ring_orders`: a decomposition of the complete directed graph into Hamiltonian cycles,
which exists for every k except 4 and 6, Tillson 1980): RCCL likewise drives all seven xGMI links
of an MI300X. Where no decomposition is found (k = 4, 6) the rings step by the strides coprime
to k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Sequence

import networkx as nx

from fleetsim.errors import FleetsimError

Flow = tuple[int, int, float] | tuple[int, int, float, int]


class CommError(FleetsimError):
    """An unknown collective, algorithm or protocol, or a group an algorithm cannot run on."""


@dataclass(frozen=True)
class Phase:
    """Concurrent flows repeated ``steps`` (latency) and ``transfers`` (bandwidth) times."""

    flows: tuple[Flow, ...]
    steps: float = 1.0
    transfers: float = 1.0
    latency: Literal["max", "mean"] = "max"


@dataclass(frozen=True)
class GroupLayout:
    """How a group's ranks sit on nodes: ``nodes[r]`` is rank r's node id (distinct ids for
    GPUs without a ``node`` attribute, e.g. on hand-built graphs)."""

    nodes: tuple[int | str, ...]
    scale_up: str = ""
    in_network_reduction: bool = False

    @property
    def size(self) -> int:
        return len(self.nodes)

    @classmethod
    def of(cls, group: Sequence[str], graph: nx.DiGraph) -> "GroupLayout":
        nodes: list[int | str] = []
        for gpu in group:
            if gpu not in graph:
                raise CommError(f"group member {gpu!r} is not a vertex of the topology")
            node = graph.nodes[gpu].get("node")
            nodes.append(gpu if node is None else node)
        return cls(tuple(nodes), str(graph.graph.get("scale_up", "")),
                   bool(graph.graph.get("in_network_reduction", False)))

    def by_node(self) -> list[list[int]]:
        """Ranks grouped by node, nodes in order of first appearance, ranks in group order."""
        groups: dict[int | str, list[int]] = {}
        for rank, node in enumerate(self.nodes):
            groups.setdefault(node, []).append(rank)
        return list(groups.values())


def ring_flows(ranks: Sequence[int], fraction: float) -> tuple[Flow, ...]:
    """Each rank sends ``fraction`` to the next one in ``ranks``, the last to the first."""
    count = len(ranks)
    if count < 2:
        return ()
    return tuple((ranks[i], ranks[(i + 1) % count], fraction) for i in range(count))


def ring_strides(k: int, scale_up: str) -> list[int]:
    """Strides of a node's channel rings: those coprime to ``k`` on a full mesh, else ``[1]``."""
    if scale_up != "full-mesh" or k < 3:
        return [1]
    return [stride for stride in range(1, k) if math.gcd(stride, k) == 1]


@lru_cache(maxsize=None)
def hamiltonian_decomposition(k: int, budget: int = 200_000) -> tuple[tuple[int, ...], ...]:
    """k-1 directed Hamiltonian cycles of the complete directed graph on ``k`` vertices that
    together use each of its k(k-1) arcs once (each cycle listed from vertex 0), or ``()`` when
    depth-first search finds none within ``budget`` extensions (none exists for k = 4, 6)."""
    if k < 3:
        return ()
    used = [[False] * k for _ in range(k)]
    cycles: list[list[int]] = []
    steps = 0

    def extend(path: list[int], seen: int) -> bool:
        nonlocal steps
        steps += 1
        if steps > budget:
            return False
        last = path[-1]
        if len(path) == k:
            if used[last][0]:
                return False
            used[last][0] = True
            cycles.append(list(path))
            if len(cycles) == k - 1 or extend([0], 1):
                return True
            cycles.pop()
            used[last][0] = False
            return False
        for following in range(1, k):
            if not seen >> following & 1 and not used[last][following]:
                used[last][following] = True
                path.append(following)
                if extend(path, seen | 1 << following):
                    return True
                path.pop()
                used[last][following] = False
        return False

    if not extend([0], 1):
        return ()
    return tuple(tuple(cycle) for cycle in cycles)


def ring_orders(k: int, scale_up: str) -> list[tuple[int, ...]]:
    """Local-index orders of a node's channel rings (module docstring): one ring ``0..k-1``, or
    on a full mesh the Hamiltonian decomposition (else the coprime strides)."""
    if scale_up != "full-mesh" or k < 3:
        return [tuple(range(k))]
    cycles = hamiltonian_decomposition(k)
    if cycles:
        return list(cycles)
    return [tuple((j * stride) % k for j in range(k)) for stride in ring_strides(k, scale_up)]


def channels(layout: GroupLayout) -> list[list[list[int]]]:
    """Per channel, per node, the node's ranks in the order that channel visits them.

    k channels (channel c starting each node at local rank c, stepping by its stride) when
    the group spans m > 1 nodes with the same k > 1 ranks each; one channel per stride on a
    single node; otherwise one channel with the ranks in group order.
    """
    nodes = layout.by_node()
    k = len(nodes[0])
    orders = ring_orders(k, layout.scale_up)
    if len(nodes) == 1:
        return [[[nodes[0][index] for index in order]] for order in orders]
    if k == 1:
        return [nodes]
    if any(len(ranks) != k for ranks in nodes):
        return [[list(range(layout.size))]]
    return [[[ranks[index] for index in _starting_at(orders[c % len(orders)], c)]
             for ranks in nodes] for c in range(k)]


def _starting_at(order: tuple[int, ...], first: int) -> tuple[int, ...]:
    """The cyclic ``order`` rotated to begin at local index ``first`` (same ring links)."""
    start = order.index(first)
    return order[start:] + order[:start]


def channel_rings(layout: GroupLayout, fraction: float) -> tuple[Flow, ...]:
    """Flows of one ring step over all channels, ``fraction`` split evenly among channels.

    Inside a node a channel's ring steps from rank to rank; across nodes the node's last rank
    sends to the next node's first rank *via* the node's first rank (PXN, module docstring).
    """
    all_channels = channels(layout)
    share = fraction / len(all_channels)
    flows: list[Flow] = []
    for nodes in all_channels:
        order = [rank for ranks in nodes for rank in ranks]
        if len(nodes) == 1:
            flows.extend(ring_flows(order, share))
            continue
        for index, ranks in enumerate(nodes):
            flows.extend((a, b, share) for a, b in zip(ranks[:-1], ranks[1:]))
            following = nodes[(index + 1) % len(nodes)][0]
            if len(ranks) > 1:
                flows.append((ranks[-1], following, share, ranks[0]))
            else:
                flows.append((ranks[-1], following, share))
    return tuple(flows)
