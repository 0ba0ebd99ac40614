"""Unit and validation tests of the vendor tuner profiles, NVLS, xGMI rings, pipelining."""

from __future__ import annotations

import itertools

import pytest

from fleetsim.comm import ALGORITHMS, CommError, best_collective, busbw, collective_time
from fleetsim.comm.schedule import hamiltonian_decomposition
from fleetsim.comm.tuner import TUNERS, Shape, tuned_bandwidth, tuned_latency, tuner
from fleetsim.hardware.catalog import Catalogue
from fleetsim.topology import build_cluster, build_node_graph, gpus

CATALOGUE = Catalogue.load()
SIZES = [8, 4096, 2**20, 2**24, 2**28, 2**33]


@pytest.mark.parametrize("name, nodes", [("dgx-a100", 1), ("dgx-h100", 1), ("dgx-h100", 2),
                                         ("mi300x-8", 1), ("mi300x-8", 2)])
def test_auto_picks_only_what_the_vendor_library_runs(name, nodes):
    """NCCL and RCCL run ring, tree, NVLS and NVLS-tree for all-reduce, never recursive or
    halving-doubling or an MPI hierarchical scheme (issue 12); those stay selectable by name."""
    node = CATALOGUE.node(name)
    graph = (build_node_graph(node) if nodes == 1
             else build_cluster(node, nodes, {"type": "rail-fat-tree"}))
    group = gpus(graph)
    library = tuner(node.collectives).library
    for size in SIZES:
        choice = best_collective("all-reduce", size, group, graph)
        assert library in ALGORITHMS["all-reduce"][choice.algorithm].libraries
        assert choice.algorithm in ("ring", "tree", "nvls", "nvls-tree")
    assert collective_time("all-reduce", "halving-doubling", 2**20, group, graph) > 0


def test_rccl_never_picks_nvls_or_ll128():
    """RCCL has no NVLS (no NVSwitch) and LL128 is off by default on MI300X (tuner.py)."""
    graph = build_node_graph(CATALOGUE.node("mi300x-8"))
    for size in SIZES:
        choice = best_collective("all-reduce", size, gpus(graph), graph)
        assert choice.protocol in ("ll", "simple") and not choice.algorithm.startswith("nvls")


def test_nvls_runs_simple_only_and_needs_nvlink_sharp():
    """tuning.cc: NVLS and NVLS-tree have a Simple protocol only; A100 switches cannot reduce."""
    h100 = build_node_graph(CATALOGUE.node("dgx-h100"))
    with pytest.raises(CommError, match="only the simple protocol"):
        collective_time("all-reduce", "nvls", 2**20, gpus(h100), h100, "ll")
    a100 = build_node_graph(CATALOGUE.node("dgx-a100"))
    with pytest.raises(CommError, match="in_network_reduction"):
        collective_time("all-reduce", "nvls", 2**20, gpus(a100), a100)


def test_tuned_ring_ll_reproduces_nccls_own_prediction():
    """NCCL's tuner logs "64 Bytes -> Algo 0 proto 0 time 25.207382" (tree LL) on 2 nodes x 8
    H100 (NVIDIA/nccl #1453): 6.8 + 2 (7 x 0.6 + 1 x 5.0) = 25.2 us. fleetsim's tuned latency
    without the graph's network link latency and the launch overhead gives exactly that.
    Tolerance: 1e-9."""
    profile = tuner("nccl-hopper")
    shape = Shape("all-reduce", "tree", 16, 2, 0.0)
    latency = tuned_latency(profile, shape, "ll", 64, 0.0) - profile.launch_overhead_s
    assert latency == pytest.approx(25.2e-6, rel=1e-9)


def test_protocol_caps_follow_tuning_cc():
    """tuning.cc refinements on a 360 GB/s (bus) ring of 8 ranks in one Hopper node: LL =
    min(141, 360 x 0.5) = 141 GB/s bus; LL128 = min(360 x 0.92, 32 x 36.7) = 331.2; Simple 360.
    algbw = bus x 8/14. Tolerance: 1e-9."""
    profile = tuner("nccl-hopper")
    shape = Shape("all-reduce", "ring", 8, 1, 0.0)
    graph_algbw = 360e9 * 8 / 14
    for protocol, bus in (("ll", 141e9), ("ll128", 331.2e9), ("simple", 360e9)):
        assert tuned_bandwidth(profile, shape, protocol, graph_algbw, 2**30) == \
            pytest.approx(bus * 8 / 14, rel=1e-9)


def test_every_shipped_nvidia_and_amd_node_names_a_known_profile():
    for name in CATALOGUE.node_names():
        node = CATALOGUE.node(name)
        if node.collectives:
            assert node.collectives in TUNERS


@pytest.mark.parametrize("k", [3, 5, 7, 8, 9, 12, 16])
def test_hamiltonian_decomposition_uses_every_link_once(k):
    """Tillson (1980): the complete directed graph on k vertices splits into k-1 directed
    Hamiltonian cycles for k != 4, 6. Exact."""
    cycles = hamiltonian_decomposition(k)
    assert len(cycles) == k - 1
    arcs = [(c[i], c[(i + 1) % k]) for c in cycles for i in range(k)]
    assert sorted(arcs) == sorted(itertools.permutations(range(k), 2))
    assert all(sorted(c) == list(range(k)) for c in cycles)


def test_two_node_all_to_all_reaches_the_nic_limit():
    """Issue 12: 2 x 8 H100 all-to-all gave ~47 GB/s busbw against a NIC limit of ~88. NCCL
    sends all blocks at once, so each 47 GB/s NIC carries half its GPU's buffer: busbw =
    2 x 47 x 15/16 = 88.1 GB/s (closed form of the NIC bound). Tolerance: 2%."""
    graph = build_cluster(CATALOGUE.node("dgx-h100"), 2, {"type": "rail-fat-tree"})
    group, size = gpus(graph), 2**33
    seconds = collective_time("all-to-all", "auto", size, group, graph, "auto")
    assert busbw("all-to-all", size, seconds, 16) == pytest.approx(2 * 47e9 * 15 / 16, rel=0.02)
    pairwise = collective_time("all-to-all", "pairwise", size, group, graph, "simple")
    assert busbw("all-to-all", size, pairwise, 16) < 50e9  # step by step: one NIC's worth


def test_nvls_busbw_closed_form():
    """NVLS on k GPUs (all_reduce.py): per GPU and direction n(1 + 1/k) bytes at 450 x 0.80 x
    0.82 GB/s, so busbw = 2(k-1)/k x 295.2 x k/(k+1) = 459.2 GB/s for k = 8 (1 TiB: the
    latency is negligible). Tolerance: 1e-5."""
    graph = build_node_graph(CATALOGUE.node("dgx-h100"))
    size = 2**40
    seconds = collective_time("all-reduce", "nvls", size, gpus(graph), graph, "simple")
    expected = 2 * 7 / 8 * 450e9 * 0.80 * 0.82 * 8 / 9
    assert busbw("all-reduce", size, seconds, 8) == pytest.approx(expected, rel=1e-5)
