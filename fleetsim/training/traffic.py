"""A placed training job's network footprint (comm/sharing.py): every group of each
parallelism dimension, the collective that carries its bytes, and how busy it keeps the wire.

The step model (stepmodel.py) costs rank 0's groups only; here all of a dimension's groups are
routed, since another job may share the links of any of them, and the job runs at the pace of
its slowest group.
"""

from __future__ import annotations

from typing import Sequence

import networkx as nx

from fleetsim.comm.cost import comm_model
from fleetsim.comm.sharing import Footprint, Traffic, dimension_traffic
from fleetsim.training.plan import Plan
from fleetsim.training.stepmodel import StepEstimate


def dimension_groups(plan: Plan, dimension: str) -> list[list[int]]:
    """Every group of ``dimension`` as rank lists (``dp``: the dp x cp replicas of a shard,
    as the step model reduces gradients over; ``pp``: each stage's (rank, next-stage rank))."""
    ranks = range(plan.gpus)

    def coordinate(rank: int, name: str) -> int:
        return rank // plan.stride(name) % plan.size(name)

    if dimension == "pp":
        stride = plan.stride("pp")
        return [[rank, rank + stride] for rank in ranks if coordinate(rank, "pp") < plan.pp - 1]
    if dimension == "dp":
        offsets = sorted(c * plan.stride("cp") + d * plan.stride("dp")
                         for c in range(plan.cp) for d in range(plan.size("dp")))
        starts = [rank for rank in ranks
                  if coordinate(rank, "cp") == 0 and coordinate(rank, "dp") == 0]
        return [[start + offset for offset in offsets] for start in starts]
    if dimension == "ep":
        stride = plan.stride("dp")
        return [[rank + index * stride for index in range(plan.ep)] for rank in ranks
                if coordinate(rank, "dp") % plan.ep == 0]
    stride, size = plan.stride(dimension), plan.size(dimension)
    return [[rank + index * stride for index in range(size)] for rank in ranks
            if coordinate(rank, dimension) == 0]


def job_footprint(plan: Plan, estimate: StepEstimate, graph: nx.DiGraph,
                  ranks: Sequence[str]) -> Footprint:
    """The footprint of a job with ``plan`` placed on ``ranks`` (GPU names, rank order)."""
    model = comm_model(graph)
    raw: dict[str, float] = {}
    for dimension, seconds, _hidden in estimate.comm_terms:
        raw[dimension] = raw.get(dimension, 0.0) + seconds
    traffic: dict[str, Traffic] = {}
    for dimension, op, size in estimate.collectives:
        if raw.get(dimension, 0.0) <= 0:
            continue
        groups = [[ranks[index] for index in group] for group in dimension_groups(plan, dimension)]
        groups = [group for group in groups if _spans_nodes(graph, group)]
        found = dimension_traffic(model, op, size, groups, raw[dimension], estimate.step_s)
        if found is not None:
            traffic[dimension] = found
    edges = {edge for found in traffic.values() for edge in found.flows}
    capacity = {edge: model.capacity(edge) for edge in edges}
    return Footprint(estimate.step_s, traffic, estimate.comm_terms, capacity)


def _spans_nodes(graph: nx.DiGraph, group: Sequence[str]) -> bool:
    nodes = graph.nodes
    first = nodes[group[0]].get("node")
    return first is None or any(nodes[gpu].get("node") != first for gpu in group[1:])


__all__ = ["dimension_groups", "job_footprint"]
