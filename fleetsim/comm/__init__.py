"""Collective communication: algorithms and their cost on a placed group of GPUs.

Public API (formulas and sources in each module's docstring)::

    collective_time(op, algorithm, size_bytes, group, graph, protocol="simple") -> seconds
    best_collective(op, size_bytes, group, graph) -> Choice(time, algorithm, protocol)
    CommModel(graph).plan(op, algorithm, group) -> CollectivePlan   # .time(size, protocol)
    algbw(size_bytes, time_s), busbw(op, size_bytes, time_s, ranks)  # nccl-tests definitions
    ALGORITHMS[op][name], register, PROTOCOLS[name]
    TUNERS[name]  # vendor library tuner profiles (nccl-hopper, rccl-cdna3, ...), tuner.py

On a graph whose node type names a tuner profile, ``auto`` chooses among what that library
runs and costs it with NCCL's tuner model (tuner.py); elsewhere every algorithm competes.

Operations: all-reduce, all-gather, reduce-scatter, all-to-all, broadcast, send-recv.
"""

from __future__ import annotations

from fleetsim.comm import all_reduce as _all_reduce  # noqa: F401  (registers algorithms)
from fleetsim.comm import data_movement as _data_movement  # noqa: F401
from fleetsim.comm.cost import (Choice, CollectivePlan, CommModel, PhaseCost, best_collective,
                                collective_time, comm_model, flow_rates)
from fleetsim.comm.nccl_tests import algbw, bus_factor, busbw
from fleetsim.comm.protocols import PROTOCOLS, Protocol, get_protocol, zero_latency
from fleetsim.comm.registry import ALGORITHMS, OPS, Algorithm, algorithm, algorithm_names, register
from fleetsim.comm.schedule import CommError, GroupLayout, Phase
from fleetsim.comm.tuner import TUNERS, TunerProfile, tuner

__all__ = [
    "ALGORITHMS", "Algorithm", "Choice", "CollectivePlan", "CommError", "CommModel", "GroupLayout",
    "OPS", "PROTOCOLS", "Phase", "PhaseCost", "Protocol", "TUNERS", "TunerProfile", "algbw",
    "algorithm", "algorithm_names", "best_collective", "bus_factor", "busbw", "collective_time",
    "comm_model", "flow_rates", "get_protocol", "register", "tuner", "zero_latency",
]
