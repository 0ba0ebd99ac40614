"""Failure rates of causes, of the cluster and of one job's share of it (pure functions).

With exponential units, the failures of all units of all causes form one Poisson process whose
rate is the sum of the units' rates (superposition), and the failing cause is drawn in
proportion to its share. A job's MTBF is the inverse of the summed rate of the units it holds:
``1 / sum_c units_c(job) / mtbf_c``, so it falls as 1/N with job size (Kokolis et al. 2024).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from fleetsim.scenario.models import FaultCause


@dataclass(frozen=True)
class CauseRate:
    """A cause with its unit count and total failure rate (failures per second)."""

    cause: FaultCause
    units: int
    rate_per_s: float


def units_of(cause: FaultCause, nodes: int, gpus_per_node: int) -> int:
    """How many units of ``cause``'s scope ``nodes`` nodes contain."""
    return nodes * gpus_per_node if cause.scope == "gpu" else nodes


def cause_rates(causes: Sequence[FaultCause], nodes: int, gpus_per_node: int) -> list[CauseRate]:
    """Per-cause unit counts and summed rates over ``nodes`` nodes."""
    rates = []
    for cause in causes:
        count = units_of(cause, nodes, gpus_per_node)
        rates.append(CauseRate(cause, count, count / cause.mtbf))
    return rates


def mtbf_s(causes: Sequence[FaultCause], nodes: int, gpus_per_node: int) -> float:
    """Mean time between failures of ``nodes`` nodes (``inf`` with no causes)."""
    total = sum(rate.rate_per_s for rate in cause_rates(causes, nodes, gpus_per_node))
    return 1.0 / total if total > 0 else math.inf
