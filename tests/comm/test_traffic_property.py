"""More ranks never mean less total traffic (a property over every registered algorithm).

Ground truth: for a fixed message size, the bytes a collective must move grow with the group
(ring all-reduce injects 2(p-1)/p x n per rank, so 2(p-1) n in all; all-gather (p-1) n; a
broadcast reaches p-1 ranks). A schedule whose total traffic shrank when a rank is added would
be dropping data. Traffic here = sum over phases of transfers x sum of flow fractions, in
units of the message size, on groups of one or eight ranks per node.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetsim.comm import ALGORITHMS, CommError, GroupLayout, algorithm, algorithm_names


def _traffic(op: str, name: str, layout: GroupLayout) -> float | None:
    try:
        phases = algorithm(op, name).phases(layout)
    except CommError:
        return None  # this algorithm does not run on this group shape
    return sum(phase.transfers * sum(flow[2] for flow in phase.flows) for phase in phases)


def _layout(ranks: int, per_node: int) -> GroupLayout:
    return GroupLayout(tuple(rank // per_node for rank in range(ranks)), "nvswitch")


CASES = [(op, name) for op in ALGORITHMS for name in algorithm_names(op) if op != "send-recv"]


@settings(max_examples=40, deadline=None)
@given(case=st.sampled_from(CASES), ranks=st.integers(2, 63), per_node=st.sampled_from([1, 8]))
def test_more_ranks_never_less_total_traffic(case, ranks, per_node):
    op, name = case
    smaller = _traffic(op, name, _layout(ranks, per_node))
    larger = _traffic(op, name, _layout(ranks + per_node, per_node))
    if smaller is not None and larger is not None:
        assert larger >= smaller - 1e-9, (op, name, ranks, per_node)


def test_ring_all_reduce_traffic_is_2_p_minus_1():
    """Patarasuk & Yuan 2009: each of p ranks sends 2(p-1)/p of the message."""
    for ranks in (2, 5, 8, 16):
        assert abs(_traffic("all-reduce", "ring", _layout(ranks, 1)) - 2 * (ranks - 1)) < 1e-9
