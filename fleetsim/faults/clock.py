"""The cluster's failure source: one SimPy process for all exponential causes (superposition).

Rather than one clock per GPU, the process draws the next failure of the whole cluster from the
summed rate, then the cause by its share of the rate and the unit uniformly among the cause's
units. A failure that lands on a node already down is dropped: this thinning makes the
process exactly that of the units that are up (exponential clocks are memoryless), so a down
node does not fail again while it is repaired. Cost: O(failures), independent of GPU count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import simpy

from fleetsim.faults.rates import cause_rates
from fleetsim.scenario.models import FaultCause


@dataclass(frozen=True)
class Failure:
    """One failure: when, why, which unit (label) and which node it takes down."""

    time_s: float
    cause: str
    node: int
    unit: str


#: Called for each failure; returns True if the failure took effect (its node was up).
FailureHandler = Callable[[Failure], bool]


def unit_label(scope: str, unit_index: int, gpus_per_node: int) -> tuple[int, str]:
    """(node index, label) for unit ``unit_index`` of a scope: ``node12`` or ``node12.gpu3``."""
    if scope == "gpu":
        node, gpu = divmod(unit_index, gpus_per_node)
        return node, f"node{node}.gpu{gpu}"
    return unit_index, f"node{unit_index}"


class ExponentialFailureClock:
    """Superposed exponential failures of every unit of every cause in the cluster."""

    def __init__(self, env: simpy.Environment, causes: Sequence[FaultCause], nodes: int,
                 gpus_per_node: int, rng: np.random.Generator, handler: FailureHandler) -> None:
        self.env = env
        self.gpus_per_node = gpus_per_node
        self.rng = rng
        self.handler = handler
        rates = [rate for rate in cause_rates(causes, nodes, gpus_per_node) if rate.rate_per_s > 0]
        self._causes = [rate.cause for rate in rates]
        self._units = np.array([rate.units for rate in rates], dtype=np.int64)
        self.total_rate = float(sum(rate.rate_per_s for rate in rates))
        self._cumulative_share = np.cumsum([rate.rate_per_s for rate in rates]) / (
            self.total_rate or 1.0)
        self.process = env.process(self._run()) if self.total_rate > 0 else None

    def _run(self):
        mean_gap = 1.0 / self.total_rate
        while True:
            yield self.env.timeout(self.rng.exponential(mean_gap))
            index = int(np.searchsorted(self._cumulative_share, self.rng.random(), side="right"))
            index = min(index, len(self._causes) - 1)
            cause = self._causes[index]
            node, label = unit_label(cause.scope, int(self.rng.integers(self._units[index])),
                                     self.gpus_per_node)
            self.handler(Failure(self.env.now, cause.name, node, label))
