"""The ``power`` section of a scenario: facility overhead (PUE), node power per state, the
window of the power-swing statistic.

Every run computes the fleet's power and energy (fleetsim/power/); this section only changes
the figures it uses. Without it: PUE 1.0 (IT power only), node power per state derived from
the hardware catalogue (fleetsim/power/states.py), swing window 1 s.

* ``pue``: a number >= 1 (constant), or a linear function of the outside temperature
  ``pue = base + per_degree * max(0, T - above)`` with ``T`` a time profile in degrees
  Celsius (a step function: each value holds from its time to the next point; ``period``
  repeats it, e.g. ``24h`` for a daily cycle). Free cooling holds the overhead flat below
  ``above``; above it the chillers' share grows with the temperature (docs/background/power.md
  gives the model, its sources and its limits).
* ``node``: whole-node watts in a state, overriding the catalogue-derived figure
  (``compute``, ``stall``, ``loading``, ``idle``, ``down``).
* ``swing_window``: the largest rise and drop of the fleet's IT power within any window of
  this length is reported (the Llama 3 effect: a whole job stalling at once).
* ``cap``: a power cap on the cluster, each node or each accelerator that slows compute
  (:mod:`fleetsim.scenario.powercap`, :mod:`fleetsim.cluster.powercap`).
* ``rack_nodes``: nodes per rack; given, the run also reports IT power per rack
  (:mod:`fleetsim.power.racks`). More than the cluster's nodes is one rack of them all.

:class:`TimeProfile` is the shared shape of a value that changes over the run (the outside
temperature here, a grid's carbon intensity in :mod:`fleetsim.scenario.carbon`); a subclass
bounds its points' values with :func:`profile_point`.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Annotated, Any

from pydantic import BeforeValidator, Discriminator, Field, Tag, model_validator

from fleetsim import units
from fleetsim.scenario.powercap import PowerCapSpec
from fleetsim.kinds import (MAX_DURATION_S, Model, PositiveDuration, PositiveInteger, number,
                            watts)

#: Electrical power in watts, written with a unit (``700W``, ``10.2kW``, ``1.5MW``).
Watts = watts()


def _point(value: object, low: float = -math.inf, high: float = math.inf,
           unit: str = "") -> tuple[float, float]:
    """``[time, value]`` -> (seconds, float), the value within ``low``..``high`` (``unit``
    names them in the error); anything else is an error naming the shape. A value such as
    ``1e5`` (a string to YAML 1.1) is read as the number it spells."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"a profile point is [time, value], e.g. [6h, 18.5], got {value!r}")
    time_s = units.parse_duration(value[0])
    if not 0 <= time_s <= MAX_DURATION_S:
        raise ValueError(f"a profile point's time must be within 0..100y, got {value[0]!r}")
    number = value[1]
    if isinstance(number, str):
        try:
            number = float(number)
        except ValueError:
            pass
    if isinstance(number, bool) or not isinstance(number, (int, float)) \
            or not math.isfinite(number):
        raise ValueError(f"a profile point's value must be a finite number, "
                         f"got {units.shown(value[1])}")
    if not low <= number <= high:
        raise ValueError(f"the value must lie within {low:g}..{high:g} {unit}, "
                         f"got {units.shown(value[1])}")
    return time_s, float(number)


ProfilePoint = Annotated[tuple[float, float], BeforeValidator(_point)]


def profile_point(low: float, high: float, unit: str) -> Any:
    """A profile point whose value lies within ``low``..``high``. Checked point by point, so a
    value out of range is reported at its own point (``carbon.intensity.points.2``, on that
    point's line), not at the whole profile."""
    return Annotated[tuple[float, float],
                     BeforeValidator(partial(_point, low=low, high=high, unit=unit))]


#: the finest spacing of a profile's points, and the shortest period: outside temperature
#: and grid intensity come hourly or every 5 minutes; the bounds keep a profile unrolled
#: over a long run small (a year of a daily profile of minutes: 525,600 steps)
MIN_POINT_SPACING_S = 60.0
MIN_PERIOD_S = 3600.0


class TimeProfile(Model):
    """A value over the run as a step function: ``points`` are ``[time, value]`` pairs, the
    first at time 0, times increasing by at least a minute; each value holds until the next
    point (the last one until the end, or until ``period``, at least an hour, when the
    profile repeats every ``period``)."""

    points: tuple[ProfilePoint, ...] = Field(min_length=1)
    period: PositiveDuration | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "TimeProfile":
        times = [time_s for time_s, _value in self.points]
        if times[0] != 0:
            raise ValueError("the first point must be at time 0 (e.g. [0, 12.0])")
        if any(later <= earlier for earlier, later in zip(times, times[1:])):
            raise ValueError("point times must increase strictly")
        if any(later - earlier < MIN_POINT_SPACING_S for earlier, later in zip(times, times[1:])):
            raise ValueError("points must be at least 1min apart")
        if self.period is not None and self.period < MIN_PERIOD_S:
            raise ValueError(f"period must be at least 1h, got {self.period:g} s")
        if self.period is not None and times[-1] >= self.period:
            raise ValueError(f"every point must lie within the period ({self.period:g} s); "
                             f"the last is at {times[-1]:g} s")
        return self


