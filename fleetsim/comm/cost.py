"""Cost a collective on a placed group: alpha-beta with beta from the flows' paths on the graph.

For each phase of the algorithm's schedule (schedule.py), every flow is routed on the topology
(topology/routing.py). Then:

* **routing** — each flow takes its pair's route; a flow with a ``via`` rank is routed to it
  and on from it (PXN, schedule.py);
* **link sharing** — the flows of a phase that carry bytes are counted per *directed* edge; a
  flow's rate is its bottleneck share ``min over its path of bandwidth·efficiency / flows on
  the edge`` (equal shares, as concurrent NCCL channels get; a flow limited elsewhere does not
  hand its unused share back, so this is conservative next to max-min fairness);
* **beta** — the phase moves its bytes in ``size_bytes · max_f(fraction_f / rate_f) /
  protocol.bandwidth_factor`` seconds per transfer: the bottleneck flow sets the pace;
* **alpha** — per step, the protocol's step latency (network figure when the flow's path
  crosses a scale-out link, NVLink figure otherwise) plus the sum of link latencies on the
  path; a step takes the max over its flows, or the mean for pipelined rings (schedule.py).

Total: ``protocol.base(family) + Σ_phases steps·alpha + transfers·beta_time``; 0 for one rank.

**Pipelined** algorithms (registry.py ``Algorithm.pipelined``: hierarchical, NVLS-tree, direct
all-to-all) stream chunks through all their phases at once: the bandwidth term is instead
``size_bytes · max_e (Σ_flows on e transfers·fraction) / capacity_e`` — the busiest directed
link's bytes over the whole collective — while every step latency is still paid.

A flow from a rank to itself (NVLS, all_reduce.py) goes up to the rank's NVSwitch and back.

**Vendor tuners.** When the graph names a tuner profile (tuner.py; ``collectives`` in the node
type), ``auto`` considers only the algorithms that library implements, and the algorithms NCCL
models (``Algorithm.nccl_model``) are costed with NCCL's latency formulas and per-protocol
bandwidth caps applied to the graph's Simple bandwidth; the others keep the alpha-beta latency
above, plus the profile's per-call overheads.

Routing and link loads depend on the group and algorithm but not on the message size or the
protocol, so each (op, algorithm, group) is routed once into a :class:`CollectivePlan` and
cached by the graph's :class:`CommModel`; evaluating a plan is O(phases). The module-level
:func:`collective_time` keeps one CommModel per graph object in a weak dictionary (a memo, not
state: results never depend on it), so graphs must not be edited after their first costing.
"""

from __future__ import annotations

import math
import weakref
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import networkx as nx

from fleetsim.comm.protocols import PROTOCOLS, Protocol, get_protocol
from fleetsim.comm.registry import ALGORITHMS, algorithm, algorithm_names
from fleetsim.comm.schedule import CommError, Flow, GroupLayout, Phase
from fleetsim.comm.tuner import (Shape, TunerProfile, ring_ratio, tuned_bandwidth, tuned_latency,
                                 tuner)
from fleetsim.topology.graph import SCALE_UP, effective_bandwidth
from fleetsim.topology.routing import Path, Router, path_edges

Edge = tuple[str, str]


@dataclass(frozen=True)
class PhaseCost:
    """A routed phase, reduced to what the closed form needs (size- and protocol-free)."""

    steps: float
    transfers: float
    seconds_per_byte: float  # max_f fraction_f / rate_f, at protocol factor 1
    latency: str
    flows: int
    network_flows: int
    mean_path_latency: float
    max_path_latency: dict[str, float]  # by medium: "scale-up" / "network"

    def alpha(self, protocol: Protocol, family: str) -> float:
        """Seconds of latency per step under ``protocol``."""
        if self.flows == 0:
            return 0.0
        if self.latency == "mean":
            local = self.flows - self.network_flows
            step = (self.network_flows * protocol.step(family, "network")
                    + local * protocol.step(family, "scale-up")) / self.flows
            return step + self.mean_path_latency
        return max(protocol.step(family, medium) + latency
                   for medium, latency in self.max_path_latency.items())


