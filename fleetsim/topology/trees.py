"""Switched cluster fabrics: rail-optimised fat tree (DGX SuperPOD), fat tree, single switch.

Switch tiers above the leaves (:func:`plan_tree`), for ``L`` leaves with ``u`` uplinks each and
``R``-port switches:

* **two tiers** while a spine can reach every leaf (``L <= R``): ``S = ceil(L·u / R)`` spines,
  each leaf spreading its ``u`` uplinks round-robin over all spines (``S <= u``, so every leaf
  reaches every spine and any two leaves are two hops apart);
* **three tiers** beyond (or when ``tiers: 3``): pods of ``R/2`` leaves, each pod with ``u``
  spines whose ``R/2`` down ports reach every leaf of the pod once; spine ``j`` of every pod
  sends its ``R/2`` uplinks to core group ``j`` of ``ceil(pods·(R/2)/R)`` cores. This is the
  k-ary fat tree of Al-Fares et al. (SIGCOMM 2008) cut to the pods in use.

Rail-optimised (NVIDIA DGX SuperPOD RA, network-fabrics): nodes are grouped into scalable units
(SU) of ``su_size`` = 32 node slots (fewer by default when bonded NICs need several leaf ports
per rail); each SU has one leaf per rail and rail ``r`` of every node
of the SU plugs into that leaf, so same-rail traffic inside an SU is one leaf hop and everything
else crosses the spine (or core). Leaves are built for whole SUs ("design the fabric for the full
SU"), the last SU possibly partly empty. With 64-port switches and 8 rails this reproduces the
published switch counts exactly: SUs/nodes/leaf/spine 1/31/8/4, 2/63/16/8, 4/127/32/16
(DGX H100 SuperPOD RA Table 4), 8 SUs 64/32, and from 16 SUs a core layer: 16 SUs
128/128/64, 64 SUs = 2048 nodes 512/512/256 (DGX B200 SuperPOD RA). NVIDIA's cabling of the
spine groups may differ from the pod wiring here; counts, hop counts and bisection agree.

Fat tree (``fat-tree``): top-of-rack leaves holding whole nodes (all NICs of a node on the same
leaf). With oversubscription ``o`` a leaf uses ``floor(R·o/(1+o))`` ports down and
``ceil(down/o)`` up. For ``rail-fat-tree`` the leaf has ``su_size`` ports down per rail-port and
``ceil(down/o)`` up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # networkx is imported where a graph is made: loading a scenario needs none
    import networkx as nx

from fleetsim.hardware.models import NodeType
from fleetsim.topology.graph import TopologyError, add_link, add_vertex
from fleetsim.topology.node import (add_node_fabric, attach_nics, network_efficiency,
                                    new_cluster_graph, ports_per_rail, rails_of)
from fleetsim.scenario.fabric import FabricSpec


@dataclass(frozen=True)
class TreePlan:
    """Switch counts and grouping of the tiers above ``leaves`` leaf switches."""

    tiers: int
    leaves: int
    uplinks: int
    spines: int
    cores: int
    pods: int
    leaves_per_pod: int
    spines_per_pod: int
    cores_per_group: int

    def counts(self) -> dict[str, int]:
        """Switches per tier: ``{"leaf": .., "spine": .., "core": ..}``."""
        return {"leaf": self.leaves, "spine": self.spines, "core": self.cores}


def plan_tree(leaves: int, uplinks: int, radix: int, tiers: int | None = None) -> TreePlan:
    """Spines and cores above ``leaves`` leaves of ``uplinks`` uplinks each (module docstring)."""
    if tiers is None:
        tiers = 2 if leaves <= radix else 3
    if tiers == 2:
        if leaves > radix:
            raise TopologyError(f"a two-tier tree of {radix}-port switches reaches at most "
                                f"{radix} leaves, this fabric needs {leaves} (use tiers: 3)")
        spines = math.ceil(leaves * uplinks / radix)
        return TreePlan(2, leaves, uplinks, spines, 0, 1, leaves, spines, 0)
    half = radix // 2
    if uplinks > half:
        raise TopologyError(f"{uplinks} leaf uplinks exceed a {radix}-port spine's {half} "
                            "down ports")
    pods = math.ceil(leaves / half)
    if pods > radix:
        raise TopologyError(f"{leaves} leaves need {pods} pods, more than a three-tier tree of "
                            f"{radix}-port switches reaches ({radix})")
    spines_per_pod = uplinks
    cores_per_group = math.ceil(pods * half / radix)
    return TreePlan(3, leaves, uplinks, pods * spines_per_pod, spines_per_pod * cores_per_group,
                    pods, half, spines_per_pod, cores_per_group)


def scalable_unit_size(node_type: NodeType, spec: FabricSpec) -> int:
    """Node slots per SU: ``spec.su_size``, else 32 or what a leaf's down ports hold."""
    if spec.su_size is not None:
        return spec.su_size
    o = spec.oversubscription
    down_ports = math.floor(spec.radix * o / (1 + o))
    return max(1, min(32, down_ports // max(ports_per_rail(node_type), 1)))


def rail_fat_tree_plan(node_type: NodeType, nodes: int, spec: FabricSpec) -> tuple[int, TreePlan]:
    """(number of SUs, tree plan) of a rail-optimised fat tree for ``nodes`` nodes."""
    rails = rails_of(node_type)
    if rails == 0:
        raise TopologyError(f"node type {node_type.name!r} has no NICs for a rail fat tree")
    su_size = scalable_unit_size(node_type, spec)
    down = su_size * ports_per_rail(node_type)
    uplinks = math.ceil(down / spec.oversubscription)
    if down + uplinks > spec.radix:
        raise TopologyError(f"a leaf needs {down} ports down and {uplinks} up, more than "
                            f"radix {spec.radix} (lower su_size or raise oversubscription)")
    sus = math.ceil(nodes / su_size)
    return sus, plan_tree(sus * rails, uplinks, spec.radix, spec.fixed_tiers)


def fat_tree_plan(node_type: NodeType, nodes: int, spec: FabricSpec) -> tuple[int, TreePlan]:
    """(nodes per leaf, tree plan) of a top-of-rack fat tree for ``nodes`` nodes."""
    if node_type.nics is None:
        raise TopologyError(f"node type {node_type.name!r} has no NICs for a fat tree")
    o = spec.oversubscription
    down = math.floor(spec.radix * o / (1 + o))
    node_ports = node_type.nics.count
    per_leaf = down // node_ports
    if per_leaf == 0:
        raise TopologyError(f"a node's {node_ports} NIC ports do not fit a leaf's {down} "
                            f"down ports (radix {spec.radix}); use type: rail-fat-tree")
    uplinks = math.ceil(min(down, per_leaf * node_ports) / o)
    return per_leaf, plan_tree(math.ceil(nodes / per_leaf), uplinks, spec.radix,
                               spec.fixed_tiers)


def rail_fat_tree_localities(node_type: NodeType, nodes: int,
                             spec: FabricSpec) -> list[tuple[int, int]]:
    """``(pod, su)`` of every node of a rail fat tree (node n sits in SU n // su_size)."""
    _sus, plan = rail_fat_tree_plan(node_type, nodes, spec)
    su_size = scalable_unit_size(node_type, spec)
    rails = rails_of(node_type)
    return [((node // su_size) * rails // plan.leaves_per_pod, node // su_size)
            for node in range(nodes)]


def fat_tree_localities(node_type: NodeType, nodes: int, spec: FabricSpec) -> list[tuple[int, int]]:
    """``(pod, leaf)`` of every node of a fat tree (``per_leaf`` consecutive nodes a leaf)."""
    per_leaf, plan = fat_tree_plan(node_type, nodes, spec)
    return [((node // per_leaf) // plan.leaves_per_pod, node // per_leaf)
            for node in range(nodes)]


def build_rail_fat_tree(node_type: NodeType, nodes: int, spec: FabricSpec) -> nx.DiGraph:
    """A rail-optimised fat tree of ``nodes`` nodes (module docstring)."""
    sus, plan = rail_fat_tree_plan(node_type, nodes, spec)
    rails = rails_of(node_type)
    localities = rail_fat_tree_localities(node_type, nodes, spec)
    graph = new_cluster_graph(node_type, nodes, spec.type, "up-down", tiers=plan.tiers,
                              scalable_units=sus)
    leaves = []
    for su in range(sus):
        for rail in range(rails):
            name = f"leaf.su{su}.r{rail}"
            add_vertex(graph, name, "leaf", su=su, rail=rail,
                       pod=len(leaves) // plan.leaves_per_pod)
            leaves.append(name)
    efficiency = network_efficiency(node_type, spec.efficiency)
    for node in range(nodes):
        su = localities[node][1]
        add_node_fabric(graph, node_type, node, locality=localities[node])
        attach_nics(graph, node_type, node, lambda rail, su=su: f"leaf.su{su}.r{rail}",
                    spec.link_latency, efficiency)
    _add_upper_tiers(graph, leaves, plan, node_type, spec, efficiency)
    return graph


def build_fat_tree(node_type: NodeType, nodes: int, spec: FabricSpec) -> nx.DiGraph:
    """A fat tree with whole nodes under top-of-rack leaves (module docstring)."""
    per_leaf, plan = fat_tree_plan(node_type, nodes, spec)
    graph = new_cluster_graph(node_type, nodes, spec.type, "up-down", tiers=plan.tiers)
    leaves = [f"leaf{index}" for index in range(plan.leaves)]
    for index, name in enumerate(leaves):
        add_vertex(graph, name, "leaf", pod=index // plan.leaves_per_pod)
    efficiency = network_efficiency(node_type, spec.efficiency)
    localities = fat_tree_localities(node_type, nodes, spec)
    for node in range(nodes):
        leaf = localities[node][1]
        add_node_fabric(graph, node_type, node, locality=localities[node])
        attach_nics(graph, node_type, node, lambda rail, leaf=leaf: f"leaf{leaf}",
                    spec.link_latency, efficiency)
    _add_upper_tiers(graph, leaves, plan, node_type, spec, efficiency)
    return graph


def build_single_switch(node_type: NodeType, nodes: int, spec: FabricSpec) -> nx.DiGraph:
    """Every NIC of every node on one ideal non-blocking switch ``switch``."""
    graph = new_cluster_graph(node_type, nodes, spec.type, "up-down")
    add_vertex(graph, "switch", "switch")
    efficiency = network_efficiency(node_type, spec.efficiency)
    for node in range(nodes):
        add_node_fabric(graph, node_type, node, locality=())
        attach_nics(graph, node_type, node, lambda rail: "switch", spec.link_latency,
                    efficiency)
    return graph


def _spread(uplinks: int, targets: int, offset: int) -> dict[int, int]:
    """Round-robin ``uplinks`` cables over ``targets`` switches: {target index: cables}."""
    counts: dict[int, int] = {}
    for cable in range(uplinks):
        target = (offset + cable) % targets
        counts[target] = counts.get(target, 0) + 1
    return counts


def _add_upper_tiers(graph: nx.DiGraph, leaves: list[str], plan: TreePlan,
                     node_type: NodeType, spec: FabricSpec, efficiency: float) -> None:
    assert node_type.nics is not None
    bandwidth = spec.link if spec.link is not None else node_type.nics.rate
    latency = spec.link_latency
    for pod in range(plan.pods):
        for local in range(plan.spines_per_pod):
            add_vertex(graph, f"spine{pod * plan.spines_per_pod + local}", "spine", pod=pod,
                       group=local)
    for index, leaf in enumerate(leaves):
        pod = index // plan.leaves_per_pod
        spread = _spread(plan.uplinks, plan.spines_per_pod, index * plan.uplinks)
        for local, cables in spread.items():
            add_link(graph, leaf, f"spine{pod * plan.spines_per_pod + local}", bandwidth,
                     latency, efficiency=efficiency, links=cables)
    if plan.tiers < 3:
        return
    half = spec.radix // 2
    for group in range(plan.spines_per_pod):
        for member in range(plan.cores_per_group):
            add_vertex(graph, f"core{group * plan.cores_per_group + member}", "core",
                       group=group)
    for pod in range(plan.pods):
        for group in range(plan.spines_per_pod):
            spine = f"spine{pod * plan.spines_per_pod + group}"
            for member, cables in _spread(half, plan.cores_per_group, pod * half).items():
                add_link(graph, spine, f"core{group * plan.cores_per_group + member}",
                         bandwidth, latency, efficiency=efficiency, links=cables)
