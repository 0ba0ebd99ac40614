"""The ``carbon`` section: the grid's carbon intensity and carbon-aware starts.

Exactly one of ``intensity`` (a constant, gCO2/kWh), ``daily`` (equal pieces of a day, e.g.
24 hourly values, repeated every day from the run's start) or ``file`` (a CSV of
``time_s, intensity`` rows, relative to the scenario's directory; read and checked when the
run is prepared, :mod:`fleetsim.carbon.series`). ``defer_below`` makes the scheduler
carbon-aware: a job with ``deferrable`` slack waits, after its submission, until the
intensity is at or below it, or until its slack runs out (:mod:`fleetsim.carbon.deferral`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from fleetsim.scenario.types import Model

#: gCO2 per kWh: finite and >= 0
GramsPerKwh = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class CarbonSpec(Model):
    """Grid carbon intensity (gCO2/kWh) and the carbon-aware scheduling threshold."""

    intensity: GramsPerKwh | None = None  # constant, e.g. 57 (French grid, BLOOM)
    daily: tuple[GramsPerKwh, ...] | None = None  # equal pieces of a day, repeated
    file: str | None = Field(default=None, min_length=1)  # CSV: time_s, intensity
    defer_below: GramsPerKwh | None = None  # deferrable jobs start at or below this

    @model_validator(mode="after")
    def _one_source(self) -> "CarbonSpec":
        given = [name for name in ("intensity", "daily", "file") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of intensity (gCO2/kWh, e.g. 57), daily (a "
                             "list of values over a day, e.g. 24 hourly) or file (a CSV of "
                             "time_s, intensity)")
        if self.daily is not None and not 1 <= len(self.daily) <= 1440:
            raise ValueError("daily needs 1 to 1440 values (equal pieces of a day)")
        return self


__all__ = ["CarbonSpec", "GramsPerKwh"]
