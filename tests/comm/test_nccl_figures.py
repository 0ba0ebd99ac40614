"""Validation: simulated nccl-tests busbw and latency against published nccl-tests/rccl-tests runs.

The published points live in fleetsim/comm/published.py (each with its source); fleetsim runs
``auto`` (or the run's algorithm restriction) on the catalogue's node types. Points the model
misses are listed there and in docs/background/collectives.md, and asserted here as misses so
that a fix shows up.
"""

from __future__ import annotations

import pytest

from fleetsim.comm import busbw, collective_time
from fleetsim.comm import published as pub
from fleetsim.hardware.catalog import Catalogue
from fleetsim.topology import build_cluster, build_node_graph, gpus

LARGE = 16 * 2**30  # nccl-tests sweeps reach 8-16 GB, where busbw has plateaued
CATALOGUE = Catalogue.load()


def all_reduce_busbw(graph, algorithm: str = "ring", size: float = LARGE) -> float:
    group = gpus(graph)
    seconds = collective_time("all-reduce", algorithm, size, group, graph, "simple")
    return busbw("all-reduce", size, seconds, len(group))


def check(point: pub.Measurement) -> None:
    value, algorithm, protocol = pub.simulate(point, CATALOGUE)
    error = pub.deviation(point, value)
    assert abs(error) <= point.tolerance, (point.label, value, algorithm, protocol, error)


@pytest.mark.parametrize("point", pub.H100_NVLS, ids=lambda p: p.source)
def test_8x_h100_nvls_busbw(point):
    """Sources: NVIDIA/nccl-tests #212 (sjeaugey: NVLink SHARP, "peak busBw of ~480GB/s" on 8
    GPUs), #290 (476 GB/s single node, "expected range for H100"), NVIDIA/nccl #1221 (430 GB/s
    with NVLS on 8x H100, 4-8 GiB). fleetsim's auto picks NVLS on dgx-h100 (459 GB/s; the NVLS
    efficiency 0.82 was chosen between the two figures). Tolerance: ±15%."""
    check(point)


HOPPER_WITHIN = [p for p in pub.HOPPER_RING_CURVE if p.size_bytes != 4 * pub.MiB]


@pytest.mark.parametrize("point", HOPPER_WITHIN, ids=lambda p: str(p.size_bytes))
def test_8x_hopper_ring_curve_1mib_to_1gib(point):
    """Source: kvcache-ai/Mooncake PR #3484, nccl-tests all_reduce_perf on 8 NVIDIA H20 (NVLink4
    x 18 via NVSwitch, as H100; NCCL 2.30; ring plateau 358 GB/s, so no NVLS), 1 MiB to 1 GiB;
    fleetsim dgx-h100 with auto limited to ring and tree (NCCL's tuner model). Tolerance: ±15%.
    The 4 MiB point is a known miss (test below)."""
    check(point)


def test_8x_hopper_ring_4mib_is_a_known_miss():
    """Same source, 4 MiB: 137.9 GB/s measured (53.2 us); NCCL's own latency constants put ring
    LL128 at ~65 us, so fleetsim is ~18% low there (outside ±15%, documented)."""
    point = next(p for p in pub.HOPPER_RING_CURVE if p.size_bytes == 4 * pub.MiB)
    value, _, _ = pub.simulate(point, CATALOGUE)
    assert -0.25 < pub.deviation(point, value) < -0.15


def test_8x_a100_large_message_busbw():
    """Source: NVIDIA/nccl-tests #149 (sjeaugey: 8x A100 NVLink reaches ~230 GB/s at 8 GB;
    12 NVLinks x ~20 GB/s effective). fleetsim: ring, Simple, 300 x 0.80 = 240 GB/s.
    Tolerance: ±10%."""
    check(pub.A100[0])


@pytest.mark.parametrize("point", pub.MI300X, ids=lambda p: str(p.size_bytes))
def test_8x_mi300x_rccl_busbw(point):
    """Sources: crickett-hpe/hpc-ai-envs PR #30 (rccl-tests, 8x MI300X, 8 MiB: 161 GB/s) and
    issue 12 / AMD ROCm blog "Understanding RCCL Bandwidth and xGMI Performance on MI300X"
    (~317 GB/s at 8 GiB; ~48 of 64 GB/s usable per xGMI link). The 8 GiB point is the
    calibration of mi300x-8.yaml's xGMI efficiency (0.71 over 7 links); 8 MiB checks the model.
    Tolerance: ±15%."""
    check(point)


@pytest.mark.parametrize("point", pub.MULTI_NODE_H100[:5], ids=lambda p: p.label)
def test_2_and_4_dgx_h100_busbw(point):
    """Sources: NVIDIA/nccl-tests #309 (HGX H100 + 8x 400G: 2 nodes 470 GB/s, 4 nodes max
    365.8 GB/s) and NVIDIA/nccl #1221 (8x H100 + 8x 400G RoCE, NCCL 2.19: 2 nodes 430 GB/s
    with NVLS, 330 without; ~320 GB/s above 2 nodes). fleetsim auto: NVLS-tree (ring/tree for
    the NVLS-off run). Tolerance: ±15%."""
    check(point)