#: outside temperatures on Earth lie within these (record low -89.2 C at Vostok, record high
#: 56.7 C in Death Valley, WMO); a value outside is a unit or sign mistake
CELSIUS_RANGE = (-90.0, 60.0)


class TemperatureProfile(TimeProfile):
    """The outside temperature over the run, degrees Celsius, every point within
    :data:`CELSIUS_RANGE`."""

    points: tuple[profile_point(*CELSIUS_RANGE, "degrees C"), ...] = Field(min_length=1)


#: no data center reports a PUE above 3 (the Uptime Institute's 2007 industry average was
#: ~2.5): a larger one is a mistake
MAX_PUE = 3.0


class TemperaturePue(Model):
    """PUE as a linear function of the outside temperature (degrees Celsius):
    ``base + per_degree * max(0, T - above)``."""

    base: number(1.0, MAX_PUE)  # PUE with free cooling (T <= above)
    per_degree: number(0.0, MAX_PUE)  # PUE added per degree above ``above``
    above: number(*CELSIUS_RANGE) = 0.0
    temperature: TemperatureProfile  # outside temperature, degrees C

    @model_validator(mode="after")
    def _plausible(self) -> "TemperaturePue":
        values = [value for _time, value in self.temperature.points]
        hottest = self.base + self.per_degree * max(0.0, max(values) - self.above)
        if hottest > MAX_PUE:
            raise ValueError(f"PUE reaches {hottest:.3g} at {max(values):g} C; at most "
                             f"{MAX_PUE:g} (lower per_degree)")
        return self


#: the largest node the catalogue could hold draws ~120 kW (a GB200 NVL72 rack as one
#: scale-up node); a megawatt per node is a unit mistake
MAX_NODE_W = 1e6

NodeWatts = watts(high=MAX_NODE_W)


class NodePowerSpec(Model):
    """Whole-node watts per state, overriding the catalogue-derived figures (each optional;
    the ones given must keep stall, loading, idle <= compute and down <= idle; with the
    catalogue's figures, down <= idle <= stall, loading <= compute is checked when the run is
    prepared)."""

    compute: NodeWatts | None = None  # every accelerator computing
    stall: NodeWatts | None = None  # allocated, accelerators waiting (checkpoint, comm, barrier)
    loading: NodeWatts | None = None  # restarting: re-initialising, loading a checkpoint
    idle: NodeWatts | None = None  # up, no job computing on it (also hot spares)
    down: NodeWatts | None = None  # failed or in repair

    @model_validator(mode="after")
    def _ordered(self) -> "NodePowerSpec":
        pairs = [("stall", "compute"), ("loading", "compute"), ("idle", "compute"),
                 ("down", "idle")]
        for lower, upper in pairs:
            low, high = getattr(self, lower), getattr(self, upper)
            if low is not None and high is not None and low > high:
                raise ValueError(f"{lower} ({low:g} W) must not exceed {upper} ({high:g} W)")
        return self


def number_or_mapping(number_kind: Any, mapping: type[Model], expected: str) -> Any:
    """The type of a value given as a number or as a mapping (``power.pue``,
    ``carbon.intensity``): discriminated on its shape, so an error inside the mapping names
    the mapping's own rule and key; a string that spells a number (YAML 1.1 reads ``1e3``
    so) is that number; anything else is told ``expected`` (both shapes)."""
    tag = mapping.__name__

    def shape(value: object) -> object:
        if isinstance(value, str):
            try:
                spelled = float(value)
            except ValueError:
                pass
            else:
                if not math.isfinite(spelled):
                    raise ValueError(f"must be a finite number, got {value!r}")
                return spelled
        if isinstance(value, bool) or not isinstance(value, (int, float, dict)):
            raise ValueError(f"expected {expected}, got {value!r}")
        return value

    def kind(value: object) -> str:
        return tag if isinstance(value, (dict, mapping)) else "Number"

    return Annotated[Annotated[number_kind, Tag("Number")] | Annotated[mapping, Tag(tag)],
                     Discriminator(kind), BeforeValidator(shape)]


class PowerSpec(Model):
    """Facility overhead, node power per state, and the power-swing window."""

    pue: number_or_mapping(number(1.0, MAX_PUE), TemperaturePue,
                           "a number >= 1 or a mapping {base, per_degree, above, "
                           "temperature}") = 1.0
    node: NodePowerSpec = NodePowerSpec()
    swing_window: PositiveDuration = 1.0  # window of the largest power rise/drop reported
    cap: PowerCapSpec | None = None  # cluster, node or accelerator power cap
    #: nodes per rack (nodes 0..N-1 are rack 0, ...): report power per rack; None: not
    rack_nodes: PositiveInteger | None = None
