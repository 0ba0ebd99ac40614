"""Validation and unit tests: bisection bandwidth and diameter against hand-computed values."""

from __future__ import annotations

import pytest

from fleetsim.topology import (bisection_bandwidth, build_cluster, build_node_graph,
                               diameter_hops, summarize)


def test_non_blocking_fat_tree_bisection_is_half_the_injection(dgx_h100):
    """Closed form: a non-blocking (1:1) fat tree's bisection = (N/2) nodes x 8 NICs x 50 GB/s
    (line rate). Tolerance: 1e-9 relative."""
    graph = build_cluster(dgx_h100, 8, {"type": "fat-tree"})
    assert bisection_bandwidth(graph) == pytest.approx(4 * 8 * 50e9, rel=1e-9)


def test_oversubscription_divides_the_bisection(dgx_h100):
    """Closed form: 3:1 oversubscribed leaves (48 down, 16 up) -> the cut between the two
    leaves' 6-node halves is 16 x 50 GB/s = (6 x 8 x 50 GB/s) / 3. Tolerance: 1e-9."""
    graph = build_cluster(dgx_h100, 12, {"type": "fat-tree", "oversubscription": 3})
    assert bisection_bandwidth(graph) == pytest.approx(16 * 50e9, rel=1e-9)


def test_torus_bisection_is_a_slab_cut(dgx_h100):
    """Closed form: a 4x4 torus cut across its first dimension severs 2 x 4 links (the
    wraparound doubles it); each 100 GB/s. Tolerance: 1e-9."""
    graph = build_cluster(dgx_h100, 16, {"type": "torus", "dims": [4, 4]})
    assert bisection_bandwidth(graph) == pytest.approx(8 * 100e9, rel=1e-9)


def test_single_node_bisection_splits_its_gpus(dgx_h100):
    graph = build_node_graph(dgx_h100)
    assert bisection_bandwidth(graph) == pytest.approx(4 * 450e9)


@pytest.mark.parametrize("nodes, spec, hops", [
    (31, {"type": "rail-fat-tree"}, 4),          # GPU-leaf-spine-leaf-GPU
    (512, {"type": "rail-fat-tree"}, 6),         # via the core
    (16, {"type": "torus", "dims": [4, 4]}, 6),  # GPU-router + 2 + 2 torus hops + router-GPU
    (1, {"type": "rail-fat-tree"}, 2),           # a lone DGX: every route is GPU-NVSwitch-GPU
])
def test_diameter(dgx_h100, nodes, spec, hops):
    assert diameter_hops(build_cluster(dgx_h100, nodes, spec)) == hops


def test_summary_of_a_single_su(dgx_h100):
    summary = summarize(build_cluster(dgx_h100, 31))
    assert summary.gpus == 248 and summary.nodes == 31
    assert summary.switches == {"nvswitch": 124, "leaf": 8, "spine": 4}
    assert summary.as_dict()["diameter_hops"] == 4
