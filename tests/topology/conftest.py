"""Node types for topology tests, built in-test so they do not depend on catalogue files."""

from __future__ import annotations

import pytest

from fleetsim.hardware.models import NodeType


def make_node(name: str = "test-node", topology: str = "nvswitch", accelerators: int = 8,
              bandwidth: str = "450GB/s", latency: str = "1us", switches: int = 4,
              dims: tuple[int, ...] = (), nics: dict | None = None) -> NodeType:
    """A NodeType with the given scale-up fabric; ``nics`` defaults to one 400 Gb/s NIC per GPU."""
    if nics is None:
        nics = {"count": accelerators, "rate": "400Gbps", "achievable": "47GB/s"}
    return NodeType.model_validate({
        "name": name, "accelerator": "test-gpu", "accelerators": accelerators,
        "scale_up": {"topology": topology, "bandwidth_per_accelerator": bandwidth,
                     "latency": latency, "switches": switches, "dims": list(dims)},
        "nics": nics or None,
        "power": {"busy": "10kW", "idle": "2kW"}, "sources": ["test fixture"],
    })


@pytest.fixture
def dgx_h100() -> NodeType:
    """DGX H100 as in hardware/nodes/dgx-h100.yaml (8 GPUs, NVSwitch, 8 x 400 Gb/s NICs)."""
    return make_node("dgx-h100")


@pytest.fixture
def node_factory():
    return make_node
