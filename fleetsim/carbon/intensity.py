"""Grid carbon intensity over time and the emissions of a power draw (pure; no SimPy).

An intensity (gCO2 per kWh) is a step function of time: a constant, a daily profile of equal
pieces repeated every day (24 hourly values, or any count dividing the day), or a series read
from a CSV file (each value holds until the next row's time; the last one for ever).

Emissions of a power draw that is itself a step function, ``(time_s, watts)`` pieces, are the
exact integral ``sum over pieces of P x I x dt`` over the union of both functions' breakpoints,
converted with 1 kWh = 3.6e6 J: a constant intensity ``I`` gives ``energy_kWh x I`` exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DAY_S = 86400.0
JOULES_PER_KWH = 3.6e6


@dataclass(frozen=True)
class Intensity:
    """A step function of time: ``values[i]`` (gCO2/kWh) from ``starts_s[i]`` on; repeated
    every ``period_s`` when given, else the last value holds for ever."""

    starts_s: tuple[float, ...]
    values: tuple[float, ...]
    period_s: float | None = None

    def __post_init__(self) -> None:
        if not self.starts_s or self.starts_s[0] != 0 or len(self.starts_s) != len(self.values):
            raise ValueError("an intensity starts at time 0 with one value per start")
        if any(b <= a for a, b in zip(self.starts_s, self.starts_s[1:])):
            raise ValueError("intensity times must increase")
        if any(not math.isfinite(v) or v < 0 for v in self.values):
            raise ValueError("intensities must be finite and >= 0")
        if self.period_s is not None and self.starts_s[-1] >= self.period_s:
            raise ValueError("a periodic intensity's times must lie within its period")

    @classmethod
    def constant(cls, value: float) -> "Intensity":
        return cls((0.0,), (float(value),))

    @classmethod
    def daily(cls, values: tuple[float, ...] | list[float]) -> "Intensity":
        """Equal pieces covering a day (24 values: hourly), repeated every day."""
        width = DAY_S / len(values)
        return cls(tuple(index * width for index in range(len(values))),
                   tuple(float(v) for v in values), DAY_S)

    def at(self, time_s: float) -> float:
        """The intensity at ``time_s``."""
        return float(self.at_many(np.array([time_s]))[0])

    def at_many(self, times_s: np.ndarray) -> np.ndarray:
        """The intensity at each of ``times_s`` (vectorised)."""
        local = np.mod(times_s, self.period_s) if self.period_s is not None else times_s
        index = np.searchsorted(self.starts_s, local, side="right") - 1
        return np.asarray(self.values)[np.maximum(index, 0)]

    def breakpoints(self, start_s: float, end_s: float) -> np.ndarray:
        """Times in ``(start_s, end_s)`` at which the intensity may change, ascending."""
        starts = np.asarray(self.starts_s)
        if self.period_s is None:
            return starts[(starts > start_s) & (starts < end_s)]
        first = math.floor(start_s / self.period_s)
        last = math.floor(end_s / self.period_s)
        times = (np.arange(first, last + 1)[:, None] * self.period_s + starts[None, :]).ravel()
        return times[(times > start_s) & (times < end_s)]

    def next_at_or_below(self, start_s: float, threshold: float, until_s: float) -> float:
        """The first time in ``[start_s, until_s]`` at which the intensity is at or below
        ``threshold``; ``until_s`` if there is none (a deferred job's latest start)."""
        if self.at(start_s) <= threshold:
            return start_s
        for time in self.breakpoints(start_s, until_s):
            if self.at(float(time)) <= threshold:
                return float(time)
        return until_s


def emissions_g(intensity: Intensity, times_s, watts, end_s: float) -> float:
    """Grams of CO2 of a power draw of ``watts[i]`` from ``times_s[i]`` to the next time (the
    last one to ``end_s``): the exact integral of power x intensity (module docstring)."""
    times = np.asarray(times_s, float)
    power = np.asarray(watts, float)
    if times.size == 0 or end_s <= times[0]:
        return 0.0
    if times.size != power.size or np.any(np.diff(times) < 0):
        raise ValueError("times must be ascending, one power per time")
    cuts = np.union1d(np.append(times, end_s), intensity.breakpoints(float(times[0]), end_s))
    cuts = cuts[(cuts >= times[0]) & (cuts <= end_s)]
    lefts, widths = cuts[:-1], np.diff(cuts)
    drawn = power[np.searchsorted(times, lefts, side="right") - 1]
    grid = intensity.at_many(lefts)
    return float(np.sum(drawn * grid * widths) / JOULES_PER_KWH)


__all__ = ["DAY_S", "Intensity", "JOULES_PER_KWH", "emissions_g"]
