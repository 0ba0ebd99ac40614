"""Link sharing *between* jobs: a job's network footprint and its slow-down under other jobs'
traffic (the shared fabric).

Within one collective, flows share links equally (cost.py). Across jobs the same rule holds,
averaged over time: job ``k`` keeps on a network link ``e`` a mean of

    load_k(e) = sum over its dimensions d of duty_{k,d} x n_{k,d}(e)

flows, where ``n_{k,d}(e)`` is how many of its dimension-``d`` flows cross ``e`` at once (all
of the job's groups of that dimension communicate together: every data-parallel replica
reduces its gradients at the same time) and ``duty_{k,d}`` the fraction of its step those
collectives are on the wire. Job ``j`` then sees ``B_j(e) = sum_{k != j} load_k(e)`` extra flows
on ``e``, and a flow of its dimension ``d`` gets

    rate = min over the flow's network links of capacity_e / (n_{j,d}(e) + B_j(e))

instead of ``capacity_e / n_{j,d}(e)``. The dimension's collectives are slowed by the ratio of
the slowest flow's time, contended over isolated (``s_d >= 1``), and the step by

    sum over the step's terms of max(0, raw x s_d - hidden) - max(0, raw - hidden)

(stepmodel.py ``comm_terms``: what compute hides stays hidden until the collective outgrows
it). This is a mean-field (fluid) model: it assumes the jobs' communication phases are not
synchronised with each other, so they overlap in proportion to their duty cycles, and it
scales the whole raw collective time (bandwidth and latency) by the bandwidth ratio, which is
conservative for latency-bound collectives. Jobs that interleave their phases on purpose
(CASSINI, Crux's priorities) would see less.

Only network links (off the scale-up domain) are shared: jobs never share a node's NVLink here
unless they share the node.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from fleetsim.comm.cost import CommModel, Edge
from fleetsim.comm.registry import algorithm
from fleetsim.comm.schedule import CommError, GroupLayout
from fleetsim.topology.graph import SCALE_UP


@dataclass(frozen=True)
class Traffic:
    """One parallelism dimension's concurrent collectives on the network.

    ``paths`` holds, per group, the network edges of each of its flows; ``flows`` the job's own
    flow count per edge while the dimension communicates; ``duty`` the share of the step."""

    paths: tuple[tuple[tuple[Edge, ...], ...], ...]
    flows: Counter
    duty: float

    def slowdown(self, background: Mapping[Edge, float], capacity: Mapping[Edge, float]) -> float:
        """Contended over isolated time of the dimension's slowest flow (>= 1)."""
        isolated = contended = 0.0
        for group in self.paths:
            for path in group:
                own = max(self.flows[edge] / capacity[edge] for edge in path)
                shared = max((self.flows[edge] + background.get(edge, 0.0)) / capacity[edge]
                             for edge in path)
                isolated, contended = max(isolated, own), max(contended, shared)
        return contended / isolated if isolated > 0 else 1.0


@dataclass(frozen=True)
class Footprint:
    """A placed job's traffic on the network and how its step responds to sharing."""

    step_s: float
    traffic: Mapping[str, Traffic]
    terms: tuple[tuple[str, float, float], ...]
    capacity: Mapping[Edge, float] = field(repr=False)

    def load(self) -> dict[Edge, float]:
        """Mean flows the job keeps on each network edge it uses (module docstring)."""
        load: Counter = Counter()
        for traffic in self.traffic.values():
            for edge, count in traffic.flows.items():
                load[edge] += traffic.duty * count
        return dict(load)

    @property
    def edges(self) -> frozenset[Edge]:
        """The network edges the job's collectives cross."""
        return frozenset(edge for traffic in self.traffic.values() for edge in traffic.flows)

    def factor(self, background: Mapping[Edge, float]) -> float:
        """Contended step over isolated step under ``background`` flows per edge (>= 1)."""
        if not background or self.step_s <= 0:
            return 1.0
        slow = {dimension: traffic.slowdown(background, self.capacity)
                for dimension, traffic in self.traffic.items()}
        extra = 0.0
        for dimension, raw, hidden in self.terms:
            s = slow.get(dimension, 1.0)
            if s > 1.0:
                extra += max(0.0, raw * s - hidden) - max(0.0, raw - hidden)
        return 1.0 + extra / self.step_s


def dimension_traffic(model: CommModel, op: str, size_bytes: float,
                      groups: Sequence[Sequence[str]], seconds: float, step_s: float
                      ) -> Traffic | None:
    """The network traffic of ``groups`` (all of a dimension's groups, GPU names in rank
    order) each running ``op`` of ``size_bytes`` with the algorithm ``auto`` picks, busy
    ``seconds`` of a ``step_s`` step; ``None`` when it stays inside scale-up domains."""
    flows: Counter = Counter()
    paths = []
    graph = model.graph
    for group in groups:
        if len(group) < 2:
            continue
        try:
            chosen = model.best(op, size_bytes, group).algorithm
        except CommError:
            continue
        phases = algorithm(op, chosen).phases(GroupLayout.of(tuple(group), graph))
        group_paths: dict[tuple[Edge, ...], None] = {}
        peak: Counter = Counter()
        for phase in phases:
            here: Counter = Counter()
            for flow in phase.flows:
                if flow[2] <= 0:
                    continue
                edges = tuple(edge for edge in model.path_edges(group, flow)
                              if graph.edges[edge].get("layer") != SCALE_UP)
                if edges:
                    group_paths[edges] = None
                    here.update(edges)
            for edge, count in here.items():
                peak[edge] = max(peak[edge], count)
        if group_paths:
            paths.append(tuple(group_paths))
            flows.update(peak)
    if not flows:
        return None
    duty = min(1.0, seconds / step_s) if step_s > 0 else 0.0
    return Traffic(tuple(paths), flows, duty)


def background_of(loads: Sequence[Mapping[Edge, float]], edges: frozenset[Edge]
                  ) -> dict[Edge, float]:
    """Sum of other jobs' mean flows on ``edges``."""
    total: dict[Edge, float] = {}
    for load in loads:
        for edge in edges:
            value = load.get(edge)
            if value:
                total[edge] = total.get(edge, 0.0) + value
    return total


__all__ = ["Footprint", "Traffic", "background_of", "dimension_traffic"]
