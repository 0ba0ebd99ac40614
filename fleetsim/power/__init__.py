"""Power and energy of the fleet: node power per state, facility overhead (PUE), the fleet's
power step function, energy by bucket, and the largest power swing.

Derived after the run from the logs it already keeps (each job's phases, each holder's GPU
count, the fleet's GPU-state log): no simulation events are added. The model, its sources and
its limits are in docs/background/power.md.

For other layers (carbon, power capping): :func:`~fleetsim.power.profile.pue_profile` and
:class:`~fleetsim.power.profile.StepProfile` (any time profile, e.g. a grid's carbon
intensity; :func:`~fleetsim.power.profile.integrate_product` integrates a power step
function weighted by one exactly), :func:`~fleetsim.power.states.node_power` (whole-node
watts per state), and :class:`~fleetsim.power.energy.FleetPower` (the fleet's and each job's
IT power as step functions, from :func:`~fleetsim.power.energy.fleet_power`).
"""

from __future__ import annotations

from typing import Any

from fleetsim.power.profile import StepProfile, integrate_product, pue_profile
from fleetsim.power.states import NodePower, node_power


def __getattr__(name: str) -> Any:
    """``FleetPower`` and ``fleet_power`` on first use: they need pandas, which checking a
    scenario (``fleetsim validate``) does not load."""
    if name in ("FleetPower", "fleet_power"):
        from fleetsim.power import energy
        return getattr(energy, name)
    raise AttributeError(f"module 'fleetsim.power' has no attribute {name!r}")


__all__ = ["FleetPower", "NodePower", "StepProfile", "fleet_power", "integrate_product",
           "node_power", "pue_profile"]
