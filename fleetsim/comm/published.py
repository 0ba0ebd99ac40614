"""Published nccl-tests / rccl-tests measurements the collective model is checked against.

Data, not code: tests/comm/test_nccl_figures.py asserts the simulated values against these and
docs/background/validation_tables.py prints the comparison. Each :class:`Measurement` is one
point of a published curve: all-reduce on ``nodes`` x ``node`` (a catalogue node type, every
GPU, packed), out-of-place busbw (or time, for latency floors) as printed by nccl-tests, with
the source. ``algorithms`` restricts fleetsim's ``auto`` the way the run was restricted
(``None``: the library's own choice). ``calibration`` marks points a constant was fitted to
(they check the fit, not the model). Points the model misses by more than ``tolerance`` are kept,
marked ``within=False`` by the comparison, and named in docs/background/collectives.md.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB, GiB = 2**20, 2**30


@dataclass(frozen=True)
class Measurement:
    """One published point (busbw in bytes/s, or a time in seconds for a latency floor)."""

    label: str
    node: str
    nodes: int
    size_bytes: int
    source: str
    busbw: float | None = None
    time_s: float | None = None
    algorithms: tuple[str, ...] | None = None
    tolerance: float = 0.15
    calibration: bool = False
    gpus: int | None = None  # ranks when not every GPU of the cluster


#: NVIDIA/nccl-tests issue #212 (sjeaugey: "peak busBw of ~480GB/s" with NVLink SHARP on 8 GPUs)
#: and #290 (AddyLaddy: 476 GB/s single node "in the expected range for H100"); NVIDIA/nccl
#: #1221: 430 GB/s with NCCL_NVLS_ENABLE=1, 330 without (8x H100, 4-8 GiB, NCCL 2.19).
H100_NVLS = (
    Measurement("8x H100, NVLS, 8 GiB (nccl-tests #212/#290)", "dgx-h100", 1, 8 * GiB,
                "NVIDIA/nccl-tests #212, #290", busbw=478e9),
    Measurement("8x H100, NVLS, 8 GiB (nccl #1221)", "dgx-h100", 1, 8 * GiB,
                "NVIDIA/nccl #1221", busbw=430e9),
)

#: kvcache-ai/Mooncake PR #3484, nccl-tests all_reduce_perf baseline on one node of 8 NVIDIA H20
#: (NVLink4 x 18 through NVSwitch, as H100), NCCL 2.30: the plateau of 358 GB/s at 1 GiB is the
#: ring's, so NVLS was not in use; compared with fleetsim's dgx-h100 limited to ring and tree.
HOPPER_RING_CURVE = tuple(
    Measurement(f"8x H20 ring, {size // MiB} MiB (Mooncake #3484)", "dgx-h100", 1, size,
                "kvcache-ai/Mooncake PR #3484", busbw=value * 1e9, algorithms=("ring", "tree"))
    for size, value in ((1 * MiB, 66.11), (2 * MiB, 90.27), (4 * MiB, 137.87),
                        (8 * MiB, 180.88), (16 * MiB, 242.00), (32 * MiB, 300.51),
                        (128 * MiB, 335.43), (256 * MiB, 343.85), (512 * MiB, 351.67),
                        (1024 * MiB, 357.73)))

#: NVIDIA/nccl-tests #149 (sjeaugey: ~230 GB/s on A100 NVLink "with a larger size", 8G).
A100 = (
    Measurement("8x A100, 8 GiB (nccl-tests #149)", "dgx-a100", 1, 8 * GiB,
                "NVIDIA/nccl-tests #149", busbw=230e9, tolerance=0.10),
)

#: crickett-hpe/hpc-ai-envs PR #30: rccl-tests on one node of 8 MI300X, 8 MiB: 161.14 GB/s;
#: issue 12: ~317 GB/s at 8 GiB (AMD ROCm blog "Understanding RCCL Bandwidth and xGMI
#: Performance on MI300X", 2025: ~48 GB/s usable of each 64 GB/s xGMI link, 7 links).
MI300X = (
    Measurement("8x MI300X, 8 MiB (hpc-ai-envs #30)", "mi300x-8", 1, 8 * MiB,
                "crickett-hpe/hpc-ai-envs PR #30", busbw=161.14e9),
    Measurement("8x MI300X, 8 GiB (AMD blog, issue 12)", "mi300x-8", 1, 8 * GiB,
                "AMD ROCm blog 2025 / issue 12", busbw=317e9, calibration=True),
)

#: NVIDIA/nccl-tests #309: "each 2 nodes with 16 pairs can still get 470 GB/s", 4 nodes "max
#: busbw ... 365.84 GB/s" (HGX H100, 8 x 400G per node); NVIDIA/nccl #1221: 2 nodes 430 GB/s with
#: NVLS, 330 without; more than 2 nodes ~320 GB/s (8x H100, 8x 400G RoCE).
MULTI_NODE_H100 = (
    Measurement("2 x 8 H100, NVLS-tree, 16 GiB (nccl-tests #309)", "dgx-h100", 2, 16 * GiB,
                "NVIDIA/nccl-tests #309", busbw=470e9),
    Measurement("2 x 8 H100, NVLS, 8 GiB (nccl #1221)", "dgx-h100", 2, 8 * GiB,
                "NVIDIA/nccl #1221", busbw=430e9),
    Measurement("2 x 8 H100, NVLS off, 8 GiB (nccl #1221)", "dgx-h100", 2, 8 * GiB,
                "NVIDIA/nccl #1221", busbw=330e9, algorithms=("ring", "tree")),
    Measurement("4 x 8 H100, 16 GiB (nccl-tests #309)", "dgx-h100", 4, 16 * GiB,
                "NVIDIA/nccl-tests #309", busbw=365.84e9),
    Measurement("4 x 8 H100, 8 GiB (nccl #1221)", "dgx-h100", 4, 8 * GiB,
                "NVIDIA/nccl #1221", busbw=320e9),
    Measurement("16 x 8 H100, 64 MiB (nccl #1469)", "dgx-h100", 16, 64 * MiB,
                "NVIDIA/nccl #1469", busbw=150e9),
)

#: NVIDIA/nccl-tests #100: 2 HGX A100 with four 200 Gb/s HDR NICs each, 1-8 GiB: 91 GB/s (the
#: node type is built in the tests: the catalogue's dgx-a100 has 8 NICs).
A100_FOUR_NICS = Measurement("2 x 8 A100, 4 HDR NICs each, 8 GiB (nccl-tests #100)",
                             "hgx-a100-4nic", 2, 8 * GiB, "NVIDIA/nccl-tests #100", busbw=91e9)

#: Small-message floors (8 bytes): NVIDIA/nccl #583, 2 A100 on NVLink: 10.14 us (the launch
#: overhead is fitted to it); NVIDIA/nccl #1469, 16 x 8 H100 (NCCL 2.20.5): 62 us; NVIDIA/nccl
#: #1244, 2 x 8 H20 with NDR and NCCL_ALGO=NVLSTree (NCCL 2.21.5): 46-47 us.
FLOORS = (
    Measurement("2x A100 NVLink, 8 B (nccl #583)", "dgx-a100", 1, 8, "NVIDIA/nccl #583",
                time_s=10.14e-6, gpus=2, calibration=True),
    Measurement("16 x 8 H100, 8 B (nccl #1469)", "dgx-h100", 16, 8, "NVIDIA/nccl #1469",
                time_s=62e-6),
    Measurement("2 x 8 Hopper, NVLS-tree forced, 8 B (nccl #1244)", "dgx-h100", 2, 8,
                "NVIDIA/nccl #1244", time_s=46.5e-6, algorithms=("nvls-tree",)),
)

ALL = H100_NVLS + HOPPER_RING_CURVE + A100 + MI300X + MULTI_NODE_H100 + (A100_FOUR_NICS,) + FLOORS


def node_type(name: str, catalogue=None):
    """The catalogue's node type ``name``; ``hgx-a100-4nic`` is dgx-a100 with four NICs
    (nccl-tests #100's servers)."""
    from fleetsim.hardware.catalog import Catalogue

    catalogue = catalogue or Catalogue.load()
    if name == "hgx-a100-4nic":
        base = catalogue.node("dgx-a100")
        return base.model_copy(update={"name": name,
                                       "nics": base.nics.model_copy(update={"count": 4})})
    return catalogue.node(name)


def simulate(point: Measurement, catalogue=None) -> tuple[float, str, str]:
    """(busbw in bytes/s or time in s, as ``point`` gives, algorithm, protocol) from fleetsim:
    ``auto`` on ``point.nodes`` x ``point.node`` (rail-optimised fat tree), every GPU placed
    packed (or the first ``point.gpus``)."""
    from fleetsim.comm.cost import best_collective
    from fleetsim.comm.nccl_tests import busbw
    from fleetsim.topology import build_cluster, build_node_graph, gpus

    kind = node_type(point.node, catalogue)
    graph = (build_node_graph(kind) if point.nodes == 1
             else build_cluster(kind, point.nodes, {"type": "rail-fat-tree"}))
    group = gpus(graph)[:point.gpus] if point.gpus else gpus(graph)
    choice = best_collective("all-reduce", point.size_bytes, group, graph, point.algorithms)
    value = (choice.time if point.time_s is not None
             else busbw("all-reduce", point.size_bytes, choice.time, len(group)))
    return value, choice.algorithm, choice.protocol


def deviation(point: Measurement, value: float) -> float:
    """Simulated / published - 1."""
    published = point.time_s if point.time_s is not None else point.busbw
    return value / published - 1
