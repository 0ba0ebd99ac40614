"""Node types and small graphs for collective-cost tests, built in-test (no catalogue files)."""

from __future__ import annotations

import pytest

from fleetsim.hardware.models import NodeType


def make_node(name: str = "test-node", topology: str = "nvswitch", accelerators: int = 8,
              bandwidth: str = "450GB/s", latency: str = "1us", switches: int = 4,
              nics: dict | None = None) -> NodeType:
    """A NodeType with the given scale-up fabric; ``nics`` defaults to one 400 Gb/s NIC per GPU."""
    if nics is None:
        nics = {"count": accelerators, "rate": "400Gbps", "achievable": "47GB/s"}
    return NodeType.model_validate({
        "name": name, "accelerator": "test-gpu", "accelerators": accelerators,
        "scale_up": {"topology": topology, "bandwidth_per_accelerator": bandwidth,
                     "latency": latency, "switches": switches},
        "nics": nics,
        "power": {"busy": "10kW", "idle": "2kW"}, "sources": ["test fixture"],
    })


@pytest.fixture
def dgx_h100() -> NodeType:
    """DGX H100 as in hardware/nodes/dgx-h100.yaml: 450 GB/s NVLink per GPU per direction."""
    return make_node("dgx-h100")


@pytest.fixture
def dgx_a100() -> NodeType:
    """DGX A100: 8 A100 on 6 NVSwitches, 12 NVLink3 x 25 GB/s = 300 GB/s per direction, 8 HDR
    200 Gb/s NICs achieving ~24 GB/s (shared/REFERENCE.md)."""
    return make_node("dgx-a100", bandwidth="300GB/s", switches=6,
                     nics={"count": 8, "rate": "200Gbps", "achievable": "24GB/s"})


@pytest.fixture
def node_factory():
    return make_node
