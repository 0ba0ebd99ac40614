"""Carbon: grid intensity over time, the emissions of the fleet's power, carbon-aware starts."""

from fleetsim.carbon.intensity import Intensity, emissions_g

__all__ = ["Intensity", "emissions_g"]
