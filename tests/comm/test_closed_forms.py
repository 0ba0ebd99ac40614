"""Validation: collective times on uniform graphs against the alpha-beta closed forms.

Source: Thakur, Rabenseifner & Gropp, "Optimization of collective communication operations in
MPICH" (IJHPCA 2005) and Patarasuk & Yuan (JPDC 2009), as tabled in shared/REFERENCE.md
"Collectives"; gamma (reduction cost) = 0. On a single non-blocking switch with identical
links every flow of a step sees the same path, so alpha = protocol step latency + 2 x link
latency and beta = 1 / (bandwidth x efficiency x protocol factor). Tolerance: 1e-9 relative.
"""

from __future__ import annotations

import math

import pytest

from fleetsim.comm import PROTOCOLS, collective_time
from fleetsim.topology import build_cluster, gpus, single_switch_graph
from fleetsim.topology.graph import SCALE_UP_EFFICIENCY

BANDWIDTH, LINK_LATENCY, SIZE = 50e9, 0.7e-6, 256e6
SIMPLE = PROTOCOLS["simple"]
BETA = 1 / BANDWIDTH


def alpha(family: str = "ring") -> float:
    return SIMPLE.step(family, "network") + 2 * LINK_LATENCY


def base(family: str = "ring") -> float:
    return SIMPLE.base(family)


def simulated(op: str, algorithm: str, p: int, size: float = SIZE, protocol="simple") -> float:
    graph = single_switch_graph(p, BANDWIDTH, LINK_LATENCY)
    return collective_time(op, algorithm, size, gpus(graph), graph, protocol)


PS = [2, 3, 5, 8, 16]
POWERS = [2, 4, 8, 16]


@pytest.mark.parametrize("p", PS)
def test_ring_all_reduce(p):
    expected = base() + 2 * (p - 1) * alpha() + 2 * (p - 1) / p * SIZE * BETA
    assert simulated("all-reduce", "ring", p) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("op", ["all-gather", "reduce-scatter"])
def test_ring_all_gather_and_reduce_scatter(op, p):
    expected = base() + (p - 1) * alpha() + (p - 1) / p * SIZE * BETA
    assert simulated(op, "ring", p) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("p", POWERS)
def test_halving_doubling_all_reduce(p):
    expected = base() + 2 * math.log2(p) * alpha() + 2 * (p - 1) / p * SIZE * BETA
    assert simulated("all-reduce", "rabenseifner", p) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("p", [3, 6, 12])
def test_halving_doubling_folds_extra_ranks(p):
    """Non-powers of two: the closed form on p' = 2^floor(lg p) plus 2 (alpha + n beta)."""
    q = 1 << (p.bit_length() - 1)
    expected = (base() + 2 * math.log2(q) * alpha() + 2 * (q - 1) / q * SIZE * BETA
                + 2 * (alpha() + SIZE * BETA))
    assert simulated("all-reduce", "halving-doubling", p) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("p", POWERS)
def test_recursive_doubling_all_reduce(p):
    expected = base() + math.log2(p) * (alpha() + SIZE * BETA)
    assert simulated("all-reduce", "recursive-doubling", p) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("p", PS)
def test_pairwise_all_to_all(p):
    """Table: (p-1) alpha + n beta with n = bytes each rank sends to the others; nccl-tests'
    size S counts the rank's whole buffer (its own block included): n = (p-1)/p S."""
    sent_to_others = (p - 1) / p * SIZE
    expected = base() + (p - 1) * alpha() + sent_to_others * BETA
    assert simulated("all-to-all", "pairwise", p) == pytest.approx(expected, rel=1e-9)


def test_pairwise_all_to_all_sampled_steps_keep_the_closed_form():
    """Above 64 steps the schedule is sampled (data_movement.py); on a uniform graph every
    step costs the same, so the closed form still holds exactly."""
    p = 100
    expected = base() + (p - 1) * alpha() + (p - 1) / p * SIZE * BETA
    assert simulated("all-to-all", "pairwise", p) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("p", PS)
def test_binomial_broadcast(p):
    rounds = math.ceil(math.log2(p))
    expected = base("tree") + rounds * (alpha("tree") + SIZE * BETA)
    assert simulated("broadcast", "binomial", p) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("p", PS)
def test_ring_broadcast(p):
    """Pipelined chain: (p-1) alpha + n beta."""
    expected = base() + (p - 1) * alpha() + SIZE * BETA
    assert simulated("broadcast", "ring", p) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("p", POWERS[1:])
def test_tree_all_reduce(p):
    """NCCL double binary tree, pipelined (all_reduce.py): 2 depth alpha + 2 n beta, depth =
    ceil(lg p). Each rank is inner in at most one tree, so no link carries more than two
    half-size flows: each pass takes n beta."""
    depth = math.ceil(math.log2(p))
    expected = base("tree") + 2 * depth * alpha("tree") + 2 * SIZE * BETA
    assert simulated("all-reduce", "tree", p) == pytest.approx(expected, rel=1e-9)


def test_send_recv():
    expected = base() + alpha() + SIZE * BETA
    assert simulated("send-recv", "direct", 2) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("protocol", ["ll", "ll128"])
def test_protocol_scales_beta_and_sets_alpha(protocol):
    chosen = PROTOCOLS[protocol]
    p = 8
    step = chosen.step("ring", "network") + 2 * LINK_LATENCY
    expected = (chosen.base("ring") + 2 * (p - 1) * step
                + 2 * (p - 1) / p * SIZE * BETA / chosen.bandwidth_factor)
    seconds = simulated("all-reduce", "ring", p, protocol=protocol)
    assert seconds == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("nodes, per_node", [(4, 4), (3, 2), (2, 8)])
def test_hierarchical_all_reduce(node_factory, nodes, per_node):
    """Closed form (shared/REFERENCE.md) with the phases pipelined (all_reduce.py: every step
    latency paid, the bandwidth terms overlap, so the busier level sets the pace):
    2(k-1)α₁ + 2(m-1)α₂ + max(2(k-1)/k·nβ₁, 2(m-1)/m·(n/k)β₂)
    with level 1 = NVSwitch (α₁ = NVLink step + 1 us switch hop, β₁ = 1/(450 GB/s x 0.80)) and
    level 2 = one NIC per GPU on a single non-blocking switch (α₂ = network step + 2 x 0.5 us,
    β₂ = 1/(50 GB/s x 0.94)). Tolerance: 1e-9 relative."""
    node = node_factory(accelerators=per_node)
    graph = build_cluster(node, nodes, {"type": "single-switch"})
    k, m = per_node, nodes
    alpha1 = SIMPLE.step("ring", "scale-up") + 1e-6
    beta1 = 1 / (450e9 * SCALE_UP_EFFICIENCY)
    alpha2 = SIMPLE.step("ring", "network") + 2 * 0.5e-6
    beta2 = 1 / (50e9 * 47 / 50)
    expected = (base() + 2 * (k - 1) * alpha1 + 2 * (m - 1) * alpha2
                + max(2 * (k - 1) / k * SIZE * beta1, 2 * (m - 1) / m * (SIZE / k) * beta2))
    assert collective_time("all-reduce", "hierarchical", SIZE, gpus(graph), graph) == \
        pytest.approx(expected, rel=1e-9)
