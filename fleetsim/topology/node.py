"""Build one node into a graph: its GPUs, scale-up fabric (NVSwitch, xGMI, ICI) and NIC uplinks.

Modelling choices, by ``NodeType.scale_up.topology``:

``nvswitch``   one *logical* switch vertex ``n{i}.nvswitch`` joined to every GPU by a link of
               ``bandwidth_per_accelerator`` per direction. NCCL stripes every transfer over all
               of a GPU's NVLinks, i.e. over all the physical NVSwitch chips at once, so the
               ``switches`` chips (4 on a DGX H100) act as one crossbar; splitting them into
               separate vertices with single-path routing would cut a flow's bandwidth by the
               switch count. The physical count is kept as the vertex's ``switches`` attribute.
               The per-hop ``latency`` is split evenly over the GPU->switch and switch->GPU links.
``full-mesh``  a direct link between every pair of GPUs (AMD xGMI: 7 links on an 8-GPU MI300X
               board), each ``bandwidth_per_accelerator / (k - 1)`` per direction.
``torus``      chips on a wraparound grid of shape ``dims`` (TPU ICI). Each chip has
               ``2 x len(dims > 1)`` ports of ``bandwidth_per_accelerator / ports``; a dimension
               of size 2 sends both its ports to the same neighbour (one edge of twice the
               bandwidth), a dimension of size 1 has none. Chips relay traffic (routing is
               dimension-ordered, see routing.py). GPUs carry their ``coords``.
``ring``       a torus of one dimension ``(k,)`` (``dims`` may be omitted).
``none``       no internal links: GPUs talk only through their NICs.

Links inside a node carry the fabric's measured ``efficiency`` when the catalogue gives one, else
``SCALE_UP_EFFICIENCY`` (see graph.py for the source). The graph records the node type's
``collectives`` tuner profile and whether its switches reduce in the network
(``in_network_reduction``, NVLink SHARP) for comm/.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # networkx is imported where a graph is made: loading a scenario needs none
    import networkx as nx

from fleetsim.hardware.models import NodeType
from fleetsim.topology.graph import (NETWORK_EFFICIENCY, SCALE_UP, SCALE_UP_EFFICIENCY,
                                     TopologyError, add_link, add_vertex, gpu_name)


def scale_up_dims(node_type: NodeType) -> tuple[int, ...]:
    """The chip grid of a torus/ring node (``(k,)`` for a ring without explicit dims)."""
    fabric = node_type.scale_up
    if fabric.topology not in ("torus", "ring"):
        return ()
    if fabric.dims:
        return tuple(fabric.dims)
    if fabric.topology == "torus":
        raise TopologyError(f"node type {node_type.name!r}: a torus scale-up fabric needs dims")
    return (node_type.accelerators,)


def coords_of(index: int, dims: tuple[int, ...]) -> tuple[int, ...]:
    """Row-major coordinates of ``index`` in a grid of shape ``dims`` (last dim fastest)."""
    coords = []
    for size in reversed(dims):
        coords.append(index % size)
        index //= size
    return tuple(reversed(coords))


def index_of(coords: tuple[int, ...], dims: tuple[int, ...]) -> int:
    """Inverse of :func:`coords_of`."""
    index = 0
    for coordinate, size in zip(coords, dims):
        index = index * size + coordinate
    return index


def add_node_fabric(graph: nx.DiGraph, node_type: NodeType, node: int,
                    locality: tuple[int, ...] = ()) -> list[str]:
    """Add node ``node``'s GPUs and internal links to ``graph``; return its GPU names in order."""
    fabric = node_type.scale_up
    count = node_type.accelerators
    dims = scale_up_dims(node_type)
    names = [gpu_name(node, index) for index in range(count)]
    for index, name in enumerate(names):
        extra = {"coords": coords_of(index, dims)} if dims else {}
        add_vertex(graph, name, "gpu", node=node, index=index, rail=index, locality=locality,
                   **extra)
    bandwidth, latency = fabric.bandwidth_per_accelerator, fabric.latency
    efficiency = fabric.efficiency or SCALE_UP_EFFICIENCY
    if fabric.topology == "nvswitch":
        switch = f"n{node}.nvswitch"
        add_vertex(graph, switch, "nvswitch", node=node, switches=max(fabric.switches, 1))
        for name in names:
            add_link(graph, name, switch, bandwidth, latency / 2, layer=SCALE_UP,
                     efficiency=efficiency)
    elif fabric.topology == "full-mesh" and count > 1:
        for a, b in itertools.combinations(names, 2):
            add_link(graph, a, b, bandwidth / (count - 1), latency, layer=SCALE_UP,
                     efficiency=efficiency)
    elif fabric.topology in ("torus", "ring"):
        _add_torus_links(graph, names, dims, bandwidth, latency, efficiency)
    return names


