"""Grid carbon intensity over time and the emissions of a power draw (pure; no SimPy).

An intensity (gCO2 per kWh) is a step function of time, a
:class:`~fleetsim.power.profile.StepProfile` like the PUE's: a constant, a profile of
``[time, value]`` points (repeated every ``period``, e.g. a daily cycle), or a series read from
a CSV file (:mod:`fleetsim.carbon.series`; each value holds until the next row's time, the last
one for ever).

Emissions of a power draw that is itself a step function, ``(time_s, watts)``, are the exact
integral of power x intensity over the union of both functions' change times
(:func:`~fleetsim.power.profile.integrate_product`), with 1 kWh = 3.6e6 J: a constant
intensity ``I`` gives ``energy_kWh x I`` exactly.
"""

from __future__ import annotations

import numpy as np

from fleetsim.power.profile import StepProfile, integrate_product

JOULES_PER_KWH = 3.6e6


def emissions_g(intensity: StepProfile, times_s, watts, end_s: float) -> float:
    """Grams of CO2 of a draw of ``watts[i]`` from ``times_s[i]`` to the next time (the last
    one to ``end_s``) under ``intensity`` (gCO2/kWh)."""
    times = np.asarray(times_s, dtype=np.float64)
    power = np.asarray(watts, dtype=np.float64)
    if times.size != power.size or np.any(np.diff(times) < 0):
        raise ValueError("times must be ascending, one power per time")
    if times.size == 0:
        return 0.0
    return integrate_product(times, power, intensity, end_s) / JOULES_PER_KWH


def next_at_or_below(intensity: StepProfile, start_s: float, threshold: float,
                     until_s: float) -> float:
    """The first time in ``[start_s, until_s]`` at which the intensity is at or below
    ``threshold``; ``until_s`` if there is none (a deferred job's latest start)."""
    times, _values = intensity.steps(until_s)
    candidates = np.concatenate(([start_s], times[(times > start_s) & (times < until_s)]))
    low = np.flatnonzero(intensity.at(candidates) <= threshold)
    return float(candidates[low[0]]) if low.size else until_s


__all__ = ["JOULES_PER_KWH", "emissions_g", "next_at_or_below"]