@dataclass(frozen=True)
class CollectivePlan:
    """One (op, algorithm, group) routed on one graph; evaluate for any size and protocol.

    ``pipelined_per_byte`` is the busiest link's seconds per byte of a pipelined algorithm
    (module docstring), ``None`` otherwise. With a ``tuner`` (tuner.py) the plan is costed as
    the vendor library's tuner would, from ``shape``.
    """

    op: str
    algorithm: str
    family: str
    ranks: int
    phases: tuple[PhaseCost, ...]
    pipelined_per_byte: float | None = None
    protocols: tuple[str, ...] | None = None
    shape: Shape | None = None
    tuner: TunerProfile | None = None

    def _allowed(self, protocol: str | Protocol) -> Protocol:
        chosen = get_protocol(protocol)
        if self.protocols is not None and chosen.name not in self.protocols:
            raise CommError(f"{self.op} {self.algorithm} runs only the "
                            f"{', '.join(self.protocols)} protocol, not {chosen.name!r}")
        return chosen

    def graph_seconds_per_byte(self) -> float:
        """Seconds per byte at Simple on the graph: summed over phases, or the busiest link's."""
        if self.pipelined_per_byte is not None:
            return self.pipelined_per_byte
        return sum(phase.transfers * phase.seconds_per_byte for phase in self.phases)

    def plain_latency(self, protocol: str | Protocol = "simple") -> float:
        """The alpha-beta latency: base + Σ steps·alpha (seconds), no tuner."""
        if self.ranks < 2:
            return 0.0
        chosen = get_protocol(protocol)
        return chosen.base(self.family) + sum(phase.steps * phase.alpha(chosen, self.family)
                                              for phase in self.phases)

    def latency(self, protocol: str | Protocol = "simple", size_bytes: float = 0.0) -> float:
        """The size-independent part (seconds; the tuner's ring plateau needs the size)."""
        if self.ranks < 2:
            return 0.0
        chosen = self._allowed(protocol)
        plain = self.plain_latency(chosen)
        if self.tuner is None or self.shape is None:
            return plain
        return tuned_latency(self.tuner, self.shape, chosen.name, size_bytes, plain)

    def bandwidth_time(self, size_bytes: float, protocol: str | Protocol = "simple") -> float:
        """The size-dependent part (seconds): size x seconds per byte / protocol factor, or
        under a tuner size / the tuned bandwidth (tuner.py)."""
        chosen = self._allowed(protocol)
        per_byte = self.graph_seconds_per_byte()
        if self.tuner is None or self.shape is None or per_byte == 0 or size_bytes == 0:
            return size_bytes * per_byte / chosen.bandwidth_factor
        bandwidth = tuned_bandwidth(self.tuner, self.shape, chosen.name, 1 / per_byte,
                                    size_bytes)
        return size_bytes / bandwidth

    def time(self, size_bytes: float, protocol: str | Protocol = "simple") -> float:
        """Seconds for one collective of ``size_bytes`` (nccl-tests size convention)."""
        if self.ranks < 2:
            return 0.0
        return self.latency(protocol, size_bytes) + self.bandwidth_time(size_bytes, protocol)


@dataclass(frozen=True)
class Choice:
    """The fastest (algorithm, protocol) found by :meth:`CommModel.best`."""

    time: float
    algorithm: str
    protocol: str


def flow_rates(router: Router, pairs: Sequence[tuple[str, str]]) -> list[float]:
    """Bytes/s each of ``pairs`` (concurrent flows between vertices) gets, sharing links equally."""
    graph = router.graph
    paths = [path_edges(router.path(src, dst)) for src, dst in pairs]
    return shared_rates(paths, lambda edge: effective_bandwidth(graph.edges[edge]))


def shared_rates(paths: Sequence[Sequence[Edge]], capacity: Callable[[Edge], float]) -> list[float]:
    """Bytes/s of concurrent flows along ``paths`` (edge lists): each edge's ``capacity``
    shared equally by the paths crossing it, each flow taking its bottleneck share."""
    load = Counter(edge for path in paths for edge in path)
    return [min((capacity(edge) / load[edge] for edge in path), default=math.inf)
            for path in paths]


@dataclass(frozen=True)
class PathInfo:
    """A routed path's directed edges, summed link latency and whether it leaves scale-up."""

    edges: tuple[Edge, ...]
    latency: float
    network: bool


