"""Unit tests: the fabric spec model and the fat-tree, torus, ring and single-switch builders."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from fleetsim.topology import (FabricSpec, TopologyError, build_cluster, fabric_spec, gpus,
                               switch_counts)


def test_spec_parses_units_and_defaults():
    spec = fabric_spec({"type": "rail-fat-tree", "link": "400Gbps", "oversubscription": 1})
    assert spec.link == pytest.approx(50e9)
    assert spec.link_latency == pytest.approx(0.5e-6)
    assert fabric_spec(None) == FabricSpec(type="rail-fat-tree")


@pytest.mark.parametrize("data, message", [
    ({"type": "ring", "dims": [4]}, "does not apply to fabric type 'ring'"),
    ({"type": "torus"}, "needs dims"),
    ({"type": "fat-tree", "su_size": 8}, "does not apply"),
    ({"type": "rail-fat-tree", "colour": "red"}, "Extra inputs"),
    ({"type": "mesh"}, "Input should be"),
    ({"type": "fat-tree", "oversubscription": 0.5}, "greater than or equal"),
])
def test_spec_rejects_bad_input(data, message):
    with pytest.raises(ValidationError, match=message):
        FabricSpec.model_validate(data)


def test_spec_is_immutable():
    with pytest.raises(ValidationError):
        FabricSpec().radix = 32  # type: ignore[misc]


def test_two_tier_fat_tree_puts_whole_nodes_under_a_leaf(dgx_h100):
    graph = build_cluster(dgx_h100, 8, {"type": "fat-tree"})
    assert switch_counts(graph) == {"nvswitch": 32, "leaf": 2, "spine": 1}
    leaves = {target for gpu in gpus(graph) if gpu.startswith("n5.")
              for target in graph.successors(gpu) if graph.nodes[target]["kind"] == "leaf"}
    assert leaves == {"leaf1"}  # 4 nodes x 8 NICs fill a leaf's 32 down ports


def test_oversubscribed_fat_tree_has_fewer_uplinks(dgx_h100):
    graph = build_cluster(dgx_h100, 12, {"type": "fat-tree", "oversubscription": 3})
    # a leaf: 48 ports down (6 nodes of 8 NICs), 16 up
    up = sum(edge["links"] for _, target, edge in graph.out_edges("leaf0", data=True)
             if graph.nodes[target]["kind"] == "spine")
    assert up == 16


def test_three_tier_fat_tree_when_asked(dgx_h100):
    graph = build_cluster(dgx_h100, 8, {"type": "fat-tree", "tiers": 3})
    assert switch_counts(graph)["core"] >= 1


def test_two_tier_tree_too_big_is_an_error(dgx_h100):
    with pytest.raises(TopologyError, match="tiers: 3"):
        build_cluster(dgx_h100, 300, {"type": "fat-tree", "tiers": 2})


def test_torus_of_nodes(dgx_h100):
    graph = build_cluster(dgx_h100, 16, {"type": "torus", "dims": [4, 4]})
    assert switch_counts(graph)["router"] == 16
    assert graph.out_degree("router0") == 4 + 8  # 4 torus neighbours + 8 GPUs
    # default link: the node's 8 x 50 GB/s spread over its 4 torus ports
    assert graph.edges["router0", "router1"]["bandwidth"] == pytest.approx(100e9)


def test_torus_dims_must_hold_the_nodes(dgx_h100):
    with pytest.raises(TopologyError, match="hold 8 nodes"):
        build_cluster(dgx_h100, 9, {"type": "torus", "dims": [2, 4]})


def test_ring_of_nodes_and_single_switch(dgx_h100):
    ring = build_cluster(dgx_h100, 5, {"type": "ring", "link": "800Gbps"})
    assert ring.has_edge("router4", "router0")
    assert ring.edges["router4", "router0"]["bandwidth"] == pytest.approx(100e9)
    star = build_cluster(dgx_h100, 3, {"type": "single-switch"})
    assert switch_counts(star) == {"nvswitch": 12, "switch": 1}


def test_shared_nics_get_their_own_vertices(node_factory):
    node = node_factory(accelerators=4, nics={"count": 2, "rate": "200Gbps"})
    graph = build_cluster(node, 2, {"type": "single-switch"})
    assert switch_counts(graph)["nic"] == 4
    assert list(graph.successors("n1.g3")) == ["n1.nvswitch", "n1.nic1"]
    assert graph.nodes["n1.g3"]["rail"] == 1


def test_multi_node_cluster_needs_nics(node_factory):
    with pytest.raises(TopologyError, match="no NICs"):
        build_cluster(node_factory(nics={}), 2)


def test_network_links_carry_the_measured_nic_efficiency(dgx_h100, node_factory):
    graph = build_cluster(dgx_h100, 2, {"type": "single-switch"})
    assert graph.edges["n0.g0", "switch"]["efficiency"] == pytest.approx(47 / 50)
    plain = build_cluster(node_factory(nics={"count": 8, "rate": "400Gbps"}), 2,
                          {"type": "single-switch", "efficiency": 0.9})
    assert plain.edges["n0.g0", "switch"]["efficiency"] == pytest.approx(0.9)


def test_scalable_unit_shrinks_for_bonded_nics(node_factory):
    """Two NICs per GPU take two leaf ports per rail: 16 node slots fill a leaf's 32 ports."""
    node = node_factory(nics={"count": 16, "rate": "400Gbps"})
    graph = build_cluster(node, 20, {"type": "rail-fat-tree"})
    assert graph.graph["scalable_units"] == 2
    assert graph.edges["n0.g0", "leaf.su0.r0"]["links"] == 2
