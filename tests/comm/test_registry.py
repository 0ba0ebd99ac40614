"""Unit tests: algorithm registry, protocols, nccl-tests busbw definitions, caching, errors."""

from __future__ import annotations

import pytest

from fleetsim.comm import (ALGORITHMS, OPS, PROTOCOLS, Algorithm, CommError, CommModel, Phase,
                           algbw, algorithm_names, best_collective, bus_factor, busbw,
                           collective_time, register, zero_latency)
from fleetsim.topology import gpus, single_switch_graph


def test_every_operation_has_an_algorithm():
    assert set(OPS) == set(ALGORITHMS)
    assert all(algorithm_names(op) for op in OPS)
    assert ALGORITHMS["all-reduce"]["rabenseifner"] is ALGORITHMS["all-reduce"]["halving-doubling"]


def test_busbw_definitions():
    """Source: nccl-tests doc/PERFORMANCE.md (shared/REFERENCE.md [V]). Exact."""
    assert algbw(8e9, 2.0) == 4e9
    assert busbw("all-reduce", 8e9, 2.0, 8) == pytest.approx(4e9 * 2 * 7 / 8)
    for op in ("all-gather", "reduce-scatter", "all-to-all"):
        assert bus_factor(op, 4) == pytest.approx(3 / 4)
    assert bus_factor("broadcast", 16) == 1.0
    with pytest.raises(CommError):
        algbw(1.0, 0.0)


def test_unknown_names_list_what_is_known():
    graph = single_switch_graph(4, 1e9, 0.0)
    with pytest.raises(CommError, match="known: halving-doubling, hierarchical"):
        collective_time("all-reduce", "butterfly", 1e6, gpus(graph), graph)
    with pytest.raises(CommError, match="unknown collective"):
        collective_time("gossip", "ring", 1e6, gpus(graph), graph)
    with pytest.raises(CommError, match="unknown protocol"):
        collective_time("all-reduce", "ring", 1e6, gpus(graph), graph, "fast")
    with pytest.raises(CommError, match="exactly 2 ranks"):
        collective_time("send-recv", "direct", 1e6, gpus(graph), graph)
    with pytest.raises(CommError, match="twice"):
        collective_time("all-reduce", "ring", 1e6, ["g0", "g0"], graph)


def test_adding_an_algorithm_is_one_class():
    """A direct all-gather (every rank sends its block to all others at once) registered from
    here is usable by name, with the closed form alpha + (p-1)/p n beta on a star."""

    @register
    class DirectAllGather(Algorithm):
        op, name = "all-gather", "test-direct"

        def phases(self, layout):
            p = layout.size
            return [Phase(tuple((i, j, 1 / p) for i in range(p) for j in range(p) if i != j))]

    try:
        graph = single_switch_graph(4, 10e9, 0.0)
        seconds = collective_time("all-gather", "test-direct", 4e9, gpus(graph), graph,
                                  zero_latency("simple"))
        assert seconds == pytest.approx(3 / 4 * 4e9 / 10e9, rel=1e-9)
    finally:
        del ALGORITHMS["all-gather"]["test-direct"]


def test_one_rank_costs_nothing():
    graph = single_switch_graph(2, 1e9, 1e-6)
    assert collective_time("all-reduce", "ring", 1e9, ["g0"], graph) == 0.0


def test_plans_are_cached_and_size_free():
    graph = single_switch_graph(8, 10e9, 1e-6)
    model = CommModel(graph)
    plan = model.plan("all-reduce", "ring", gpus(graph))
    assert model.plan("all-reduce", "ring", gpus(graph)) is plan
    assert plan.time(2e9) - plan.time(1e9) == pytest.approx(plan.bandwidth_time(1e9))


def test_auto_picks_latency_for_small_and_bandwidth_for_large():
    graph = single_switch_graph(16, 50e9, 0.5e-6)
    small = best_collective("all-reduce", 1e3, gpus(graph), graph)
    large = best_collective("all-reduce", 1e10, gpus(graph), graph)
    assert small.protocol == "ll" and small.algorithm == "recursive-doubling"
    assert large.protocol == "simple"
    assert collective_time("all-reduce", "auto", 1e3, gpus(graph), graph, "auto") == small.time
    assert set(PROTOCOLS) == {"ll", "ll128", "simple"}
