"""The cluster's failure sources: one SimPy process for all exponential causes, one for all
ageing (Weibull, lognormal) units — never one per GPU.

Exponential causes (superposition): the next failure of the whole cluster comes after an
exponential gap at the summed rate; the cause is drawn by its share of the rate and the unit
uniformly. Units that fail faster (bad nodes, x ``factor``) are handled by thinning: candidates
are drawn at the highest multiplier and a candidate on a unit with multiplier m is kept with
probability m / max, which is exact for Poisson processes with piecewise-constant rates
(Lewis & Shedler 1979). A failure on a node already down is dropped by the handler: the same
thinning makes the process that of the units that are up. Cost: O(failures x max multiplier).

Ageing causes (renewal): every unit keeps its next failure time in one heap (initial draws
vectorised); the process pops the earliest, fires it and draws the unit's next lifetime from
that moment (a failed unit is renewed by its repair or replacement). Weibull(shape k) with
scale MTBF / Gamma(1 + 1/k); lognormal(sigma) with mu = ln(MTBF) - sigma^2 / 2, so the mean
lifetime is the cause's MTBF in both. Cost: O(units) once, then O(log units) per failure.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import simpy

from fleetsim.faults.rates import FaultUnits, cause_rates
from fleetsim.scenario.faults import FaultCause


@dataclass(frozen=True)
class Failure:
    """One failure: when, why, its blast radius (nodes) and how long until it is noticed."""

    time_s: float
    cause: str
    scope: str
    nodes: tuple[int, ...]
    unit: str
    planned: bool = False
    detection_s: float = 0.0
    silent: bool = False  # silent data corruption: found only at detection

    @property
    def node(self) -> int:
        return self.nodes[0]


#: Called for each failure; returns True if the failure took effect.
FailureHandler = Callable[[Failure], bool]
#: Rate multiplier of a node (bad nodes fail faster); 1 for most.
Multiplier = Callable[[int], float]


def _failure(env: simpy.Environment, cause: FaultCause, units: FaultUnits, unit: int,
             detection_s: float) -> Failure:
    nodes, label = units.locate(cause.scope, unit)
    detection = cause.detection if cause.detection is not None else detection_s
    return Failure(env.now, cause.name, cause.scope, nodes, label, cause.planned, detection,
                   cause.silent)


class ExponentialFailureClock:
    """Superposed exponential failures of every unit of every exponential cause."""

    def __init__(self, env: simpy.Environment, causes: Sequence[FaultCause], units: FaultUnits,
                 rng: np.random.Generator, handler: FailureHandler, *, detection_s: float,
                 multiplier: Multiplier = lambda node: 1.0, max_multiplier: float = 1.0) -> None:
        self.env, self.units, self.rng, self.handler = env, units, rng, handler
        self.detection_s = detection_s
        self.multiplier, self.max_multiplier = multiplier, max_multiplier
        rates = [rate for rate in cause_rates(
            [cause for cause in causes if cause.distribution == "exponential"], units)
            if rate.rate_per_s > 0]
        self._causes = [rate.cause for rate in rates]
        self._units = [rate.units for rate in rates]
        self.total_rate = float(sum(rate.rate_per_s for rate in rates))
        self._cumulative_share = np.cumsum([rate.rate_per_s for rate in rates]) / (
            self.total_rate or 1.0)
        self.process = env.process(self._run()) if self.total_rate > 0 else None

    def _run(self):
        mean_gap = 1.0 / (self.total_rate * self.max_multiplier)
        rng = self.rng
        while True:
            yield self.env.timeout(rng.exponential(mean_gap))
            index = int(np.searchsorted(self._cumulative_share, rng.random(), side="right"))
            index = min(index, len(self._causes) - 1)
            cause = self._causes[index]
            unit = int(rng.integers(self._units[index]))
            if self.max_multiplier > 1 and cause.scope != "leaf":
                node = self.units.locate(cause.scope, unit)[0][0]
                if rng.random() * self.max_multiplier > self.multiplier(node):
                    continue  # thinned: this unit fails at a lower rate
            self.handler(_failure(self.env, cause, self.units, unit, self.detection_s))


class RenewalFailureClock:
    """Per-unit renewal clocks (Weibull, lognormal) kept in one heap."""

    def __init__(self, env: simpy.Environment, causes: Sequence[FaultCause], units: FaultUnits,
                 rng: np.random.Generator, handler: FailureHandler, *, detection_s: float,
                 multiplier: Multiplier = lambda node: 1.0, max_multiplier: float = 1.0) -> None:
        self.env, self.units, self.rng, self.handler = env, units, rng, handler
        self.detection_s = detection_s
        self.multiplier = multiplier
        self._causes = [cause for cause in causes if cause.distribution != "exponential"]
        self._heap: list[tuple[float, int, int]] = []
        for index, cause in enumerate(self._causes):
            count = units.count(cause.scope)
            times = self._lifetimes(cause, count)
            if max_multiplier > 1 and cause.scope != "leaf":
                times /= np.array([multiplier(units.locate(cause.scope, unit)[0][0])
                                   for unit in range(count)])
            self._heap.extend(zip(times.tolist(), [index] * count, range(count)))
        heapq.heapify(self._heap)
        self.process = env.process(self._run()) if self._heap else None

    def _lifetimes(self, cause: FaultCause, size: int) -> np.ndarray:
        mean = cause.unit_mtbf_s(self.units.gpus_per_node)
        if cause.distribution == "weibull":
            return self.rng.weibull(cause.shape, size) * (mean / math.gamma(1 + 1 / cause.shape))
        mu = math.log(mean) - cause.sigma**2 / 2
        return self.rng.lognormal(mu, cause.sigma, size)

    def _run(self):
        heap = self._heap
        while True:
            time_s, index, unit = heapq.heappop(heap)
            yield self.env.timeout(time_s - self.env.now)
            cause = self._causes[index]
            failure = _failure(self.env, cause, self.units, unit, self.detection_s)
            self.handler(failure)
            factor = 1.0 if cause.scope == "leaf" else self.multiplier(failure.node)
            lifetime = float(self._lifetimes(cause, 1)[0]) / factor
            heapq.heappush(heap, (self.env.now + lifetime, index, unit))
