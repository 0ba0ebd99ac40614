"""All-reduce algorithms: ring, NCCL tree, halving-doubling, recursive doubling, hierarchical.

Costs on a uniform graph (p ranks, n bytes, alpha per step, beta s/byte, no reduction cost —
NCCL fuses the reduction into the copy, so gamma = 0 here), from Thakur, Rabenseifner & Gropp
(IJHPCA 2005) and Patarasuk & Yuan (JPDC 2009), shared/REFERENCE.md:

=================================  ======================================================
ring                               2(p-1)·α + 2(p-1)/p·n·β
halving-doubling (Rabenseifner)    2 lg p·α + 2(p-1)/p·n·β                (p a power of 2)
recursive doubling                 lg p·α + lg p·n·β                      (p a power of 2)
hierarchical (k per node, m nodes) 2(k-1)α₁ + 2(k-1)/k·nβ₁
                                   + 2(m-1)α₂ + 2(m-1)/m·(n/k)β₂
hierarchical, pipelined            2(k-1)α₁ + 2(m-1)α₂
                                   + max(2(k-1)/k·nβ₁, 2(m-1)/m·(n/k)β₂)
tree (NCCL, pipelined)             2((k-1)α₁ + ⌈lg m⌉α₂) + 2·n·β_bottleneck
NVLS (NVLink SHARP, one node)      α + (1 + 1/k)·n·β₁ / e_nvls
NVLS-tree (several nodes)          α + 2⌊lg m⌋α₂ + max((1 + 1/k)·n·β₁ / e_nvls, tree of n/k)
=================================  ======================================================

The hierarchical phases are pipelined (chunks stream from the intra-node reduce-scatter into
the inter-node rings and on into the all-gather, as NCCL pipelines its own algorithms): every
step latency is paid, but the bandwidth term is the busiest link's bytes over all phases.

NVLS (NCCL ≥ 2.17 on NVSwitch systems with NVLink SHARP): each GPU pushes its whole buffer into
the switch, which reduces it (``multimem.ld_reduce``), reads back its reduced 1/k shard, then
writes the shard once and the switch multicasts it to all k GPUs (``multimem.st``). Per GPU and
direction that is n + n/k bytes on its NVLink port, the flow of a rank to itself through the
switch (cost.py). ``e_nvls`` = :data:`NVLS_EFFICIENCY`, the switch's reduction throughput
relative to plain NVLink transfers, calibrated: 8x H100 NVLS busbw ~480 GB/s (nccl-tests #212,
#290 [V]) and 430 GB/s (NVIDIA/nccl #1221) against 2(k-1)/(k+1) x 450 x 0.80 = 560 GB/s
without it; 0.82 puts it at 459 GB/s. NVLS-tree runs NVLS inside each node and, pipelined with
it, one double binary tree per local rank across nodes on that rank's 1/k shard and NIC.

For p not a power of two, halving-doubling and recursive doubling first fold the
``r = p - 2^⌊lg p⌋`` extra ranks into partners (one step of n bytes) and unfold them at the
end (one more), the standard MPICH treatment: 2 extra steps of α + nβ.
"""

from __future__ import annotations

import math

from fleetsim.comm.registry import Algorithm, register
from fleetsim.comm.schedule import (CommError, Flow, GroupLayout, Phase, channel_rings, channels,
                                   ring_flows, ring_orders)


#: NVLS reduction throughput relative to plain NVLink transfers (module docstring; calibrated).
NVLS_EFFICIENCY = 0.82

NCCL_AND_RCCL = frozenset({"nccl", "rccl"})


@register
class RingAllReduce(Algorithm):
    """Reduce-scatter then all-gather around the ring: 2(p-1) steps of n/p, split over NCCL-style
    channels across nodes (schedule.channel_rings)."""

    op, name = "all-reduce", "ring"
    libraries, nccl_model = NCCL_AND_RCCL, True

    def phases(self, layout: GroupLayout) -> list[Phase]:
        p = layout.size
        steps = 2 * (p - 1)
        return [Phase(channel_rings(layout, 1 / p), steps, steps, "mean")]


def _fold(p: int) -> tuple[int, list[Phase], list[Phase]]:
    """(power of two p', fold-in phase, fold-out phase) for p ranks (module docstring)."""
    power = 1 << (p.bit_length() - 1)
    extra = p - power
    if extra == 0:
        return power, [], []
    fold_in = Phase(tuple((power + i, i, 1.0) for i in range(extra)))
    fold_out = Phase(tuple((i, power + i, 1.0) for i in range(extra)))
    return power, [fold_in], [fold_out]


def _exchange(power: int, distance: int, fraction: float) -> Phase:
    """Every rank < ``power`` swaps ``fraction`` with its partner ``rank XOR distance``."""
    return Phase(tuple((rank, rank ^ distance, fraction) for rank in range(power)))


