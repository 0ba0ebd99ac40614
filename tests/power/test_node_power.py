"""Node power per state against vendor specifications, and a computing fleet's IT power."""

from __future__ import annotations

import pytest

from fleetsim.hardware import Catalogue
from fleetsim.power.states import node_power
from fleetsim.prepare import load
from fleetsim.runner import simulate
from fleetsim.scenario.power import NodePowerSpec


def _specs(name: str):
    catalog = Catalogue.load()
    node = catalog.node(name)
    return node, catalog.accelerator(node.accelerator)


@pytest.mark.parametrize("name, maximum_w, accelerator_tdp_w", [
    ("dgx-h100", 10_200.0, 700.0),  # NVIDIA DGX H100 datasheet: ~10.2 kW max; H100 SXM 700 W
    ("dgx-a100", 6_500.0, 400.0),  # NVIDIA DGX A100 datasheet: 6.5 kW max; A100 SXM4 400 W
])
def test_node_power_matches_vendor_maximum(name, maximum_w, accelerator_tdp_w):
    """A node computing on every accelerator draws the vendor's system maximum (NVIDIA DGX
    H100 datasheet ~10.2 kW, DGX A100 datasheet 6.5 kW; tolerance 0.1%). The maximum holds
    the accelerators at TDP (H100 SXM 700 W, A100 SXM4 400 W, datasheets) and leaves the
    host a positive share; stall drops exactly the accelerators' busy-to-idle difference
    (closed form of fleetsim/power/states.py)."""
    node, accelerator = _specs(name)
    power = node_power(node, accelerator)
    assert power.compute == pytest.approx(maximum_w, rel=1e-3)
    assert accelerator.power.busy == pytest.approx(accelerator_tdp_w, rel=1e-3)
    host_w = power.compute - node.accelerators * accelerator.power.busy
    assert host_w > 0
    drop = node.accelerators * (accelerator.power.busy - accelerator.power.idle)
    assert power.stall == pytest.approx(maximum_w - drop, rel=1e-9)
    assert power.idle <= power.stall <= power.compute
    assert power.down == 0.0


def test_overrides_replace_catalogue_figures():
    """Given figures win; loading defaults to stall, stall to compute minus the
    accelerators' drop (never below idle)."""
    node, accelerator = _specs("dgx-h100")
    power = node_power(node, accelerator, NodePowerSpec(compute="7750W", idle="2kW"))
    assert power.compute == 7_750.0 and power.idle == 2_000.0
    assert power.stall == pytest.approx(7_750.0 - 8 * 600.0)
    assert power.loading == power.stall
    low = node_power(node, accelerator, NodePowerSpec(compute="4kW"))
    assert low.stall == low.idle == 2_500.0


def test_computing_fleet_draws_nodes_times_maximum():
    """Four DGX H100 computing (explicit step time: compute fraction 1) draw 4 x 10.2 kW
    (datasheet maximum, exact); the fleet's idle spare draws its idle 2.5 kW on top."""
    data = {"name": "n", "cluster": {"node": "dgx-h100", "nodes": 5, "spares": 1},
            "jobs": [{"name": "a", "type": "training", "gpus": 32, "step_time": "2s",
                      "steps": 100}]}
    result = simulate(load(data))
    power = result.summary["power"]
    assert power["power_it_peak_w"] == pytest.approx(4 * 10_200.0 + 2_500.0, rel=1e-12)
    energy = result.summary["jobs"]["a"]["energy"]
    assert energy["it_j"] == pytest.approx(4 * 10_200.0 * 200.0, rel=1e-12)
    assert energy["per_step_j"] == pytest.approx(4 * 10_200.0 * 2.0, rel=1e-12)
