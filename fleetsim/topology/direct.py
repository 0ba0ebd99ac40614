"""Direct cluster fabrics: nodes on a wraparound torus (2D/3D/any) or a ring, no switches.

Each node gets a router vertex ``router{i}`` (its network ports) at row-major coordinates of
``dims`` (last dimension fastest); the node's GPUs reach it through their NICs (node.py). The
router links to its +1 and -1 neighbour in every dimension of size > 1, with wraparound; a
dimension of size 2 merges both ports onto the single neighbour. A ring is the torus
``dims = (nodes,)``.

Link rate: ``link`` when given, else the node's NIC bandwidth spread over its torus ports
(``nics.count x nics.rate / ports``), so a node's injection bandwidth equals its torus
bandwidth — the way TPU-style hosts use their NICs as torus ports. Routing is
dimension-ordered (routing.py), as on real tori (Dally & Towles, ch. 14).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # networkx is imported where a graph is made: loading a scenario needs none
    import networkx as nx

from fleetsim.hardware.models import NodeType
from fleetsim.topology.graph import TopologyError, add_link, add_vertex
from fleetsim.topology.node import (add_node_fabric, attach_nics, coords_of, index_of,
                                    network_efficiency, new_cluster_graph)
from fleetsim.scenario.fabric import FabricSpec


def torus_shape(node_type: NodeType, nodes: int, spec: FabricSpec) -> tuple[int, ...]:
    """The torus dims of ``spec`` (``(nodes,)`` for a ring), checked against the cluster."""
    dims = (nodes,) if spec.type == "ring" else tuple(spec.dims)
    if math.prod(dims) != nodes:
        raise TopologyError(f"torus dims {list(dims)} hold {math.prod(dims)} nodes, the cluster "
                            f"has {nodes}")
    if node_type.nics is None:
        raise TopologyError(f"node type {node_type.name!r} has no NICs for a {spec.type} fabric")
    return dims


def build_torus(node_type: NodeType, nodes: int, spec: FabricSpec) -> nx.DiGraph:
    """Nodes on a torus of shape ``spec.dims`` (a ring when the type is ``ring``)."""
    dims = torus_shape(node_type, nodes, spec)
    graph = new_cluster_graph(node_type, nodes, spec.type, "torus", torus_dims=dims)
    efficiency = network_efficiency(node_type, spec.efficiency)
    ports = 2 * sum(1 for size in dims if size > 1)
    if spec.link is not None:
        bandwidth = spec.link
    else:
        bandwidth = node_type.nics.count * node_type.nics.rate / max(ports, 1)
    for node in range(nodes):
        add_vertex(graph, f"router{node}", "router", coords=coords_of(node, dims))
    for node in range(nodes):
        add_node_fabric(graph, node_type, node, locality=())
        attach_nics(graph, node_type, node, lambda rail, node=node: f"router{node}",
                    spec.link_latency, efficiency)
        coords = coords_of(node, dims)
        for axis, size in enumerate(dims):
            if size == 1:
                continue
            forward = list(coords)
            forward[axis] = (coords[axis] + 1) % size
            add_link(graph, f"router{node}", f"router{index_of(tuple(forward), dims)}",
                     bandwidth, spec.link_latency, efficiency=efficiency)
    return graph