@register
class HalvingDoublingAllReduce(Algorithm):
    """Rabenseifner: recursive-halving reduce-scatter, then recursive-doubling all-gather.

    The reduce-scatter pairs ranks at distance 1, 2, 4, ... exchanging n/2, n/4, ...: the
    biggest exchanges go to the nearest ranks (same node under packed placement); the
    all-gather retraces the distances in reverse. Same closed form as the textbook order.
    """

    op, name, aliases = "all-reduce", "halving-doubling", ("rabenseifner",)

    def phases(self, layout: GroupLayout) -> list[Phase]:
        power, fold_in, fold_out = _fold(layout.size)
        rounds = power.bit_length() - 1
        scatter = [_exchange(power, 1 << s, 1 / (2 << s)) for s in range(rounds)]
        return fold_in + scatter + scatter[::-1] + fold_out


@register
class RecursiveDoublingAllReduce(Algorithm):
    """Recursive doubling: lg p exchanges of the whole vector (latency-optimal)."""

    op, name = "all-reduce", "recursive-doubling"

    def phases(self, layout: GroupLayout) -> list[Phase]:
        power, fold_in, fold_out = _fold(layout.size)
        rounds = power.bit_length() - 1
        return fold_in + [_exchange(power, 1 << s, 1.0) for s in range(rounds)] + fold_out


def same_ranks_per_node(layout: GroupLayout, what: str) -> list[list[int]]:
    """Ranks by node; :class:`CommError` unless every node holds the same number."""
    nodes = layout.by_node()
    counts = {len(ranks) for ranks in nodes}
    if len(counts) != 1:
        raise CommError(f"{what} needs the same number of ranks on every node, "
                        f"got {sorted(counts)}")
    return nodes


@register
class HierarchicalAllReduce(Algorithm):
    """Ring reduce-scatter inside each node, ring all-reduce of each n/k shard across nodes
    (k concurrent rings, one per local rank, each on its own rail), ring all-gather inside each
    node; the three phases pipelined (module docstring). MPI-style: selectable by name."""

    op, name, pipelined = "all-reduce", "hierarchical", True

    def phases(self, layout: GroupLayout) -> list[Phase]:
        nodes = same_ranks_per_node(layout, "hierarchical all-reduce")
        m, k = len(nodes), len(nodes[0])
        phases: list[Phase] = []
        orders = ring_orders(k, layout.scale_up)  # several rings over a full mesh
        intra = tuple(flow for ranks in nodes for order in orders
                      for flow in ring_flows([ranks[index] for index in order],
                                             1 / (k * len(orders))))
        if k > 1:
            phases.append(Phase(intra, k - 1, k - 1, "mean"))
        if m > 1:
            inter = tuple(flow for local in range(k)
                          for flow in ring_flows([ranks[local] for ranks in nodes], 1 / (k * m)))
            phases.append(Phase(inter, 2 * (m - 1), 2 * (m - 1), "mean"))
        if k > 1:
            phases.append(Phase(intra, k - 1, k - 1, "mean"))
        return phases


def btree_parent(rank: int, count: int) -> int | None:
    """Parent of ``rank`` in NCCL's binary tree over ``count`` ranks (``ncclGetBtree``,
    NVIDIA/nccl src/graph/trees.cc): an in-order tree where rank r's parent is found by its
    lowest set bit, so half the tree edges join neighbouring ranks; rank 0 is the root."""
    if rank == 0:
        return None
    bit = rank & -rank
    parent = (rank ^ bit) | (bit << 1)
    return parent if parent < count else rank ^ bit


def _binary_tree_up(count: int, mirrored: bool) -> list[tuple[int, int]]:
    """(child, parent) pairs of NCCL's double binary tree (``ncclGetDtree``): the first tree is
    :func:`btree_parent`; the second mirrors it (even ``count``) or shifts it by one (odd), so
    the first tree's leaves are the second one's inner vertices (Sanders et al. 2009)."""
    def to_tree(rank: int) -> int:
        if not mirrored:
            return rank
        return count - 1 - rank if count % 2 == 0 else (rank - 1) % count

    def from_tree(position: int) -> int:
        if not mirrored:
            return position
        return count - 1 - position if count % 2 == 0 else (position + 1) % count

    pairs = []
    for rank in range(count):
        parent = btree_parent(to_tree(rank), count)
        if parent is not None:
            pairs.append((rank, from_tree(parent)))
    return pairs


