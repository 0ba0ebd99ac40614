"""Vendor collective libraries' tuners: which algorithms they run and how long NCCL says each takes.

A node type names its library's tuner profile (``collectives: nccl-hopper`` in its YAML, recorded
on the graph by topology/node.py). On such a graph ``algorithm="auto"`` chooses only among the
algorithms the library implements (registry.py ``Algorithm.libraries``) and costs each
(algorithm, protocol) the way NCCL's tuner does (NVIDIA/nccl ``src/graph/tuning.cc``, 2.2x-2.30,
the version with Blackwell tables and PAT; constants via shared/REFERENCE.md [V]). Without a
profile (hand-built graphs, TPU slices) every registered algorithm competes with the plain
alpha-beta cost of cost.py, as MPI libraries choose.

**Bandwidth.** The graph gives the Simple-protocol algorithm bandwidth ``A`` of the plan (the
bottleneck link share, cost.py). In NCCL's units the per-link "bus" bandwidth is ``A / r`` with
``r = n / nsteps`` for rings (``n/(2(n-1))`` all-reduce, ``n/(n-1)`` all-gather and
reduce-scatter) and ``r = 1/2`` for trees. The protocol refinements of tuning.cc then apply to it:

=====================  ===========================================================================
ring, LL               ``min(llMaxBw, bus x 0.5)``
ring, LL128            ``min(bus x 0.92, channels x perChMaxRingLL128Bw)``
tree, any protocol     ``bus' = min(min(bus, ring bus) x 0.92, channels x perChMaxTreeBw)``, then
tree, LL               ``min(bus' / 3.8, llMaxBw)``
tree, LL128            ``min(bus' x (7/9 one node, 120/128 several), channels x perChMaxTreeLL128Bw)``
tree, by size          ``x treeCorrectionFactor[protocol][log2(size/64)]`` below 256 MiB
NVLS, NVLS-tree        Simple only; the graph's bandwidth as it is (all_reduce.py)
=====================  ===========================================================================

NCCL's tree and ring start from the same per-channel link bandwidth (``nChannels x bw``), so
NCCL never rates a tree above the ring on the same links; fleetsim caps the tree's bus bandwidth
at the ring's likewise (``ring bus``). On 2 nodes the graph alone would give the double binary
tree twice the ring's network bandwidth, a gain NCCL's model and the measurements do not show
(2 HGX A100 with 4 HDR NICs: 91 GB/s busbw, nccl-tests #100, the ring's NIC bound).

``llMaxBw`` and the per-channel caps depend on the GPU generation and the node count (1, 2, more;
for LL across nodes, on the host CPU's vendor): they are the profile's fields, in GB/s as NCCL
tables them.

**Latency** (microseconds in the tables, seconds in the code), with ``n`` ranks, ``m`` nodes,
``ppn = n/m``, ``intra``/``inter`` the NVLink/network step figures of protocols.py and
:data:`NVLS_LATENCY`, and ``inter`` raised by the graph's network path latency (twice for Simple,
NCCL's flush):

=====================  ===========================================================================
ring                   ``base + (nsteps - ninter) x intra' + ninter x inter``; ``ninter = 2(m-1)``
                       for all-reduce, ``m-1`` otherwise; ``intra' = max(intra, net overhead
                       (x3 for Simple))`` across nodes; x1.4 across nodes for Simple all-reduce of
                       at least 64 bytes per channel and rank (NCCL's "ring plateau")
tree                   ``base + 2((ppn-1) intra + floor(lg m) inter)``
NVLS                   ``intra`` (+ ``inter`` across nodes)
NVLS-tree              ``intra + 2 floor(lg m) inter``
other ops              ``base + steps of the plan (intra or inter each)``, as cost.py
=====================  ===========================================================================

NCCL's model leaves out the kernel launch that nccl-tests times, so measured small-message times
sit above it. Each profile adds ``launch_overhead_s`` per call (and ``network_overhead_s`` per
call that leaves the node, 0 in the shipped profiles), calibrated on published floors (below).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fleetsim.comm.protocols import PROTOCOLS, US
from fleetsim.comm.schedule import CommError
from fleetsim.registry import Registry

GB = 1e9

#: NVLS / NVLS-tree Simple latency (us): NVLink step, network step (tuning.cc hwLat [V]).
NVLS_LATENCY = {"nvls": (25.0, 18.0), "nvls-tree": (25.0, 14.0)}

#: tuning.cc treeCorrectionFactor (LL, LL128, Simple), powers of two from 64 B to 256 MiB [V].
TREE_CORRECTION = {
    "ll": (1.0, 1.0, 1.0, 1.0, .9, .8, .7, .7, .7, .7, .6, .5, .4, .4, .5, .6, .7, .8, .9, 1.0,
           1.0, 1.0, 1.0),
    "ll128": (1.0, 1.0, 1.0, 1.0, 1.0, .9, .8, .8, .8, .7, .6, .6, .6, .6, .6, .6, .8, .9, .9,
              .9, .9, 1.0, 1.0),
    "simple": (.9, .9, .9, .9, .9, .9, .9, .8, .7, .6, .6, .5, .5, .5, .5, .6, .7, .8, .7, .7,
               .8, .9, .9),
}


def node_index(nodes: int) -> int:
    """tuning.cc's column for ``nodes``: 0 for one node, 1 for two, 2 for more."""
    return 0 if nodes <= 1 else 1 if nodes == 2 else 2


