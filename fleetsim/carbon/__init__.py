"""Carbon: grid intensity over time, the emissions of the fleet's power, carbon-aware starts."""

from fleetsim.carbon.intensity import emissions_g, next_at_or_below

__all__ = ["emissions_g", "next_at_or_below"]