def test_16_dgx_h100_64mib_is_a_known_miss():
    """Source: NVIDIA/nccl #1469 (16 H100 nodes, NCCL 2.20.5: 64 MiB reaches ~150 GB/s when
    it is "normal", lower in most runs). fleetsim's NVLS-tree gives ~260 GB/s: a known miss,
    documented; NCCL's own model also rates NVLS-tree near the NIC bound at this size."""
    point = pub.MULTI_NODE_H100[5]
    value, _, _ = pub.simulate(point, CATALOGUE)
    assert pub.deviation(point, value) > 0.15


def test_2_hgx_a100_with_4_hdr_nics():
    """Source: NVIDIA/nccl-tests #100 (2 HGX A100, four 200 Gb/s HDR NICs each, 1-8 GiB:
    91 GB/s busbw; sjeaugey in #119: ~24 GB/s peak per 200G NIC). fleetsim: dgx-a100 with
    4 NICs, auto picks the ring (NCCL never rates its tree above the ring, tuner.py), NIC-bound
    4 x 24 GB/s. Tolerance: ±15%."""
    check(pub.A100_FOUR_NICS)


@pytest.mark.parametrize("point", pub.FLOORS[:2], ids=lambda p: p.label)
def test_small_message_floors(point):
    """Sources: NVIDIA/nccl #583 (2 A100 on NVLink, 8 B all-reduce 10.14 us: the launch
    overhead of tuner.py is fitted to it) and NVIDIA/nccl #1469 (16 x 8 H100, 8 B: 62 us;
    fleetsim: tree LL, NCCL's latency model, 65.5 us). Tolerance: ±15%."""
    check(point)


def test_single_node_floor_is_ten_to_thirty_us():
    """Issue 12 (measured per-call floor ~10-30 us in one node; NVIDIA/nccl #583): an 8-byte
    all-reduce on one 8-GPU node of each catalogue vendor lands in that range."""
    for name in ("dgx-a100", "dgx-h100", "mi300x-8"):
        graph = build_node_graph(CATALOGUE.node(name))
        seconds = collective_time("all-reduce", "auto", 8, gpus(graph), graph, "auto")
        assert 10e-6 <= seconds <= 30e-6, (name, seconds)


def test_forced_nvls_tree_floor_is_a_known_miss():
    """Source: NVIDIA/nccl #1244 (2 x 8 H20, NDR, NCCL_ALGO=NVLSTree: 46-47 us for 4 B-1 KiB).
    NCCL's NVLS-tree constants (25 us NVLink + 2 x 14 us network) put it at ~59 us: +27%,
    documented."""
    point = pub.FLOORS[2]
    value, _, _ = pub.simulate(point, CATALOGUE)
    assert 0.15 < pub.deviation(point, value) < 0.35


def test_8x_h100_nvswitch_ring_busbw():
    """Source: nccl-tests issues #149/#212 (via shared/REFERENCE.md [V]): 8x H100 ring
    all-reduce peaks at ~370 GB/s busbw of a 450 GB/s line rate. Uses the shipped
    hardware/nodes/dgx-h100.yaml. Expected: 450 x 0.80 (SCALE_UP_EFFICIENCY, chosen for this)
    = 360 GB/s. Tolerance: inside 330-400 GB/s."""
    graph = build_node_graph(CATALOGUE.node("dgx-h100"))
    assert 330e9 <= all_reduce_busbw(graph) <= 400e9


def test_inter_node_ring_busbw_approaches_the_nic(dgx_h100):
    """Source: per-NDR-NIC achieved bandwidth 46-48 GB/s (nccl-tests issues #290, #160,
    shared/REFERENCE.md [V]). One GPU per node on 8 nodes: the bottleneck is one NIC, so the
    large-message ring busbw must approach its achievable 47 GB/s. Tolerance: 46-48 GB/s."""
    graph = build_cluster(dgx_h100, 8, {"type": "rail-fat-tree"})
    group = [f"n{node}.g0" for node in range(8)]
    seconds = collective_time("all-reduce", "ring", LARGE, group, graph)
    assert 46e9 <= busbw("all-reduce", LARGE, seconds, 8) <= 48e9
    # the pipelined tree moves n up and n down (2 n beta), so its busbw is (p-1)/p of that
    seconds = collective_time("all-reduce", "tree", LARGE, group, graph)
    assert busbw("all-reduce", LARGE, seconds, 8) == pytest.approx(7 / 8 * 47e9, rel=0.01)


def test_two_dgx_h100_ring_uses_every_rail(dgx_h100):
    """Multi-node rings run one channel per NIC (schedule.py), so 2 x 8 H100 on NDR reach the
    NVLink-bound busbw (~360 GB/s), not one NIC's 47 GB/s; NVIDIA/nccl #1221 measures 330 GB/s
    on 2 x 8 H100 with NVLS off. Tolerance: 300-400 GB/s."""
    graph = build_cluster(dgx_h100, 2, {"type": "rail-fat-tree"})
    assert 300e9 <= all_reduce_busbw(graph) <= 400e9


def test_full_mesh_node_uses_every_link(node_factory):
    """An 8-GPU xGMI full mesh (448 GB/s per GPU = 7 links of 64 GB/s): the 7 channel rings of
    the Hamiltonian decomposition (schedule.py) keep all 7 links of every GPU busy, as RCCL
    does, so ring busbw = 7 x 64 x 0.80 = 358.4 GB/s at the default efficiency (the shipped
    mi300x-8 measures 0.71: test above). Tolerance: 1%."""
    graph = build_node_graph(node_factory(topology="full-mesh", bandwidth="448GB/s"))
    assert all_reduce_busbw(graph) == pytest.approx(358.4e9, rel=0.01)
