"""Failure units and rates: how many units each cause has, their rates, a job's MTBF (pure).

Units of a scope: every GPU (``gpu``), every node (``node``, and ``job``, drawn per node), every
leaf switch (``leaf``, from the fabric's plan). With exponential units all failures of all
causes form one Poisson process whose rate is the sum of the units' rates (superposition); for
Weibull and lognormal lifetimes the same sum is the long-run rate (renewal theory: a unit fails
1/MTBF times per unit time on average). A job's MTBF is the inverse of the summed rate of the
units it depends on, ``1 / sum_c units_c(job) / mtbf_c``: it falls as 1/N with job size
(Kokolis et al. 2024).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

from fleetsim.scenario.faults import FaultCause


@dataclass(frozen=True)
class FaultUnits:
    """How the cluster's failure units map onto nodes."""

    nodes: int
    gpus_per_node: int
    leaf_groups: tuple[tuple[int, ...], ...] = field(default=())

    def count(self, scope: str) -> int:
        if scope == "gpu":
            return self.nodes * self.gpus_per_node
        if scope == "leaf":
            return len(self.leaf_groups)
        return self.nodes

    def locate(self, scope: str, unit: int) -> tuple[tuple[int, ...], str]:
        """(nodes affected, label) of unit number ``unit`` of ``scope``."""
        if scope == "gpu":
            node, gpu = divmod(unit, self.gpus_per_node)
            return (node,), f"node{node}.gpu{gpu}"
        if scope == "leaf":
            return self.leaf_groups[unit], f"leaf{unit}"
        return (unit,), f"node{unit}"

    def job_units(self, scope: str, job_nodes: int) -> int:
        """Units a job on the first ``job_nodes`` nodes depends on (packed placement)."""
        if scope == "gpu":
            return job_nodes * self.gpus_per_node
        if scope == "leaf":
            return sum(1 for group in self.leaf_groups if group and group[0] < job_nodes)
        return job_nodes


@dataclass(frozen=True)
class CauseRate:
    """A cause with its unit count, per-unit MTBF and total rate (failures per second)."""

    cause: FaultCause
    units: int
    unit_mtbf_s: float
    rate_per_s: float


def cause_rates(causes: Sequence[FaultCause], units: FaultUnits) -> list[CauseRate]:
    """Per-cause unit counts and summed (long-run) rates over the cluster."""
    rates = []
    for cause in causes:
        count = units.count(cause.scope)
        mtbf = cause.unit_mtbf_s(units.gpus_per_node)
        rates.append(CauseRate(cause, count, mtbf, count / mtbf))
    return rates


def mtbf_s(causes: Sequence[FaultCause], units: FaultUnits, job_nodes: int | None = None,
           node_multiplier: float = 1.0) -> float:
    """Mean time between failures of the cluster, or of a job on ``job_nodes`` nodes
    (``inf`` with no causes). ``node_multiplier`` scales every cause but leaf switches: the
    mean rate multiplier of a node, ``1 + fraction (factor - 1)`` with bad nodes."""
    total = 0.0
    for cause in causes:
        count = (units.count(cause.scope) if job_nodes is None
                 else units.job_units(cause.scope, job_nodes))
        multiplier = 1.0 if cause.scope == "leaf" else node_multiplier
        total += multiplier * count / cause.unit_mtbf_s(units.gpus_per_node)
    return 1.0 / total if total > 0 else math.inf
