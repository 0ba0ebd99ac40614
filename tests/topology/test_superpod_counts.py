"""Validation: rail-optimised fat-tree switch counts against NVIDIA's DGX SuperPOD tables."""

from __future__ import annotations

import pytest

from fleetsim.topology import FabricSpec, build_cluster, rail_fat_tree_plan, switch_counts

# (nodes, SUs, leaf, spine, core)
H100_RA = [(31, 1, 8, 4, 0), (63, 2, 16, 8, 0), (127, 4, 32, 16, 0)]
B200_RA = [(256, 8, 64, 32, 0), (512, 16, 128, 128, 64), (1024, 32, 256, 256, 128),
           (2048, 64, 512, 512, 256)]


@pytest.mark.parametrize("nodes, sus, leaf, spine, core", H100_RA + B200_RA)
def test_switch_counts_match_nvidia_tables(dgx_h100, nodes, sus, leaf, spine, core):
    """Source: NVIDIA DGX H100 SuperPOD RA, network-fabrics Table 4 (1/31/8/4, 2/63/16/8,
    4/127/32/16 SUs/nodes/leaf/spine) and DGX B200 SuperPOD RA "larger SuperPOD component
    counts" (8 SU 64/32; 16 SU 128/128/64; 32 SU 256/256/128; 64 SU 512/512/256 with a core
    layer), via shared/REFERENCE.md [V]. 64-port NDR switches, 8 rails. Tolerance: exact."""
    plan_sus, plan = rail_fat_tree_plan(dgx_h100, nodes, FabricSpec())
    assert plan_sus == sus
    assert plan.counts() == {"leaf": leaf, "spine": spine, "core": core}
    assert plan.tiers == (3 if core else 2)


@pytest.mark.parametrize("nodes, sus, leaf, spine, core", H100_RA + [B200_RA[-1]])
def test_built_graph_has_the_planned_switches(dgx_h100, nodes, sus, leaf, spine, core):
    """Same tables, counted on the built graph (the 2048-node build takes about a second)."""
    counts = switch_counts(build_cluster(dgx_h100, nodes, {"type": "rail-fat-tree"}))
    expected = {"nvswitch": 4 * nodes, "leaf": leaf, "spine": spine}
    if core:
        expected["core"] = core
    assert counts == expected


@pytest.mark.parametrize("nodes", [31, 127, 512])
def test_no_switch_uses_more_ports_than_its_radix(dgx_h100, nodes):
    graph = build_cluster(dgx_h100, nodes, {"type": "rail-fat-tree"})
    for vertex, kind in graph.nodes(data="kind"):
        if kind in ("leaf", "spine", "core"):
            ports = sum(edge["links"] for _, _, edge in graph.out_edges(vertex, data=True))
            assert ports <= 64, (vertex, ports)
    # every leaf of a full SU uses all 64 ports: 32 node slots (31 used) + 32 uplinks
    leaf_uplinks = sum(edge["links"]
                       for _, target, edge in graph.out_edges("leaf.su0.r0", data=True)
                       if graph.nodes[target]["kind"] == "spine")
    assert leaf_uplinks == 32
