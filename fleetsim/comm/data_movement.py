"""All-gather, reduce-scatter, all-to-all, broadcast and send-recv algorithms.

Costs on a uniform graph (p ranks, α per step, β s/byte; sizes as nccl-tests, registry.py),
Thakur, Rabenseifner & Gropp (IJHPCA 2005), shared/REFERENCE.md:

=========================  ===========================================  =======================
all-gather, ring           (p-1)·α + (p-1)/p·S·β                        S = gathered total
reduce-scatter, ring       (p-1)·α + (p-1)/p·S·β   (γ = 0)               S = total input
all-to-all, pairwise       (p-1)·α + (p-1)/p·S·β = (p-1)·α + n·β        n = bytes sent out
all-to-all, direct         α + (p-1)/p·S·β (uniform graph)               all sends at once
broadcast, binomial        ⌈lg p⌉·(α + n·β)
broadcast, ring (NCCL)     (p-1)·α + n·β           (pipelined chain)
send-recv                  α + n·β
=========================  ===========================================  =======================

Pairwise all-to-all has p-1 steps of distinct partner patterns; above
:data:`MAX_ALL_TO_ALL_PHASES` steps fleetsim costs that many evenly spaced shifts and weights
each by the steps it stands for (exact on uniform graphs, a sample of the link loads
otherwise), so a 1,024-rank expert-parallel group stays cheap to route.

``direct`` is what NCCL and RCCL run (``ncclAllToAll`` is a group of p-1 sends and receives
issued together): every block is in flight at once, so the bandwidth term is the busiest link's
bytes (a pipelined plan, cost.py), and one step latency is paid. On 2 nodes of 8 GPUs with one
47 GB/s NIC per GPU each NIC carries half of its GPU's buffer: busbw = 2 x 47 x 15/16 = 88 GB/s,
where pairwise steps, each waiting for its slowest (network) flow, reach only ~47.
"""

from __future__ import annotations

from fleetsim.comm.registry import Algorithm, check_size, register
from fleetsim.comm.schedule import GroupLayout, Phase, channel_rings

MAX_ALL_TO_ALL_PHASES = 64
NCCL_AND_RCCL = frozenset({"nccl", "rccl"})


@register
class RingAllGather(Algorithm):
    """p-1 steps, each rank forwarding one S/p block to the next (channels as all-reduce ring)."""

    op, name = "all-gather", "ring"
    libraries, nccl_model = NCCL_AND_RCCL, True

    def phases(self, layout: GroupLayout) -> list[Phase]:
        p = layout.size
        return [Phase(channel_rings(layout, 1 / p), p - 1, p - 1, "mean")]


@register
class RingReduceScatter(Algorithm):
    """p-1 steps, each rank adding one S/p block into the next's partial sum (channels)."""

    op, name = "reduce-scatter", "ring"
    libraries, nccl_model = NCCL_AND_RCCL, True

    def phases(self, layout: GroupLayout) -> list[Phase]:
        p = layout.size
        return [Phase(channel_rings(layout, 1 / p), p - 1, p - 1, "mean")]


@register
class PairwiseAllToAll(Algorithm):
    """Step s = 1..p-1: rank i sends its S/p block for rank i+s (mod p)."""

    op, name = "all-to-all", "pairwise"

    def phases(self, layout: GroupLayout) -> list[Phase]:
        p = layout.size
        shifts = list(range(1, p))
        weight = 1.0
        if len(shifts) > MAX_ALL_TO_ALL_PHASES:
            count = MAX_ALL_TO_ALL_PHASES
            shifts = sorted({1 + round(j * (p - 2) / (count - 1)) for j in range(count)})
            weight = (p - 1) / len(shifts)
        return [Phase(tuple((i, (i + s) % p, 1 / p) for i in range(p)), weight, weight)
                for s in shifts]


@register
class DirectAllToAll(Algorithm):
    """All p-1 sends at once (NCCL's grouped send/receive): the pairwise shifts as one pipelined
    plan, one step latency in all (module docstring)."""

    op, name, pipelined = "all-to-all", "direct", True
    libraries = NCCL_AND_RCCL

    def phases(self, layout: GroupLayout) -> list[Phase]:
        pairwise = PairwiseAllToAll().phases(layout)
        p = layout.size
        return [Phase(phase.flows, phase.steps / (p - 1), phase.transfers)
                for phase in pairwise]


@register
class BinomialBroadcast(Algorithm):
    """Root = rank 0; in step s every rank i < 2^s that holds the data sends it to i + 2^s."""

    op, name, family = "broadcast", "binomial", "tree"

    def phases(self, layout: GroupLayout) -> list[Phase]:
        p = layout.size
        phases = []
        span = 1
        while span < p:
            phases.append(Phase(tuple((i, i + span, 1.0) for i in range(span) if i + span < p)))
            span *= 2
        return phases


@register
class RingBroadcast(Algorithm):
    """NCCL's broadcast: the data streams down the chain 0 -> 1 -> ... -> p-1 in chunks."""

    op, name = "broadcast", "ring"
    libraries = NCCL_AND_RCCL

    def phases(self, layout: GroupLayout) -> list[Phase]:
        p = layout.size
        chain = tuple((i, i + 1, 1.0) for i in range(p - 1))
        return [Phase(chain, p - 1, 1, "mean")]


@register
class SendRecv(Algorithm):
    """Point to point: rank 0 of a two-rank group sends the message to rank 1."""

    op, name, aliases = "send-recv", "direct", ("p2p",)
    libraries = NCCL_AND_RCCL

    def phases(self, layout: GroupLayout) -> list[Phase]:
        check_size(layout, exactly=2)
        return [Phase(((0, 1, 1.0),))]
