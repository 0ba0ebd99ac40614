"""Failure processes and rates: what fails, when, and how often a job is hit."""

from fleetsim.faults.clock import ExponentialFailureClock, Failure
from fleetsim.faults.rates import cause_rates, mtbf_s, units_of

__all__ = ["ExponentialFailureClock", "Failure", "cause_rates", "mtbf_s", "units_of"]
