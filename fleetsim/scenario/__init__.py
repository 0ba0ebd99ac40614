"""Scenario files: YAML -> validated, immutable models, with overrides and one-line errors."""

from fleetsim.scenario.load import LoadedScenario, load_scenario
from fleetsim.scenario.models import Scenario

__all__ = ["LoadedScenario", "Scenario", "load_scenario"]
