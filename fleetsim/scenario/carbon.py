"""The ``carbon`` section: the grid's carbon intensity and carbon-aware starts.

Exactly one of ``intensity`` (gCO2/kWh: a constant, or a time profile of ``[time, value]``
points, the shape of ``power.pue``'s temperature, e.g. a daily cycle with ``period: 24h``) or
``file`` (a CSV of ``time_s, intensity`` rows, relative to the scenario's directory; read and
checked when the run is prepared, :mod:`fleetsim.carbon.series`). ``defer_below`` makes the
scheduler carbon-aware: a job with ``deferrable`` slack waits, after its submission, until the
intensity is at or below it, or until its slack runs out (:mod:`fleetsim.carbon.deferral`).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from fleetsim.scenario.power import TimeProfile, number_or_mapping, profile_point
from fleetsim.kinds import Model, Reference, number

#: the bound of every intensity (a constant, a profile's points, a CSV's rows): the dirtiest
#: grids (lignite) emit ~1,100 gCO2/kWh; 10,000 is a unit mistake
MAX_INTENSITY = 10_000.0
#: gCO2 per kWh: finite, 0 to :data:`MAX_INTENSITY`
GramsPerKwh = number(0.0, MAX_INTENSITY)


class IntensityProfile(TimeProfile):
    """Grid intensity over the run, gCO2/kWh, every point within 0..:data:`MAX_INTENSITY`
    (the bound of a constant intensity and of a CSV row, :mod:`fleetsim.carbon.series`)."""

    points: tuple[profile_point(0.0, MAX_INTENSITY, "gCO2/kWh"), ...] = Field(min_length=1)


class CarbonSpec(Model):
    """Grid carbon intensity (gCO2/kWh) and the carbon-aware scheduling threshold."""

    intensity: number_or_mapping(
        GramsPerKwh, IntensityProfile, "gCO2/kWh as a number >= 0 (e.g. 57) or a profile "
        "{points: [[0, 400], [8h, 150]], period: 24h}") | None = None
    file: Reference | None = None  # CSV: time_s, intensity
    defer_below: GramsPerKwh | None = None  # deferrable jobs start at or below this

    @model_validator(mode="after")
    def _one_source(self) -> "CarbonSpec":
        if (self.intensity is None) == (self.file is None):
            raise ValueError("give exactly one of intensity (gCO2/kWh: a number, e.g. 57, or "
                             "a profile {points: [[0, 400], [8h, 150]], period: 24h}) or file "
                             "(a CSV of time_s, intensity)")
        return self


__all__ = ["MAX_INTENSITY", "CarbonSpec", "GramsPerKwh", "IntensityProfile"]