@dataclass(frozen=True)
class TunerProfile:
    """One library on one GPU generation: what it runs and the constants of its tuner.

    Bandwidths are GB/s (NCCL's tables), indexed by :func:`node_index`; latencies seconds.
    """

    name: str
    library: str                                   # "nccl" or "rccl": Algorithm.libraries
    ll_max: tuple[float, float, float]             # llMaxBws
    ring_ll128_per_channel: float                  # perChMaxRingLL128Bws
    tree_per_channel: tuple[float, float, float]   # perChMaxTreeBws
    tree_ll128_per_channel: tuple[float, float, float]  # perChMaxTreeLL128Bws
    channels: tuple[int, int]                      # (one node, several nodes)
    protocols: tuple[str, ...] = ("ll", "ll128", "simple")
    net_overhead_s: float = 1e-6                   # getNetOverhead: Intel host 1 us, AMD 2 us
    ring_plateau: float = 1.4                      # Ampere and later
    launch_overhead_s: float = 2.3e-6
    network_overhead_s: float = 0.0
    description: str = field(default="", compare=False)

    def channel_count(self, nodes: int) -> int:
        return self.channels[0 if nodes <= 1 else 1]


TUNERS: Registry[TunerProfile] = Registry("collective tuner profile")


def _profile(profile: TunerProfile) -> TunerProfile:
    return TUNERS.register(profile)


# Calibration of the overheads (the only constants not from tuning.cc): launch 2.3 us = 10.1 us
# measured for an 8-byte all-reduce on 2 A100 (NVIDIA/nccl #583) minus NCCL's own 7.8 us (ring
# LL: 6.6 + 2 x 0.6). No network overhead is added: NCCL's model already lands on the published
# multi-node floors (16 x 8 H100: 62 us measured, NVIDIA/nccl #1469, 65.5 us modelled; 2 x 8
# Hopper with NVLS-tree forced: 46-47 us measured, NVIDIA/nccl #1244, 59 us modelled).
_profile(TunerProfile(
    "nccl-ampere", "nccl", ll_max=(87.7, 22.5, 19.0), ring_ll128_per_channel=20.0,
    tree_per_channel=(24.0, 23.6, 17.8), tree_ll128_per_channel=(20.0, 20.0, 20.0),
    channels=(24, 16), net_overhead_s=2e-6,
    description="NCCL on A100 (compute capability 8.0), AMD EPYC hosts as in a DGX A100; "
                "24 ring channels in one node (nccl-tests #100 logs), 16 across nodes"))
_profile(TunerProfile(
    "nccl-hopper", "nccl", ll_max=(141.0, 39.0, 20.4), ring_ll128_per_channel=36.7,
    tree_per_channel=(38.7, 41.4, 36.0), tree_ll128_per_channel=(36.7, 36.7, 29.0),
    channels=(32, 16), net_overhead_s=1e-6,
    description="NCCL on H100/H200 (9.0), Intel Xeon hosts as in a DGX H100 (LL across "
                "nodes uses tuning.cc's Intel row); 32 channels in one node, 16 across"))
_profile(TunerProfile(
    "nccl-blackwell", "nccl", ll_max=(282.0, 39.0, 20.4), ring_ll128_per_channel=73.4,
    tree_per_channel=(77.4, 82.8, 72.0), tree_ll128_per_channel=(73.4, 73.4, 58.0),
    channels=(32, 16), net_overhead_s=1e-6,
    description="NCCL on B200/GB200 (10.0): tuning.cc's Blackwell row (2x Hopper); not "
                "validated against a published Blackwell curve"))
_profile(TunerProfile(
    "rccl-cdna3", "rccl", ll_max=(87.7, 22.5, 19.0), ring_ll128_per_channel=20.0,
    tree_per_channel=(24.0, 23.6, 17.8), tree_ll128_per_channel=(20.0, 20.0, 20.0),
    channels=(56, 16), protocols=("ll", "simple"), net_overhead_s=2e-6,
    description="RCCL on MI300X/MI325X: NCCL's model with its Ampere/AMD-host constants "
                "(RCCL's own gfx942 tables are not modelled); LL128 is off by default in RCCL "
                "(RCCL_LL128_FORCE_ENABLE turns it on); 56 channels = 7 rings x 8"))


