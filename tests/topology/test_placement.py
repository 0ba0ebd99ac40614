"""Unit tests: packed and random placement of a job's ranks onto GPUs."""

from __future__ import annotations

import numpy as np
import pytest

from fleetsim.topology import PLACEMENTS, TopologyError, build_cluster, place


def nodes_of(gpu_names: list[str]) -> set[str]:
    return {name.split(".")[0] for name in gpu_names}


def test_packed_16_gpus_use_two_whole_nodes(dgx_h100):
    graph = build_cluster(dgx_h100, 4)
    ranks = place(graph, 16, "packed")
    assert len(ranks) == 16 == len(set(ranks))
    assert nodes_of(ranks) == {"n0", "n1"}
    assert ranks[:8] == [f"n0.g{i}" for i in range(8)]  # node by node, local index order


def test_packed_small_job_takes_the_best_fitting_node(dgx_h100):
    graph = build_cluster(dgx_h100, 3)
    free = [f"n0.g{i}" for i in range(8)] + ["n1.g0", "n1.g1", "n1.g2"] + ["n2.g7"]
    assert place(graph, 3, available=free) == ["n1.g0", "n1.g1", "n1.g2"]


def test_packed_prefers_one_scalable_unit(dgx_h100):
    graph = build_cluster(dgx_h100, 8, {"type": "rail-fat-tree", "su_size": 4})
    busy = {"n0.g0"}  # SU 0 now has 31 free GPUs, too few for 32 ranks
    free = [gpu for gpu in graph if graph.nodes[gpu]["kind"] == "gpu" and gpu not in busy]
    ranks = place(graph, 32, available=free)
    assert nodes_of(ranks) == {"n4", "n5", "n6", "n7"}


def test_packed_takes_whole_nodes_first(dgx_h100):
    graph = build_cluster(dgx_h100, 3)
    free = ["n0.g0", "n0.g1"] + [f"n1.g{i}" for i in range(8)] + [f"n2.g{i}" for i in range(8)]
    assert nodes_of(place(graph, 16, available=free)) == {"n1", "n2"}


def test_random_placement_is_reproducible(dgx_h100):
    graph = build_cluster(dgx_h100, 4)
    first = place(graph, 12, "random", rng=np.random.default_rng(42))
    again = place(graph, 12, "random", rng=np.random.default_rng(42))
    other = place(graph, 12, "random", rng=np.random.default_rng(43))
    assert first == again and first != other
    assert len(set(first)) == 12


def test_placement_errors(dgx_h100):
    graph = build_cluster(dgx_h100, 2)
    with pytest.raises(TopologyError, match="only 16 are free"):
        place(graph, 17)
    with pytest.raises(TopologyError, match="unknown placement"):
        place(graph, 2, "scattered")
    with pytest.raises(TopologyError, match="Generator"):
        place(graph, 2, "random")
    assert set(PLACEMENTS) >= {"packed", "random"}
