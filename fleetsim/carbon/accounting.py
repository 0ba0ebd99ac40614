"""The emissions of a finished run: the fleet's and each job's kgCO2, and its deferrals.

Facility power (IT x PUE, :class:`~fleetsim.power.energy.FleetPower`) is integrated against the
grid intensity exactly (:func:`~fleetsim.carbon.intensity.emissions_g`): a job's emissions are
those of its own IT power times the PUE, the fleet's those of the whole facility (idle and
down nodes included). Keys are documented in docs/guides/outputs.md.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from fleetsim.carbon.intensity import JOULES_PER_KWH, emissions_g
from fleetsim.power.energy import FleetPower
from fleetsim.power.profile import StepProfile, multiply
from fleetsim.scenario.carbon import CarbonSpec


def job_carbon_kg(power: FleetPower, intensity: StepProfile, name: str) -> float:
    """kgCO2 of job ``name``'s facility power (its IT power x PUE)."""
    job = power.jobs[name]
    times, watts = multiply(job.times, job.watts, power.pue, power.end_s)
    return emissions_g(intensity, times, watts, power.end_s) / 1e3


def carbon_summary(power: FleetPower, intensity: StepProfile, spec: CarbonSpec,
                   deferred: Mapping[str, float]) -> dict:
    """The summary's ``carbon`` block."""
    end = power.end_s
    facility_times, facility_w = power.facility_steps()
    facility_kg = emissions_g(intensity, facility_times, facility_w, end) / 1e3
    it_kg = emissions_g(intensity, power.times, power.it_w, end) / 1e3
    facility_kwh = power.energy_facility_j() / JOULES_PER_KWH
    waits = np.array(list(deferred.values()), dtype=np.float64)
    return {
        "facility_kg": facility_kg,
        "it_kg": it_kg,
        "intensity_mean_g_per_kwh": facility_kg * 1e3 / facility_kwh if facility_kwh else None,
        "defer_below_g_per_kwh": spec.defer_below,
        "deferred_jobs": int(waits.size),
        "deferral_mean_s": float(waits.mean()) if waits.size else 0.0,
        "deferral_max_s": float(waits.max()) if waits.size else 0.0,
    }


__all__ = ["carbon_summary", "job_carbon_kg"]
