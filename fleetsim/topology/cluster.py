"""Build the whole cluster graph from a node type, a node count and a fabric spec.

This is the one entry point scenario code calls::

    graph = build_cluster(catalogue.node("dgx-h100"), 64, FabricSpec(type="rail-fat-tree"))

A single node with no NICs (or ``nodes == 1`` and no fabric wanted) is just the node's own
scale-up graph. Builders are registered by fabric type in :data:`BUILDERS`; adding a fabric is
one builder function, one entry here and one ``KEYS_BY_TYPE`` entry in fleetsim/scenario/fabric.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:  # networkx is imported where a graph is made: loading a scenario needs none
    import networkx as nx

from fleetsim.hardware.models import NodeType
from fleetsim.topology.direct import build_torus, torus_shape
from fleetsim.topology.graph import TopologyError
from fleetsim.topology.node import build_node_graph
from fleetsim.scenario.fabric import FabricSpec
from fleetsim.topology.trees import (build_fat_tree, build_rail_fat_tree, build_single_switch,
                                     fat_tree_localities, fat_tree_plan,
                                     rail_fat_tree_localities, rail_fat_tree_plan,
                                     scalable_unit_size)

Builder = Callable[[NodeType, int, FabricSpec], "nx.DiGraph"]

BUILDERS: dict[str, Builder] = {
    "rail-fat-tree": build_rail_fat_tree,
    "fat-tree": build_fat_tree,
    "torus": build_torus,
    "ring": build_torus,
    "single-switch": build_single_switch,
}


def fabric_spec(data: FabricSpec | Mapping[str, Any] | None) -> FabricSpec:
    """A :class:`FabricSpec` from a spec, a plain mapping (YAML), or ``None`` (the default)."""
    if data is None:
        return FabricSpec()
    if isinstance(data, FabricSpec):
        return data
    return FabricSpec.model_validate(dict(data))


def check_fabric(node_type: NodeType, nodes: int, fabric: FabricSpec | Mapping[str, Any] | None
                 ) -> None:
    """Raise :class:`TopologyError` if the fabric cannot be built, without building it
    (tree plans and torus shapes are checked; cheap at any size)."""
    spec = fabric_spec(fabric)
    if nodes == 1 and node_type.nics is None:
        return
    if spec.type == "rail-fat-tree":
        rail_fat_tree_plan(node_type, nodes, spec)
    elif spec.type == "fat-tree":
        fat_tree_plan(node_type, nodes, spec)
    elif spec.type in ("torus", "ring"):
        torus_shape(node_type, nodes, spec)


def node_localities(node_type: NodeType, nodes: int,
                    fabric: FabricSpec | Mapping[str, Any] | None) -> list[tuple]:
    """Every node's network domain, as the graph's ``locality`` attribute has it (without
    building the graph): ``(pod, su)`` on a rail fat tree, ``(pod, leaf)`` on a fat tree,
    ``()`` on fabrics without a hierarchy. Placement keeps a job inside the smallest domain
    that holds it."""
    spec = fabric_spec(fabric)
    if nodes == 1 and node_type.nics is None:
        return [()]
    if spec.type == "rail-fat-tree":
        return rail_fat_tree_localities(node_type, nodes, spec)
    if spec.type == "fat-tree":
        return fat_tree_localities(node_type, nodes, spec)
    return [()] * nodes


def leaf_groups(node_type: NodeType, nodes: int,
                fabric: FabricSpec | Mapping[str, Any] | None) -> list[tuple[int, ...]]:
    """The nodes under each leaf switch, one tuple per leaf (the blast radius of a leaf failure).

    Rail-optimised fat tree: each SU has one leaf per rail and every node of the SU has a NIC on
    each, so each of the SU's leaves reaches all of its nodes. Fat tree: ``per_leaf``
    consecutive nodes per leaf. Other fabrics have no leaf switches (:class:`TopologyError`).
    """
    spec = fabric_spec(fabric)
    if spec.type == "rail-fat-tree":
        sus, plan = rail_fat_tree_plan(node_type, nodes, spec)
        size = scalable_unit_size(node_type, spec)  # node n sits in SU n // size (trees.py)
        rails = plan.leaves // sus
        return [tuple(range(su * size, min(nodes, (su + 1) * size)))
                for su in range(sus) for _ in range(rails)]
    if spec.type == "fat-tree":
        per_leaf, _ = fat_tree_plan(node_type, nodes, spec)
        return [tuple(range(start, min(nodes, start + per_leaf)))
                for start in range(0, nodes, per_leaf)]
    raise TopologyError(f"a {spec.type} fabric has no leaf switches (scope leaf needs "
                        "type rail-fat-tree or fat-tree)")


def build_cluster(node_type: NodeType, nodes: int,
                  fabric: FabricSpec | Mapping[str, Any] | None = None) -> nx.DiGraph:
    """The cluster's topology graph: every node's GPUs and scale-up links, NICs and network."""
    if nodes < 1:
        raise TopologyError(f"a cluster needs at least one node, got {nodes}")
    spec = fabric_spec(fabric)
    if nodes == 1 and node_type.nics is None:
        return build_node_graph(node_type)
    return BUILDERS[spec.type](node_type, nodes, spec)
