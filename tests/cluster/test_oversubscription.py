"""Power oversubscription: nodes under a facility's power vs allowed slowdown."""

from __future__ import annotations

import math

import pytest

from fleetsim import prepare
from fleetsim.cluster.oversubscription import deployable_nodes
from fleetsim.hardware import Catalogue
from fleetsim.hardware.powercap import CAP_EXPONENT
from fleetsim.power.states import node_power
from fleetsim.runner import simulate


@pytest.fixture
def h100():
    catalogue = Catalogue.load()
    spec = catalogue.node("dgx-h100")
    chip = catalogue.accelerator(spec.accelerator)
    return node_power(spec, chip), chip


def test_closed_form(h100):
    """1 MW of IT power, DGX H100 (10.2 kW peak, 4.6 kW host): uncapped 98 nodes. A 5 %
    slowdown of a compute-bound step allows GPUs at 700 / 1.05 ** (1 / CAP_EXPONENT) W;
    a step half compute-bound needs twice the compute slowdown for the same 5 %."""
    node, chip = h100
    fit = deployable_nodes(1e6, node, chip.power.busy, chip.power.idle, 1.05)
    cap = 700 / 1.05 ** (1 / CAP_EXPONENT)
    assert fit.accelerator_cap_w == pytest.approx(cap)
    assert fit.nodes == math.floor(1e6 / (4600 + 8 * cap)) and fit.nodes_uncapped == 98
    assert fit.gain == pytest.approx(fit.nodes / 98 - 1)
    assert fit.feasible and not fit.extrapolated
    half = deployable_nodes(1e6, node, chip.power.busy, chip.power.idle, 1.05, 0.5)
    assert half.accelerator_cap_w == pytest.approx(700 / 1.10 ** (1 / CAP_EXPONENT))
    assert half.nodes > fit.nodes
    assert deployable_nodes(1e6, node, chip.power.busy, chip.power.idle, 1.0).gain == 0


def test_infeasible_and_extrapolated_caps_are_flagged(h100):
    node, chip = h100
    far = deployable_nodes(1e6, node, chip.power.busy, chip.power.idle, 1.2, 0.3)
    assert not far.feasible
    assert deployable_nodes(1e6, node, chip.power.busy, chip.power.idle, 1.1).extrapolated
    with pytest.raises(ValueError):
        deployable_nodes(1e6, node, chip.power.busy, chip.power.idle, 0.9)


def test_caps_below_the_vendor_minimum_are_not_settable(h100):
    """A compute-bound step allowed 20 % slower needs 700 / 1.2 ** (1 / CAP_EXPONENT) = 170 W
    per H100: above its 100 W idle draw, below NVIDIA's 200 W lowest limit (DGX H100 user
    guide, AllowableMin)."""
    node, chip = h100
    fit = deployable_nodes(1e6, node, chip.power.busy, chip.power.idle, 1.2)
    assert fit.accelerator_cap_w == pytest.approx(170.0, abs=1.0) and fit.feasible
    vendor = deployable_nodes(1e6, node, chip.power.busy, chip.power.idle, 1.2,
                              min_cap_w=chip.power.min_cap)
    assert not vendor.feasible
    assert deployable_nodes(1e6, node, chip.power.busy, chip.power.idle, 1.1,
                            min_cap_w=chip.power.min_cap).feasible


def test_simulated_slowdown_stays_within_the_target(h100):
    """The deployable count run under a cluster cap of the same 1 MW: the job on every node
    is at most 5 % slower, and more than 4 % (the floor of the node count leaves a little
    headroom)."""
    node, chip = h100
    fit = deployable_nodes(1e6, node, chip.power.busy, chip.power.idle, 1.05)

    def wall(cap):
        data = {"name": "o", "cluster": {"node": "dgx-h100", "nodes": fit.nodes},
                "jobs": [{"name": "all", "type": "training", "gpus": 8 * fit.nodes,
                          "step_time": "10s", "steps": 100}]}
        if cap:
            data["power"] = {"cap": cap}
        return simulate(prepare.load(data)).summary["jobs"]["all"]["wall_time_s"]

    slowdown = wall({"cluster": "1MW"}) / wall(None)
    assert 1.04 < slowdown <= 1.05
