"""Topology: networkx graphs of nodes and fabrics, their routing, metrics and job placement.

Public API (see each module's docstring for formulas and sources)::

    build_cluster(node_type, nodes, fabric) -> nx.DiGraph        # cluster.py
    build_node_graph(node_type) -> nx.DiGraph                     # node.py
    FabricSpec                                   # fleetsim/scenario/fabric.py (cluster.fabric)
    Router(graph).path(src, dst) -> tuple[str, ...]               # routing.py
    place(graph, ranks, "packed" | "random", available=, rng=)    # placement.py
    summarize(graph) / switch_counts / bisection_bandwidth / diameter_hops   # metrics.py
"""

from __future__ import annotations

from fleetsim.topology.cluster import BUILDERS, build_cluster, fabric_spec
from fleetsim.topology.graph import (NETWORK_EFFICIENCY, SCALE_UP_EFFICIENCY, TopologyError,
                                     add_link, add_vertex, gpu_name, gpus, single_switch_graph)
from fleetsim.topology.metrics import (TopologySummary, bisection_bandwidth, diameter_hops,
                                       summarize, switch_counts)
from fleetsim.topology.node import build_node_graph
from fleetsim.topology.placement import PLACEMENTS, Placement, place, register_placement
from fleetsim.topology.routing import Router, path_edges
from fleetsim.scenario.fabric import FabricSpec
from fleetsim.topology.trees import TreePlan, fat_tree_plan, plan_tree, rail_fat_tree_plan

__all__ = [
    "BUILDERS", "FabricSpec", "NETWORK_EFFICIENCY", "PLACEMENTS", "Placement", "Router",
    "SCALE_UP_EFFICIENCY", "TopologyError", "TopologySummary", "TreePlan", "add_link",
    "add_vertex", "bisection_bandwidth", "build_cluster", "build_node_graph", "diameter_hops",
    "fabric_spec", "fat_tree_plan", "gpu_name", "gpus", "path_edges", "place", "plan_tree",
    "rail_fat_tree_plan", "register_placement", "single_switch_graph", "summarize",
    "switch_counts",
]
