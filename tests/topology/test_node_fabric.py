"""Unit tests: a node's internal fabric (NVSwitch, full mesh, torus, ring, none) as a graph."""

from __future__ import annotations

import pytest

from fleetsim.topology import TopologyError, build_node_graph, gpus, switch_counts
from fleetsim.topology.graph import SCALE_UP, SCALE_UP_EFFICIENCY


def test_nvswitch_node_is_a_star_on_one_logical_switch(dgx_h100):
    graph = build_node_graph(dgx_h100)
    assert gpus(graph) == [f"n0.g{i}" for i in range(8)]
    assert graph.nodes["n0.nvswitch"]["switches"] == 4
    assert switch_counts(graph) == {"nvswitch": 4}
    assert graph.number_of_edges() == 16  # 8 full-duplex GPU<->switch links
    edge = graph.edges["n0.g3", "n0.nvswitch"]
    assert edge["bandwidth"] == pytest.approx(450e9)
    assert edge["latency"] == pytest.approx(0.5e-6)  # a 1 us switch hop split over two links
    assert edge["layer"] == SCALE_UP and edge["efficiency"] == SCALE_UP_EFFICIENCY


def test_full_mesh_links_every_pair_with_a_share_of_the_bandwidth(node_factory):
    graph = build_node_graph(node_factory(topology="full-mesh", bandwidth="448GB/s"))
    assert graph.number_of_edges() == 8 * 7
    assert graph.edges["n0.g0", "n0.g5"]["bandwidth"] == pytest.approx(64e9)


def test_torus_has_wraparound_and_per_port_bandwidth(node_factory):
    graph = build_node_graph(node_factory(topology="torus", accelerators=16, dims=(4, 4),
                                          bandwidth="240GB/s"))
    assert all(graph.out_degree(gpu) == 4 for gpu in gpus(graph))
    # n0.g0 at (0,0) wraps to (0,3) = g3 and (3,0) = g12
    assert graph.has_edge("n0.g0", "n0.g3") and graph.has_edge("n0.g0", "n0.g12")
    assert graph.edges["n0.g0", "n0.g1"]["bandwidth"] == pytest.approx(60e9)


def test_torus_dimension_of_two_merges_both_ports(node_factory):
    graph = build_node_graph(node_factory(topology="torus", accelerators=4, dims=(2, 2, 1),
                                          bandwidth="240GB/s"))
    # two dims of size > 1 -> 4 ports of 60 GB/s; size 2 sends both ports to one neighbour
    assert graph.out_degree("n0.g0") == 2
    assert graph.edges["n0.g0", "n0.g1"]["bandwidth"] == pytest.approx(120e9)
    assert graph.edges["n0.g0", "n0.g1"]["links"] == 2


def test_ring_defaults_to_one_dimension(node_factory):
    graph = build_node_graph(node_factory(topology="ring", accelerators=6))
    assert graph.has_edge("n0.g5", "n0.g0")
    assert all(graph.out_degree(gpu) == 2 for gpu in gpus(graph))


def test_torus_without_dims_is_rejected(node_factory):
    with pytest.raises(TopologyError, match="needs dims"):
        build_node_graph(node_factory(topology="torus", accelerators=4))


def test_node_without_scale_up_has_no_internal_links(node_factory):
    graph = build_node_graph(node_factory(topology="none", accelerators=2))
    assert graph.number_of_edges() == 0
