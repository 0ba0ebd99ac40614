"""Conventions every fleetsim topology graph follows: vertex names and kinds, link attributes.

A topology is a :class:`networkx.DiGraph`. Every physical link appears as **two directed edges**,
one per direction, because links are full duplex: ``bandwidth`` on an edge is the capacity of
that direction alone (bytes/s), and flows in opposite directions never share it. A DiGraph was
chosen over an undirected graph so that link sharing (comm/) can count flows per direction by
simply counting the edges on their paths.

Edge attributes (all SI):

``bandwidth``   line rate of the direction, bytes/s (parallel cables between the same two
                vertices are merged into one edge whose bandwidth is the sum, ``links`` = count;
                ECMP spreads a flow's packets over them, so they act as one fat link);
``latency``     seconds to cross the link (switch traversal + cable + NIC/PHY, split evenly
                over the two links of a switch hop);
``efficiency``  fraction of ``bandwidth`` a large NCCL transfer reaches on this link technology
                (absent = 1.0). Scale-up links default to :data:`SCALE_UP_EFFICIENCY`; network
                links to the node's measured ``nics.achievable / nics.rate`` when the catalogue
                has it, else :data:`NETWORK_EFFICIENCY`;
``layer``       ``"scale-up"`` (NVLink/xGMI/ICI inside a node) or ``"scale-out"`` (NICs and
                switches); absent = scale-out.

Vertex attributes: ``kind`` (``gpu``, ``nvswitch``, ``nic``, ``leaf``, ``spine``, ``core``,
``switch``, ``router``) and ``level`` (0 GPU, 1 NIC/NVSwitch, 2 leaf/router/switch, 3 spine,
4 core; routing goes *up* to higher levels and back down). GPUs also carry ``node`` (node
index), ``index`` (local index), ``rail`` and ``locality`` (a coarse-to-fine tuple of network
domains, e.g. ``(pod, su)``, used by packed placement).

Graph attributes (``graph.graph``): ``routing`` (``up-down``, ``torus`` or ``shortest``),
``scale_up`` (the node's intra-node topology), ``scale_up_dims``, ``torus_dims``, ``fabric``,
``node_type``, ``nodes``, ``gpus_per_node``, ``collectives`` (the node's collective-library
tuner profile, ``""`` for none) and ``in_network_reduction`` (NVLink SHARP switches). Graphs are treated as immutable once built: the
routing and costing caches in :mod:`fleetsim.topology.routing` and :mod:`fleetsim.comm` assume so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # networkx is imported where a graph is made: loading a scenario needs none
    import networkx as nx

from fleetsim.errors import FleetsimError

#: Fraction of the NVLink line rate an NCCL ring reaches at large sizes, one factor for all
#: scale-up links without a measurement. Calibrated on nccl-tests all-reduce busbw: 8x H100
#: ~370 GB/s of 450 GB/s line rate (0.82) and 8x A100 ~230 of 300 (0.77) (nccl-tests issues
#: #149, #212 via shared/REFERENCE.md [V]); 0.80 lands within 3% and 5% of the two.
SCALE_UP_EFFICIENCY = 0.80

#: Fraction of an InfiniBand/RoCE line rate reached when the node spec has no measurement:
#: NDR 46-48 of 50 GB/s, HDR ~24 of 25 GB/s (nccl-tests issues #290, #160 [V]).
NETWORK_EFFICIENCY = 0.94

SCALE_UP = "scale-up"
SCALE_OUT = "scale-out"

LEVELS = {"gpu": 0, "nic": 1, "nvswitch": 1, "leaf": 2, "router": 2, "switch": 2,
          "spine": 3, "core": 4}


class TopologyError(FleetsimError):
    """A fabric that cannot be built or routed, or a placement that cannot be satisfied."""


def gpu_name(node: int, index: int) -> str:
    """The vertex name of GPU ``index`` of node ``node``: ``"n12.g3"``."""
    return f"n{node}.g{index}"


def add_vertex(graph: nx.DiGraph, name: str, kind: str, **attributes: object) -> None:
    """Add a vertex of ``kind`` with its routing ``level`` and any extra attributes."""
    graph.add_node(name, kind=kind, level=LEVELS[kind], **attributes)


def add_link(graph: nx.DiGraph, u: str, v: str, bandwidth: float, latency: float, *,
             layer: str = SCALE_OUT, efficiency: float = 1.0, links: int = 1) -> None:
    """Add a full-duplex link u<->v: two directed edges, each with ``bandwidth`` bytes/s.

    ``links`` parallel cables of ``bandwidth`` each are merged into one edge of
    ``links * bandwidth``; adding the same pair again merges into the existing edge.
    """
    if bandwidth <= 0:
        raise TopologyError(f"link {u} <-> {v}: bandwidth must be > 0, got {bandwidth!r}")
    for a, b in ((u, v), (v, u)):
        if graph.has_edge(a, b):
            edge = graph.edges[a, b]
            edge["bandwidth"] += bandwidth * links
            edge["links"] += links
        else:
            graph.add_edge(a, b, bandwidth=bandwidth * links, latency=latency, layer=layer,
                           efficiency=efficiency, links=links)


def gpus(graph: nx.DiGraph) -> list[str]:
    """GPU vertices in build order (node by node, local index ascending)."""
    return [name for name, kind in graph.nodes(data="kind") if kind == "gpu"]


def effective_bandwidth(edge: dict) -> float:
    """Bytes/s a large transfer reaches on one direction of a link: bandwidth x efficiency."""
    return edge["bandwidth"] * edge.get("efficiency", 1.0)


def single_switch_graph(gpus_count: int, bandwidth: float, latency: float, *,
                        layer: str = SCALE_OUT, efficiency: float = 1.0) -> nx.DiGraph:
    """``gpus_count`` GPUs ``g0 .. g{n-1}`` on one non-blocking switch ``sw`` (a star).

    Every link has the same ``bandwidth`` and ``latency``: the uniform graph on which the
    textbook alpha-beta closed forms hold exactly (alpha = step latency + 2 x ``latency``,
    beta = 1 / (``bandwidth`` x ``efficiency``)). GPUs carry no ``node``: each is its own node.
    """
    import networkx as nx

    graph = nx.DiGraph(routing="up-down", fabric="single-switch")
    add_vertex(graph, "sw", "switch")
    for index in range(gpus_count):
        add_vertex(graph, f"g{index}", "gpu", index=index, locality=())
        add_link(graph, f"g{index}", "sw", bandwidth, latency, layer=layer, efficiency=efficiency)
    return graph
