"""Route a flow between two GPUs on a topology graph: one deterministic shortest path per pair.

Rules, in order (all paths are shortest in hop count for the fabrics fleetsim builds):

1. A direct edge wins (full-mesh xGMI, hand-built graphs).
2. Two GPUs of the same node use the node's scale-up fabric: via the logical NVSwitch, or
   dimension-ordered over the chip torus/ring. Nodes without one (``none``) use the network.
3. Otherwise the network, by the graph's ``routing`` attribute:

   ``up-down``  (fat trees, single switch) go up from the source until reaching an ancestor
                of the destination (a switch from which it is reachable going only down), then
                down towards it; going up, the up-neighbours that are ancestors are preferred.
   ``torus``    (torus/ring of nodes) source -> its router, dimension-ordered routing over the
                routers (dimension 0 first; per dimension the shorter way round, a tie going
                the + way), -> destination.
   ``shortest`` (anything else) breadth-first search in which GPUs never relay traffic.

ECMP: where several next hops are equally short, the choice is made by a *stable hash* of the
endpoints and the hop index — ``zlib.crc32("src>dst#hop") mod candidates`` over the candidates
sorted by name — so a pair always takes the same path (as per-flow ECMP hashing does), runs
are reproducible (Python's own ``hash`` of a string is salted per process) and different pairs
spread over the parallel spines. NCCL's PXN (crossing rails over NVLink before the network) is
not modelled: a cross-rail flow crosses the spine, as the SuperPOD RA describes.
"""

from __future__ import annotations

import zlib
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # networkx is imported where a graph is made: loading a scenario needs none
    import networkx as nx

from fleetsim.topology.graph import SCALE_UP, TopologyError, gpu_name
from fleetsim.topology.node import index_of

Path = tuple[str, ...]


def ecmp_pick(candidates: list[str], source: str, destination: str, hop: int) -> str:
    """The stable-hash ECMP choice among ``candidates`` (module docstring)."""
    if len(candidates) == 1:
        return candidates[0]
    ordered = sorted(candidates)
    key = f"{source}>{destination}#{hop}".encode()
    return ordered[zlib.crc32(key) % len(ordered)]


def path_edges(path: Path) -> list[tuple[str, str]]:
    """The directed edges along ``path``."""
    return list(zip(path[:-1], path[1:]))