@register
class TreeAllReduce(Algorithm):
    """NCCL's tree: a chain inside each node, a double binary tree across nodes, pipelined.

    Bandwidth: a reduce pass up (chains carry their channel's share; each of the two binary
    trees half of it, between the channel's node heads) then a broadcast pass down, each
    streaming its bytes once. Channels as for rings (schedule.channels): channel c's chain
    starts at local rank c, whose NIC carries that channel's tree traffic. Latency, as NCCL's
    model (tuning.cc, which uses ⌊lg m⌋): ``2((k-1)·α_intra + depth·α_inter)``, depth =
    the btree's depth ⌈lg m⌉.
    """

    op, name, family = "all-reduce", "tree", "tree"
    libraries, nccl_model = NCCL_AND_RCCL, True

    def phases(self, layout: GroupLayout) -> list[Phase]:
        all_channels = channels(layout)
        share = 1 / len(all_channels)
        up: list[Flow] = []
        for nodes in all_channels:
            up += [(ranks[i + 1], ranks[i], share)
                   for ranks in nodes for i in range(len(ranks) - 1)]
            heads = [ranks[0] for ranks in nodes]
            if len(heads) > 1:
                for mirrored in (False, True):
                    up += [(heads[child], heads[parent], share / 2)
                           for child, parent in _binary_tree_up(len(heads), mirrored)]
        down = [(dst, src, fraction) for src, dst, fraction in up]
        phases = [Phase(tuple(up), 0, 1), Phase(tuple(down), 0, 1)]
        nodes = all_channels[0]
        deepest = max(nodes, key=len)
        if len(deepest) > 1:
            chain = tuple((deepest[i + 1], deepest[i], 0.0) for i in range(len(deepest) - 1))
            phases.append(Phase(chain, 2 * (len(deepest) - 1), 0))
        heads = [ranks[0] for ranks in nodes]
        depth = (len(heads) - 1).bit_length()
        if depth:
            tree = tuple((heads[c], heads[p], 0.0) for c, p in _binary_tree_up(len(heads), False))
            phases.append(Phase(tree, 2 * depth, 0))
        return phases


def _check_nvls(layout: GroupLayout, what: str) -> list[list[int]]:
    """Ranks by node; :class:`CommError` unless the group can run NVLink SHARP."""
    if layout.scale_up != "nvswitch" or not layout.in_network_reduction:
        raise CommError(f"{what} needs NVSwitch nodes whose switches reduce in the network "
                        "(scale_up.in_network_reduction in the node type)")
    nodes = same_ranks_per_node(layout, what)
    if len(nodes[0]) < 2:
        raise CommError(f"{what} needs at least 2 ranks per node (one GPU per node has "
                        "nothing to reduce in its switch)")
    return nodes


def _through_switch(ranks: list[int]) -> list[Flow]:
    """Each rank's NVLS traffic: n (1 + 1/k) up to its switch and back (module docstring)."""
    k = len(ranks)
    return [(rank, rank, (1 + 1 / k) / NVLS_EFFICIENCY) for rank in ranks]


@register
class NvlsAllReduce(Algorithm):
    """NVLink SHARP inside one NVSwitch node (module docstring); Simple protocol only."""

    op, name, family = "all-reduce", "nvls", "nvls"
    libraries, nccl_model, protocols = frozenset({"nccl"}), True, ("simple",)

    def phases(self, layout: GroupLayout) -> list[Phase]:
        nodes = _check_nvls(layout, "nvls all-reduce")
        if len(nodes) > 1:
            raise CommError("nvls all-reduce runs inside one node (nvls-tree spans nodes)")
        return [Phase(tuple(_through_switch(nodes[0])))]


@register
class NvlsTreeAllReduce(Algorithm):
    """NVLS inside each node, pipelined with one double binary tree per local rank across
    nodes on its 1/k shard (module docstring); Simple protocol only."""

    op, name, family = "all-reduce", "nvls-tree", "nvls-tree"
    libraries, nccl_model, protocols = frozenset({"nccl"}), True, ("simple",)
    pipelined = True

    def phases(self, layout: GroupLayout) -> list[Phase]:
        nodes = _check_nvls(layout, "nvls-tree all-reduce")
        if len(nodes) < 2:
            raise CommError("nvls-tree all-reduce needs several nodes (nvls runs in one)")
        m, k = len(nodes), len(nodes[0])
        intra = [flow for ranks in nodes for flow in _through_switch(ranks)]
        up: list[Flow] = []
        for local in range(k):
            heads = [ranks[local] for ranks in nodes]
            for mirrored in (False, True):
                up += [(heads[child], heads[parent], 1 / (2 * k))
                       for child, parent in _binary_tree_up(m, mirrored)]
        down = [(dst, src, fraction) for src, dst, fraction in up]
        depth = int(math.log2(m))
        return [Phase(tuple(intra)), Phase(tuple(up), depth, 1), Phase(tuple(down), depth, 1)]