class CommModel:
    """Collective costs on one graph, with routed plans cached per (op, algorithm, group)."""

    def __init__(self, graph: nx.DiGraph) -> None:
        self.graph = graph
        self.router = Router(graph)
        profile = str(graph.graph.get("collectives", "") or "")
        self.tuner: TunerProfile | None = tuner(profile) if profile else None
        self._plans: dict[tuple[str, str, tuple[str, ...]], CollectivePlan] = {}
        self._refused: dict[tuple[str, str, tuple[str, ...]], str] = {}
        self._paths: dict[Path, PathInfo] = {}
        self._capacity: dict[Edge, float] = {}

    def plan(self, op: str, algorithm_name: str, group: Sequence[str]) -> CollectivePlan:
        """The routed, size-free plan of ``algorithm_name`` for ``op`` on ``group``."""
        chosen = algorithm(op, algorithm_name)
        members = tuple(group)
        key = (op, chosen.name, members)
        plan = self._plans.get(key)
        if plan is None:
            refused = self._refused.get(key)
            if refused is not None:  # auto asks again at every size: answer from the memo
                raise CommError(refused)
            if len(set(members)) != len(members):
                raise CommError("a group lists the same GPU twice")
            layout = GroupLayout.of(members, self.graph)
            try:
                phases = chosen.phases(layout) if layout.size >= 2 else []
            except CommError as error:
                self._refused[key] = str(error)
                raise
            costed: dict[Phase, PhaseCost] = {}  # halving-doubling reuses its phases
            for phase in phases:
                if phase not in costed:
                    costed[phase] = self._cost_phase(phase, members)
            pipelined = self._busiest_link(phases, members) if chosen.pipelined else None
            network = max((cost.max_path_latency.get("network", 0.0)
                           for cost in costed.values()), default=0.0)
            family = chosen.family if chosen.nccl_model else "other"
            bus_cap = math.inf
            if self.tuner is not None and family == "tree" and layout.size >= 2:
                ring = self.plan(op, "ring", members)
                bus_cap = 1 / ring.graph_seconds_per_byte() / ring_ratio(op, layout.size)
            shape = Shape(op, family, layout.size, len(layout.by_node()) if members else 0,
                          network, bus_cap)
            plan = CollectivePlan(op, chosen.name, chosen.family, layout.size,
                                  tuple(costed[phase] for phase in phases), pipelined,
                                  chosen.protocols, shape, self.tuner)
            self._plans[key] = plan
        return plan

    def _busiest_link(self, phases: Sequence[Phase], group: Sequence[str]) -> float:
        """Seconds per byte of the most loaded directed link over all phases (pipelined)."""
        load: Counter[Edge] = Counter()
        for phase in phases:
            for flow in phase.flows:
                if flow[2] > 0:
                    for edge in self._path_info(self.flow_path(group, flow)).edges:
                        load[edge] += phase.transfers * flow[2]
        return max((bytes_ / self._capacity[edge] for edge, bytes_ in load.items()),
                   default=0.0)

    def flow_path(self, group: Sequence[str], flow: Flow) -> Path:
        """The vertices a flow ``(src, dst, fraction[, via])`` between ``group`` ranks crosses."""
        path = self.router.path
        if flow[0] == flow[1]:
            return self._through_switch(group[flow[0]])
        if len(flow) > 3:
            via = group[flow[3]]  # type: ignore[misc]
            return path(group[flow[0]], via) + path(via, group[flow[1]])[1:]
        return path(group[flow[0]], group[flow[1]])

    def path_edges(self, group: Sequence[str], flow: Flow) -> tuple[Edge, ...]:
        """The directed edges a flow between ``group`` ranks crosses."""
        return self._path_info(self.flow_path(group, flow)).edges

    def capacity(self, edge: Edge) -> float:
        """Effective bytes/s of a directed edge (bandwidth x efficiency)."""
        value = self._capacity.get(edge)
        if value is None:
            value = self._capacity[edge] = effective_bandwidth(self.graph.edges[edge])
        return value

    def _through_switch(self, gpu: str) -> Path:
        """``gpu`` up to its NVSwitch and back (a rank's flow to itself, NVLS)."""
        for neighbour in self.graph.succ[gpu]:
            if self.graph.nodes[neighbour].get("kind") == "nvswitch":
                return (gpu, neighbour, gpu)
        raise CommError(f"{gpu} has no NVSwitch to reduce through")

    def _path_info(self, path: Path) -> PathInfo:
        info = self._paths.get(path)
        if info is None:
            succ = self.graph.succ
            edges = tuple(path_edges(path))
            attributes = [succ[u][v] for u, v in edges]
            for edge, attribute in zip(edges, attributes):
                if edge not in self._capacity:
                    self._capacity[edge] = effective_bandwidth(attribute)
            info = PathInfo(edges, sum(a["latency"] for a in attributes),
                            any(a.get("layer") != SCALE_UP for a in attributes))
            self._paths[path] = info
        return info

    def _cost_phase(self, phase: Phase, group: Sequence[str]) -> PhaseCost:
        infos = [self._path_info(self.flow_path(group, flow)) for flow in phase.flows]
        carrying = [(flow[2], info) for flow, info in zip(phase.flows, infos) if flow[2] > 0]
        rates = shared_rates([info.edges for _, info in carrying], self._capacity.__getitem__)
        per_byte = max((fraction / rate for (fraction, _), rate in zip(carrying, rates)),
                       default=0.0)
        worst: dict[str, float] = {}
        for info in infos:
            medium = "network" if info.network else "scale-up"
            worst[medium] = max(worst.get(medium, 0.0), info.latency)
        flows = len(infos)
        return PhaseCost(phase.steps, phase.transfers, per_byte, phase.latency, flows,
                         sum(info.network for info in infos),
                         sum(info.latency for info in infos) / flows if flows else 0.0, worst)

    def time(self, op: str, algorithm_name: str, size_bytes: float, group: Sequence[str],
             protocol: str | Protocol = "simple") -> float:
        """Seconds for one collective; ``"auto"`` for algorithm or protocol picks the fastest."""
        if size_bytes < 0:
            raise CommError(f"size_bytes must be >= 0, got {size_bytes!r}")
        if algorithm_name == "auto" or protocol == "auto":
            algorithms = None if algorithm_name == "auto" else [algorithm_name]
            protocols = None if protocol == "auto" else [protocol]
            return self.best(op, size_bytes, group, algorithms, protocols).time
        return self.plan(op, algorithm_name, group).time(size_bytes, protocol)

    def best(self, op: str, size_bytes: float, group: Sequence[str],
             algorithms: Iterable[str] | None = None,
             protocols: Iterable[str | Protocol] | None = None) -> Choice:
        """The fastest algorithm and protocol (as NCCL's tuner picks), ties to the first listed.

        Algorithms that cannot run on the group (e.g. hierarchical with uneven nodes) are
        skipped unless named explicitly.
        """
        names = list(algorithms) if algorithms is not None else self.auto_names(op)
        best: Choice | None = None
        for name in names:
            try:
                plan = self.plan(op, name, group)
            except CommError:
                if algorithms is not None:
                    raise
                continue
            for protocol in self._protocols(plan, protocols):
                seconds = plan.time(size_bytes, protocol)
                if best is None or seconds < best.time:
                    best = Choice(seconds, plan.algorithm, get_protocol(protocol).name)
        if best is None:
            raise CommError(f"no {op} algorithm can run on this group "
                            f"(known: {', '.join(algorithm_names(op))})")
        return best

    def auto_names(self, op: str) -> list[str]:
        """The algorithms ``auto`` considers for ``op``: the tuner's library's, else all."""
        names = algorithm_names(op)
        if self.tuner is None:
            return names
        return [name for name in names
                if self.tuner.library in ALGORITHMS[op][name].libraries]

    def _protocols(self, plan: CollectivePlan,
                   protocols: Iterable[str | Protocol] | None) -> list[str | Protocol]:
        """Protocols to try: those asked for (an explicit one the algorithm cannot run is an
        error), else every protocol both the algorithm and the tuner profile run."""
        if protocols is not None:
            return list(protocols)
        names = [name for name in PROTOCOLS
                 if plan.protocols is None or name in plan.protocols]
        if self.tuner is not None:
            names = [name for name in names if name in self.tuner.protocols] or names
        return list(names)


