"""Summary metrics of a topology graph: switch counts per tier, bisection bandwidth, diameter.

Methods:

* **Switch counts**: vertices per kind (``leaf``, ``spine``, ``core``, ``switch``, ``router``,
  ``nic``); ``nvswitch`` counts *physical* NVSwitch chips (each logical NVSwitch vertex carries
  its node's chip count, node.py).
* **Bisection bandwidth** (bytes/s, one direction, at line rate — efficiencies are ignored, as
  in vendor figures): the maximum flow from the first half of the nodes (by node index) to the
  second half, each half joined to a super-source/sink by unlimited links (Ford-Fulkerson
  max-flow = min-cut). Each node is first contracted to one vertex (its GPUs, NVSwitch and NICs
  merged): a cut along node boundaries never crosses a node's internal links, so they cannot
  limit it, and the graph shrinks ~10x. The index split is the natural worst cut of the fabrics
  built here (it separates SUs/pods of a fat tree and is a slab cut of a torus, whose first
  dimension varies slowest). It is an upper bound on what ECMP routing delivers. With a single
  node, the node's GPUs are split in halves instead.
* **Diameter**: the most links on any route (routing.py) from a GPU of the first node to any
  GPU. Every fabric built here looks the same from each node (tree leaves are interchangeable,
  tori are vertex-transitive), so this equals the all-pairs maximum at a fraction of the cost.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # networkx is imported where a graph is made: loading a scenario needs none
    import networkx as nx

from fleetsim.topology.graph import gpus
from fleetsim.topology.routing import Router

SWITCH_KINDS = ("leaf", "spine", "core", "switch", "router", "nic")


def switch_counts(graph: nx.DiGraph) -> dict[str, int]:
    """Switches per tier (kinds present only), e.g. ``{"nvswitch": 8, "leaf": 8, "spine": 4}``."""
    counts: dict[str, int] = {}
    nvswitches = sum(attributes.get("switches", 1) for _, attributes in graph.nodes(data=True)
                     if attributes.get("kind") == "nvswitch")
    if nvswitches:
        counts["nvswitch"] = nvswitches
    for kind in SWITCH_KINDS:
        number = sum(1 for _, other in graph.nodes(data="kind") if other == kind)
        if number:
            counts[kind] = number
    return counts


def bisection_bandwidth(graph: nx.DiGraph) -> float:
    """Bytes/s across the node-index bisection at line rate (module docstring)."""
    gpu_list = gpus(graph)
    unit_of: dict[str, str] = {}
    units: list[str] = []
    node_ids = {graph.nodes[gpu].get("node") for gpu in gpu_list}
    contract = len(node_ids) > 1 and None not in node_ids
    for vertex, node in graph.nodes(data="node"):
        if contract and node is not None:
            unit = f"_unit{node}"
        else:
            unit = vertex
        unit_of[vertex] = unit
    for gpu in gpu_list:
        if unit_of[gpu] not in units:
            units.append(unit_of[gpu])
    if len(units) < 2:
        return 0.0
    import networkx as nx

    flow = nx.DiGraph()
    for u, v, bandwidth in graph.edges(data="bandwidth"):
        a, b = unit_of[u], unit_of[v]
        if a == b:
            continue
        if flow.has_edge(a, b):
            flow.edges[a, b]["capacity"] += bandwidth
        else:
            flow.add_edge(a, b, capacity=bandwidth)
    half = len(units) // 2
    for unit in units[:half]:
        flow.add_edge("_source", unit)  # no capacity attribute: unlimited
    for unit in units[half:]:
        flow.add_edge(unit, "_sink")
    return float(nx.maximum_flow_value(flow, "_source", "_sink", capacity="capacity"))


def diameter_hops(graph: nx.DiGraph) -> int:
    """Most links on a route from the first node's GPUs to any GPU (module docstring)."""
    gpu_list = gpus(graph)
    if len(gpu_list) < 2:
        return 0
    first = graph.nodes[gpu_list[0]].get("node")
    sources = [gpu for gpu in gpu_list if first is not None
               and graph.nodes[gpu].get("node") == first] or gpu_list
    router = Router(graph)
    return max(len(router.compute(source, target)) - 1
               for source in sources for target in gpu_list)


@dataclass(frozen=True)
class TopologySummary:
    """What ``fleetsim topo`` prints about a cluster graph."""

    fabric: str
    nodes: int
    gpus: int
    switches: dict[str, int] = field(default_factory=dict)
    bisection_bandwidth: float = math.nan
    diameter_hops: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(graph: nx.DiGraph, *, bisection: bool = True,
              diameter: bool = True) -> TopologySummary:
    """Counts, bisection bandwidth (bytes/s) and diameter (links) of ``graph``.

    Bisection and diameter cost seconds on fleet-scale graphs (16k GPUs); switch them off for
    a quick count.
    """
    return TopologySummary(
        fabric=str(graph.graph.get("fabric", "custom")),
        nodes=int(graph.graph.get("nodes", 0)),
        gpus=len(gpus(graph)),
        switches=switch_counts(graph),
        bisection_bandwidth=bisection_bandwidth(graph) if bisection else math.nan,
        diameter_hops=diameter_hops(graph) if diameter else 0,
    )