def dimension_order(start: tuple[int, ...], end: tuple[int, ...],
                    dims: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Coordinates visited from ``start`` to ``end`` by dimension-ordered torus routing."""
    current = list(start)
    visited = [tuple(current)]
    for axis, size in enumerate(dims):
        forward = (end[axis] - current[axis]) % size
        if forward == 0:
            continue
        step, count = (1, forward) if forward <= size - forward else (-1, size - forward)
        for _ in range(count):
            current[axis] = (current[axis] + step) % size
            visited.append(tuple(current))
    return visited


class Router:
    """Shortest paths on one graph, cached per (source, destination) pair.

    The graph must not change while a Router uses it (graphs are immutable once built).
    """

    def __init__(self, graph: nx.DiGraph) -> None:
        self.graph = graph
        self._paths: dict[tuple[str, str], Path] = {}
        self._ups: dict[str, list[str]] = {}
        self._downs: dict[str, list[str]] = {}
        self._below: dict[str, int] | None = None
        self._bit: dict[str, int] = {}
        self._next: dict[tuple[str, str], list[str]] = {}
        self._ancestors: dict[str, set[str]] = {}

    def path(self, source: str, destination: str) -> Path:
        """The vertices from ``source`` to ``destination`` (both included)."""
        key = (source, destination)
        cached = self._paths.get(key)
        if cached is None:
            cached = self._paths[key] = self.compute(source, destination)
        return cached

    def hops(self, source: str, destination: str) -> int:
        """Number of links on the route."""
        return len(self.path(source, destination)) - 1

    def compute(self, source: str, destination: str) -> Path:
        """The route without touching the cache (for one-off sweeps such as the diameter)."""
        graph = self.graph
        for name in (source, destination):
            if name not in graph:
                raise TopologyError(f"unknown vertex {name!r}")
        if source == destination:
            return (source,)
        if graph.has_edge(source, destination):
            return (source, destination)
        node = graph.nodes[source].get("node")
        if node is not None and node == graph.nodes[destination].get("node"):
            inside = self._inside_node(source, destination, node)
            if inside is not None:
                return inside
        routing = graph.graph.get("routing", "shortest")
        if routing == "up-down":
            return self._up_down(source, destination)
        if routing == "torus":
            return self._torus(source, destination)
        return self._shortest(source, destination, scale_up_only=False)

    # -- inside a node ------------------------------------------------------------------------

    def _inside_node(self, source: str, destination: str, node: int) -> Path | None:
        graph = self.graph
        scale_up = graph.graph.get("scale_up")
        if scale_up == "none":
            return None
        if scale_up == "nvswitch":
            return (source, f"n{node}.nvswitch", destination)
        if scale_up in ("torus", "ring"):
            dims = tuple(graph.graph["scale_up_dims"])
            visited = dimension_order(graph.nodes[source]["coords"],
                                      graph.nodes[destination]["coords"], dims)
            return tuple(gpu_name(node, index_of(coords, dims)) for coords in visited)
        try:
            return self._shortest(source, destination, scale_up_only=True)
        except TopologyError:
            return None

    # -- up-down (trees) ----------------------------------------------------------------------

    def _neighbours(self, vertex: str) -> tuple[list[str], list[str]]:
        if vertex not in self._ups:
            graph = self.graph
            level = graph.nodes[vertex]["level"]
            ups, downs = [], []
            for neighbour, edge in graph.succ[vertex].items():
                if edge.get("layer") == SCALE_UP:
                    continue
                other = graph.nodes[neighbour]["level"]
                if other > level:
                    ups.append(neighbour)
                elif other < level:
                    downs.append(neighbour)
            self._ups[vertex], self._downs[vertex] = sorted(ups), sorted(downs)
        return self._ups[vertex], self._downs[vertex]

    def _below_sets(self) -> dict[str, int]:
        """Bitset of the GPUs reachable going only down from each non-GPU vertex."""
        if self._below is None:
            graph = self.graph
            below: dict[str, int] = {}
            order = sorted(graph.nodes, key=lambda v: graph.nodes[v]["level"])
            for vertex in order:
                if graph.nodes[vertex]["kind"] == "gpu":
                    self._bit[vertex] = len(self._bit)
                    continue
                mask = 0
                for child in self._neighbours(vertex)[1]:
                    mask |= below[child] if child in below else 1 << self._bit[child]
                below[vertex] = mask
            self._below = below
        return self._below

    def _holds(self, vertex: str, destination: str) -> bool:
        below = self._below_sets()
        if vertex not in below:
            return vertex == destination
        return bool((below[vertex] >> self._bit[destination]) & 1)

    def _above(self, anchor: str) -> set[str]:
        """``anchor`` and every vertex reachable from it going only up (its ancestors)."""
        found = self._ancestors.get(anchor)
        if found is None:
            found, stack = {anchor}, [anchor]
            while stack:
                for parent in self._neighbours(stack.pop())[0]:
                    if parent not in found:
                        found.add(parent)
                        stack.append(parent)
            self._ancestors[anchor] = found
        return found

    def _next_hops(self, vertex: str, anchor: str) -> list[str]:
        """Candidates for the next hop from ``vertex`` towards the GPUs whose only uplink is
        ``anchor``. A vertex holds such a GPU exactly when it is an ancestor of the anchor, so
        the candidates depend on (vertex, anchor) alone and are cached on that pair."""
        key = (vertex, anchor)
        choices = self._next.get(key)
        if choices is None:
            ups, downs = self._neighbours(vertex)
            above = self._above(anchor)
            if vertex in above:
                choices = [v for v in downs if v in above]
            else:
                choices = [v for v in ups if v in above] or ups
            if not choices:
                raise TopologyError(f"no route from {vertex} towards {anchor}")
            self._next[key] = choices
        return choices

    def _up_down(self, source: str, destination: str) -> Path:
        anchors = self._neighbours(destination)[0]
        path, current, hop = [source], source, 0
        if len(anchors) == 1:
            anchor = anchors[0]
            while current != anchor:
                candidates = self._next_hops(current, anchor)
                current = ecmp_pick(candidates, source, destination, hop)
                path.append(current)
                hop += 1
            path.append(destination)
            return tuple(path)
        while not self._holds(current, destination):
            ups = self._neighbours(current)[0]
            if not ups:
                raise TopologyError(f"no route from {source} to {destination}")
            holding = [vertex for vertex in ups if self._holds(vertex, destination)]
            current = ecmp_pick(holding or ups, source, destination, hop)
            path.append(current)
            hop += 1
        while current != destination:
            downs = [vertex for vertex in self._neighbours(current)[1]
                     if self._holds(vertex, destination)]
            current = ecmp_pick(downs, source, destination, hop)
            path.append(current)
            hop += 1
        return tuple(path)

    # -- torus of nodes -----------------------------------------------------------------------

    def _to_router(self, gpu: str) -> list[str]:
        chain, current = [gpu], gpu
        while self.graph.nodes[current]["kind"] != "router":
            ups = self._neighbours(current)[0]
            if not ups:
                raise TopologyError(f"{gpu} has no path to a router")
            current = ups[0]
            chain.append(current)
        return chain

    def _torus(self, source: str, destination: str) -> Path:
        up, down = self._to_router(source), self._to_router(destination)
        dims = tuple(self.graph.graph["torus_dims"])
        start = self.graph.nodes[up[-1]]["coords"]
        end = self.graph.nodes[down[-1]]["coords"]
        routers = [f"router{index_of(coords, dims)}"
                   for coords in dimension_order(start, end, dims)]
        return tuple(up[:-1] + routers + down[-2::-1])

    # -- generic breadth-first search ---------------------------------------------------------

    def _shortest(self, source: str, destination: str, *, scale_up_only: bool) -> Path:
        graph = self.graph

        def relays(vertex: str) -> bool:
            return vertex == source or scale_up_only or graph.nodes[vertex].get("kind") != "gpu"

        def usable(edge: dict) -> bool:
            return not scale_up_only or edge.get("layer") == SCALE_UP

        distance = {source: 0}
        queue = deque([source])
        while queue and destination not in distance:
            vertex = queue.popleft()
            if not relays(vertex):
                continue
            for neighbour, edge in graph.succ[vertex].items():
                if neighbour not in distance and usable(edge):
                    distance[neighbour] = distance[vertex] + 1
                    queue.append(neighbour)
        if destination not in distance:
            raise TopologyError(f"no route from {source} to {destination}")
        path, current, hop = [destination], destination, distance[destination]
        while current != source:
            hop -= 1
            before = [vertex for vertex, edge in graph.pred[current].items()
                      if distance.get(vertex) == hop and relays(vertex) and usable(edge)]
            current = ecmp_pick(before, source, destination, hop)
            path.append(current)
        return tuple(reversed(path))


__all__ = ["Path", "Router", "dimension_order", "ecmp_pick", "path_edges"]