_MODELS: "weakref.WeakKeyDictionary[nx.DiGraph, CommModel]" = weakref.WeakKeyDictionary()


def comm_model(graph: nx.DiGraph) -> CommModel:
    """The cached :class:`CommModel` of ``graph`` (created on first use)."""
    model = _MODELS.get(graph)
    if model is None:
        model = _MODELS[graph] = CommModel(graph)
    return model


def collective_time(op: str, algorithm_name: str, size_bytes: float, group: Sequence[str],
                    graph: nx.DiGraph, protocol: str | Protocol = "simple") -> float:
    """Seconds for ``op`` run by ``algorithm_name`` on ``group`` (GPU names in rank order).

    ``algorithm_name`` and ``protocol`` accept ``"auto"`` (fastest, as NCCL's tuner would
    choose). Sizes follow nccl-tests (registry.py). Raises :class:`CommError` for unknown names
    or a group the algorithm cannot run on.
    """
    return comm_model(graph).time(op, algorithm_name, size_bytes, group, protocol)


def best_collective(op: str, size_bytes: float, group: Sequence[str], graph: nx.DiGraph,
                    algorithms: Iterable[str] | None = None,
                    protocols: Iterable[str | Protocol] | None = None) -> Choice:
    """The fastest (time, algorithm, protocol) for ``op`` on ``group``."""
    return comm_model(graph).best(op, size_bytes, group, algorithms, protocols)


__all__ = ["ALGORITHMS", "Choice", "CollectivePlan", "CommModel", "PhaseCost",
           "PathInfo", "best_collective", "collective_time", "comm_model", "flow_rates",
           "shared_rates"]
