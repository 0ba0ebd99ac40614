"""Property tests (hypothesis): more bandwidth never slows a collective; time grows with size."""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetsim.comm import ALGORITHMS, CommError, collective_time
from fleetsim.hardware.models import NodeType
from fleetsim.topology import build_cluster, gpus

NODE = NodeType.model_validate({
    "name": "quad", "accelerator": "test-gpu", "accelerators": 4,
    "scale_up": {"topology": "nvswitch", "bandwidth_per_accelerator": "450GB/s",
                 "latency": "1us", "switches": 2},
    "nics": {"count": 4, "rate": "400Gbps"},
    "power": {"busy": "5kW", "idle": "1kW"}, "sources": ["test fixture"],
})
# 4 nodes x 4 GPUs on a two-SU rail fat tree: NVLink, same-rail, cross-rail and cross-SU paths
BASE = build_cluster(NODE, 4, {"type": "rail-fat-tree", "su_size": 2})
ALL_GPUS = gpus(BASE)
CHOICES = [(op, name) for op, table in ALGORITHMS.items() for name in sorted(table)]


def scaled(graph: nx.DiGraph, factors: list[float]) -> nx.DiGraph:
    faster = graph.copy()
    for (u, v), factor in zip(sorted(faster.edges), factors * len(faster.edges)):
        faster.edges[u, v]["bandwidth"] *= factor
    return faster


@st.composite
def cases(draw):
    op, name = draw(st.sampled_from(CHOICES))
    ranks = 2 if op == "send-recv" else draw(st.integers(2, len(ALL_GPUS)))
    order = draw(st.permutations(ALL_GPUS))
    return op, name, list(order[:ranks])


@settings(max_examples=40, deadline=None)
@given(case=cases(), size=st.floats(1.0, 1e10),
       factors=st.lists(st.floats(1.0, 8.0), min_size=1, max_size=17),
       protocol=st.sampled_from(["ll", "ll128", "simple"]))
def test_more_bandwidth_never_slows_a_collective(case, size, factors, protocol):
    op, name, group = case
    try:
        before = collective_time(op, name, size, group, BASE, protocol)
    except CommError:
        return  # e.g. hierarchical on a group with uneven nodes
    after = collective_time(op, name, size, group, scaled(BASE, factors), protocol)
    assert after <= before * (1 + 1e-12)


@settings(max_examples=40, deadline=None)
@given(case=cases(), sizes=st.lists(st.floats(0.0, 1e11), min_size=2, max_size=5),
       protocol=st.sampled_from(["ll", "ll128", "simple", "auto"]))
def test_time_is_monotone_in_message_size(case, sizes, protocol):
    op, name, group = case
    try:
        times = [collective_time(op, name, size, group, BASE, protocol) for size in sorted(sizes)]
    except CommError:
        return
    assert all(a <= b for a, b in zip(times, times[1:]))