def tuner(name: str) -> TunerProfile:
    """The profile called ``name``; :class:`CommError` listing the known ones."""
    if name not in TUNERS:
        raise CommError(f"unknown collective tuner profile {name!r} (known: {TUNERS.known()})")
    return TUNERS[name]


@dataclass(frozen=True)
class Shape:
    """What NCCL's model needs of a plan besides its bandwidth: sizes and network latency."""

    op: str
    family: str          # ring, tree, nvls, nvls-tree, or "other" (plain alpha-beta latency)
    ranks: int
    nodes: int
    network_latency: float  # the graph's worst network path latency (NCCL's latencyInter)
    bus_cap: float = math.inf  # tree: the ring's bus bandwidth on the same group (bytes/s)


def ring_ratio(op: str, ranks: int) -> float:
    """NCCL's algbw / bus bandwidth of a ring: ``n / nsteps``."""
    steps = 2 * (ranks - 1) if op == "all-reduce" else ranks - 1
    return ranks / steps if steps else 1.0


def tuned_bandwidth(profile: TunerProfile, shape: Shape, protocol: str, graph_algbw: float,
                    size_bytes: float) -> float:
    """Algorithm bandwidth (bytes/s) of ``protocol`` from the graph's Simple one (module doc)."""
    index = node_index(shape.nodes)
    channels = profile.channel_count(shape.nodes)
    ll_max = profile.ll_max[index] * GB
    if shape.family == "ring" and shape.op in ("all-reduce", "all-gather", "reduce-scatter"):
        ratio = ring_ratio(shape.op, shape.ranks)
        bus = graph_algbw / ratio
        if protocol == "ll":
            bus = min(ll_max, bus * 0.5)
        elif protocol == "ll128":
            ppn = shape.ranks / shape.nodes
            bus = min(bus * (0.7 if ppn < 2 else 0.92),
                      channels * profile.ring_ll128_per_channel * GB)
        return bus * ratio
    if shape.family == "tree":
        bus = min(min(graph_algbw * 2, shape.bus_cap) * 0.92,
                  channels * profile.tree_per_channel[index] * GB)
        if protocol == "ll":
            bus = min(bus / 3.8, ll_max)
        elif protocol == "ll128":
            bus = min(bus * (7 / 9 if shape.nodes == 1 else 120 / 128),
                      channels * profile.tree_ll128_per_channel[index] * GB)
        steps = int(math.log2(max(size_bytes, 64) / 64))
        table = TREE_CORRECTION[protocol]
        if steps < len(table):
            bus *= table[steps]
        return bus * 0.5
    return graph_algbw * PROTOCOLS[protocol].bandwidth_factor


def tuned_latency(profile: TunerProfile, shape: Shape, protocol: str, size_bytes: float,
                  plain_latency: float) -> float:
    """Seconds of size-independent time of one call under ``profile`` (module docstring).

    ``plain_latency`` is cost.py's alpha-beta latency of the plan, used for the families
    NCCL's tuner does not cost (broadcast, all-to-all, send-recv).
    """
    chosen = PROTOCOLS[protocol]
    n, m = shape.ranks, shape.nodes
    family = shape.family
    overhead = profile.launch_overhead_s + (profile.network_overhead_s if m > 1 else 0.0)
    flush = shape.network_latency * (2 if protocol == "simple" else 1)
    if family in NVLS_LATENCY:
        intra, inter = (value * US for value in NVLS_LATENCY[family])
        inter += flush
        if family == "nvls":
            return overhead + intra + (inter if m > 1 else 0.0)
        return overhead + intra + 2 * int(math.log2(m)) * inter
    if family == "tree" and shape.op == "all-reduce":
        intra = chosen.step("tree", "scale-up")
        inter = chosen.step("tree", "network") + flush
        return overhead + chosen.base("tree") + 2 * ((n // m - 1) * intra
                                                     + int(math.log2(m)) * inter)
    if family == "ring" and shape.op in ("all-reduce", "all-gather", "reduce-scatter"):
        steps = 2 * (n - 1) if shape.op == "all-reduce" else n - 1
        inter_steps = 0 if m == 1 else 2 * (m - 1) if shape.op == "all-reduce" else m - 1
        intra = chosen.step("ring", "scale-up")
        if m > 1:
            intra = max(intra, profile.net_overhead_s * (3 if protocol == "simple" else 1))
        ppn_one = n == m
        inter = chosen.step("tree" if ppn_one else "ring", "network") + flush
        latency = chosen.base("ring") + (steps - inter_steps) * intra + inter_steps * inter
        if (protocol == "simple" and m > 1 and shape.op == "all-reduce"
                and size_bytes / (profile.channel_count(m) * n) >= 64):
            latency *= profile.ring_plateau
        return overhead + latency
    return overhead + plain_latency


__all__ = ["NVLS_LATENCY", "Shape", "TREE_CORRECTION", "TUNERS", "TunerProfile", "node_index",
           "ring_ratio", "tuned_bandwidth", "tuned_latency", "tuner"]
