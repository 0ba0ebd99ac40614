"""Failures: failure clocks and rates, straggler jitter laws, repair (cause specs and presets
are data in :mod:`fleetsim.scenario.faults` and :mod:`fleetsim.scenario.fault_presets`).

Import the submodules directly (clock.py, rates.py, stragglers.py).
"""