def _add_torus_links(graph: nx.DiGraph, names: list[str], dims: tuple[int, ...],
                     bandwidth: float, latency: float, efficiency: float) -> None:
    ports = 2 * sum(1 for size in dims if size > 1)
    if ports == 0:
        return
    per_port = bandwidth / ports
    for index, name in enumerate(names):
        coords = coords_of(index, dims)
        for axis, size in enumerate(dims):
            if size == 1:
                continue
            # Link each chip to its +1 neighbour; the -1 side is the neighbour's +1 link.
            # With size 2, +1 and -1 are the same chip: add_link merges both ports.
            forward = list(coords)
            forward[axis] = (coords[axis] + 1) % size
            add_link(graph, name, names[index_of(tuple(forward), dims)], per_port, latency,
                     layer=SCALE_UP, efficiency=efficiency)


def new_cluster_graph(node_type: NodeType, nodes: int, fabric: str, routing: str,
                      **attributes: object) -> nx.DiGraph:
    """An empty graph carrying the graph attributes every builder records (see graph.py)."""
    import networkx as nx

    return nx.DiGraph(routing=routing, fabric=fabric, node_type=node_type.name, nodes=nodes,
                      gpus_per_node=node_type.accelerators, scale_up=node_type.scale_up.topology,
                      scale_up_dims=scale_up_dims(node_type),
                      collectives=node_type.collectives or "",
                      in_network_reduction=node_type.scale_up.in_network_reduction,
                      **attributes)


def build_node_graph(node_type: NodeType) -> nx.DiGraph:
    """One node on its own: its GPUs and scale-up fabric (no NICs, no network)."""
    graph = new_cluster_graph(node_type, 1, "node", "shortest")
    add_node_fabric(graph, node_type, 0)
    return graph


def network_efficiency(node_type: NodeType, override: float | None = None) -> float:
    """Efficiency of network links: ``override``, else NIC achievable/rate, else the default."""
    if override is not None:
        return override
    nics = node_type.nics
    if nics is not None and nics.achievable is not None:
        return min(1.0, nics.achievable / nics.rate)
    return NETWORK_EFFICIENCY


def attach_nics(graph: nx.DiGraph, node_type: NodeType, node: int,
                switch_of_rail: Callable[[int], str], latency: float, efficiency: float) -> int:
    """Wire node ``node``'s GPUs to the network through its NICs; return the number of rails.

    ``switch_of_rail(r)`` names the first network vertex (leaf, router) of rail ``r``.
    One NIC per GPU (DGX): GPU ``g`` links to rail ``g``'s switch at the NIC rate. More NICs
    than GPUs: they are bonded, ``count // accelerators`` per GPU, one rail per GPU. Fewer NICs
    than GPUs: NIC vertices ``n{i}.nic{j}`` are shared by ``accelerators // count`` GPUs each
    (GPU->NIC link at the NIC rate; PCIe is not modelled), so those GPUs share its bandwidth.
    """
    nics = node_type.nics
    if nics is None:
        raise TopologyError(f"node type {node_type.name!r} has no NICs: a multi-node cluster "
                            "needs nics in the node spec")
    count, accelerators = nics.count, node_type.accelerators
    if count >= accelerators:
        bond = count // accelerators
        for index in range(accelerators):
            add_link(graph, gpu_name(node, index), switch_of_rail(index), nics.rate, latency,
                     efficiency=efficiency, links=bond)
        return accelerators
    for nic in range(count):
        add_vertex(graph, f"n{node}.nic{nic}", "nic", node=node, rail=nic)
        add_link(graph, f"n{node}.nic{nic}", switch_of_rail(nic), nics.rate, latency,
                 efficiency=efficiency)
    for index in range(accelerators):
        nic = index * count // accelerators
        graph.nodes[gpu_name(node, index)]["rail"] = nic
        add_link(graph, gpu_name(node, index), f"n{node}.nic{nic}", nics.rate, 0.0,
                 efficiency=efficiency)
    return count


def rails_of(node_type: NodeType) -> int:
    """Network rails of a node: one per GPU, or one per NIC when NICs are shared."""
    if node_type.nics is None:
        return 0
    return min(node_type.nics.count, node_type.accelerators)


def ports_per_rail(node_type: NodeType) -> int:
    """Switch ports one rail of one node takes (bonded NICs take several)."""
    if node_type.nics is None:
        return 0
    return max(1, node_type.nics.count // node_type.accelerators)
