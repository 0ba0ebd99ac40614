"""Step functions of time: profiles from the scenario (outside temperature, PUE) and exact
integrals of a power step function weighted by one.

A step function is held as ``(times, values)``: ``values[i]`` holds on
``[times[i], times[i+1])``, the last value until the end; ``times[0] == 0``.
"""

from __future__ import annotations

import math

import numpy as np

from fleetsim.scenario.power import PowerSpec, TimeProfile


class StepProfile:
    """A right-continuous step function of time, repeating every ``period`` if given."""

    def __init__(self, times: np.ndarray, values: np.ndarray,
                 period: float | None = None) -> None:
        self.times = np.asarray(times, dtype=np.float64)
        self.values = np.asarray(values, dtype=np.float64)
        self.period = period

    @classmethod
    def constant(cls, value: float) -> "StepProfile":
        return cls(np.zeros(1), np.array([float(value)]))

    @classmethod
    def from_spec(cls, spec: TimeProfile) -> "StepProfile":
        points = np.asarray(spec.points, dtype=np.float64)
        return cls(points[:, 0], points[:, 1], spec.period)

    def map(self, function) -> "StepProfile":
        """The profile of ``function(values)`` (vectorised) at the same times."""
        return StepProfile(self.times, function(self.values), self.period)

    def steps(self, end_s: float) -> tuple[np.ndarray, np.ndarray]:
        """The profile over ``[0, end_s)`` as (times, values), periods unrolled."""
        if self.period is None:
            inside = self.times < end_s
            inside[0] = True
            return self.times[inside], self.values[inside]
        repeats = max(1, math.ceil(end_s / self.period))
        offsets = np.repeat(np.arange(repeats) * self.period, len(self.times))
        times = np.tile(self.times, repeats) + offsets
        values = np.tile(self.values, repeats)
        inside = times < end_s
        inside[0] = True
        return times[inside], values[inside]

    def at(self, grid: np.ndarray) -> np.ndarray:
        """Values at the times ``grid``."""
        grid = np.asarray(grid, dtype=np.float64)
        phase = grid % self.period if self.period is not None else grid
        index = np.searchsorted(self.times, phase, side="right") - 1
        return self.values[np.clip(index, 0, None)]


def pue_profile(spec: PowerSpec) -> StepProfile:
    """The scenario's PUE over time: constant, or ``base + per_degree * max(0, T - above)``
    of the outside temperature profile."""
    pue = spec.pue
    if isinstance(pue, (int, float)):
        return StepProfile.constant(float(pue))
    temperature = StepProfile.from_spec(pue.temperature)
    return temperature.map(lambda celsius: pue.base + pue.per_degree
                           * np.maximum(0.0, celsius - pue.above))


def integral(times: np.ndarray, values: np.ndarray, end_s: float) -> float:
    """The integral of a step function over ``[0, end_s]``."""
    durations = np.diff(np.append(times, end_s))
    return float(np.dot(np.clip(durations, 0.0, None), values))


def merge(times_a: np.ndarray, values_a: np.ndarray, times_b: np.ndarray,
          values_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both step functions on the union of their change times: (times, a, b)."""
    times = np.union1d(times_a, times_b)
    return times, lookup(times_a, values_a, times), lookup(times_b, values_b, times)


def lookup(times: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """A step function's values at ``grid`` (0 before its first change)."""
    index = np.searchsorted(times, grid, side="right") - 1
    result = values[np.clip(index, 0, None)]
    return np.where(index >= 0, result, 0.0)


def multiply(times: np.ndarray, values: np.ndarray, profile: StepProfile,
             end_s: float) -> tuple[np.ndarray, np.ndarray]:
    """The step function ``values x profile`` over ``[0, end_s]`` (e.g. IT power x PUE)."""
    profile_times, profile_values = profile.steps(end_s)
    merged, own, weight = merge(times, values, profile_times, profile_values)
    return merged, own * weight


def integrate_product(times: np.ndarray, values: np.ndarray, profile: StepProfile,
                      end_s: float) -> float:
    """Exactly ``∫ values(t) · profile(t) dt`` over ``[0, end_s]`` (facility energy from IT
    power and PUE; grams of CO2 from power and a grid intensity in g/J)."""
    merged, product = multiply(times, values, profile, end_s)
    return integral(merged, product, end_s)
