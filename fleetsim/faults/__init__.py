"""Failures: causes and presets, failure clocks, rates, stragglers, repair.

Import the submodules directly (clock.py, rates.py, presets.py, stragglers.py); this package
imports nothing so the scenario schema can use :mod:`fleetsim.faults.presets` without a cycle.
"""
