"""Unit tests: routing on the built fabrics (hop counts, determinism, ECMP spread, tori)."""

from __future__ import annotations

from fleetsim.topology import Router, build_cluster, build_node_graph
from fleetsim.topology.routing import dimension_order, ecmp_pick


def test_rail_fat_tree_paths(dgx_h100):
    graph = build_cluster(dgx_h100, 31)
    router = Router(graph)
    assert router.path("n0.g2", "n9.g2") == ("n0.g2", "leaf.su0.r2", "n9.g2")  # same rail
    cross = router.path("n0.g2", "n9.g5")  # cross rail: via a spine
    assert len(cross) == 5 and graph.nodes[cross[2]]["kind"] == "spine"
    assert router.path("n3.g1", "n3.g6") == ("n3.g1", "n3.nvswitch", "n3.g6")  # NVLink


def test_three_tier_route_crosses_the_core(dgx_h100):
    graph = build_cluster(dgx_h100, 512)
    router = Router(graph)
    path = router.path("n0.g0", "n511.g0")
    assert [graph.nodes[v]["kind"] for v in path] == [
        "gpu", "leaf", "spine", "core", "spine", "leaf", "gpu"]
    assert router.hops("n0.g0", "n40.g0") == 4  # another SU of the same pod: via its spines


def test_routes_are_deterministic_and_spread_over_spines(dgx_h100):
    graph = build_cluster(dgx_h100, 31)
    first, second = Router(graph), Router(graph)
    pairs = [(f"n{i}.g0", f"n{(i * 7 + 3) % 31}.g4") for i in range(31) if i != 15]
    assert [first.path(*p) for p in pairs] == [second.path(*p) for p in pairs]
    spines = {first.path(*p)[2] for p in pairs}
    assert spines == {"spine0", "spine1", "spine2", "spine3"}


def test_ecmp_pick_is_order_independent():
    assert ecmp_pick(["b", "a", "c"], "x", "y", 1) == ecmp_pick(["c", "b", "a"], "x", "y", 1)


def test_dimension_ordered_routing_takes_the_short_way_round():
    visited = dimension_order((0, 0), (3, 2), (4, 4))
    assert visited == [(0, 0), (3, 0), (3, 1), (3, 2)]  # -1 wraps 0 -> 3; then +2
    assert dimension_order((0,), (2,), (4,)) == [(0,), (1,), (2,)]  # a tie goes the + way


def test_torus_of_nodes_route(dgx_h100):
    graph = build_cluster(dgx_h100, 16, {"type": "torus", "dims": [4, 4]})
    path = Router(graph).path("n0.g1", "n15.g1")  # (0,0) -> (3,3): 1 + 1 torus hops
    assert path == ("n0.g1", "router0", "router12", "router15", "n15.g1")


def test_chip_torus_inside_a_node(node_factory):
    graph = build_node_graph(node_factory(topology="torus", accelerators=16, dims=(4, 4)))
    assert Router(graph).path("n0.g0", "n0.g15") == ("n0.g0", "n0.g12", "n0.g15")


def test_node_without_scale_up_talks_through_the_network(node_factory):
    graph = build_cluster(node_factory(topology="none", accelerators=2), 2,
                          {"type": "single-switch"})
    assert Router(graph).path("n0.g0", "n0.g1") == ("n0.g0", "switch", "n0.g1")
