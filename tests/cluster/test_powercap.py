"""The cluster power cap: its split over the busy nodes, re-timed per placement change."""

from __future__ import annotations

import pytest

from fleetsim.cluster.powercap import PowerCap
from fleetsim.hardware import Catalogue
from fleetsim.hardware.powercap import compute_slowdown, step_slowdown
from fleetsim.power.states import node_power
from fleetsim.scenario.powercap import PowerCapSpec


class Job:
    def __init__(self, name: str) -> None:
        self.name = name
        self.factors: list[float] = []

    def set_power_slowdown(self, factor: float) -> None:
        self.factors.append(factor)


@pytest.fixture
def h100():
    catalogue = Catalogue.load()
    node = catalogue.node("dgx-h100")
    chip = catalogue.accelerator(node.accelerator)
    return node_power(node, chip), chip.power.busy


def test_cluster_cap_follows_the_busy_nodes(h100):
    """10 DGX H100 under 60 kW: one busy node gets 60 - 9 x 2.5 = 37.5 kW (uncapped: 1.0);
    with 5 busy nodes each gets (60 - 5 x 2.5) / 5 = 9.5 kW, i.e. (9.5 - 4.6) / 8 = 612.5 W
    per GPU: compute slowdown (700 / 612.5) ** CAP_EXPONENT; a job half compute slows by
    half of that excess. When the big job leaves, the small one runs uncapped again."""
    node, chip = h100
    cap = PowerCap(PowerCapSpec(cluster="60kW"), node, chip, nodes=10)
    small, big = Job("small"), Job("big")
    cap.placed(small, [0], compute_share=0.5)
    assert small.factors == [1.0]
    cap.placed(big, [1, 2, 3, 4], compute_share=1.0)
    expected = compute_slowdown(612.5, 700.0)
    assert cap.accelerator_cap_w() == pytest.approx(612.5)
    assert big.factors[-1] == pytest.approx(expected)
    assert small.factors[-1] == pytest.approx(step_slowdown(expected, 0.5))
    cap.vacated(big)
    assert big.factors[-1] == 1.0 and small.factors[-1] == 1.0
    assert [entry[1] for entry in cap.history] == [1, 5, 1]


def test_jobs_sharing_a_node_count_it_once(h100):
    node, chip = h100
    cap = PowerCap(PowerCapSpec(cluster="30kW"), node, chip, nodes=10)
    first, second = Job("a"), Job("b")
    cap.placed(first, [0])
    cap.placed(second, [0])
    assert cap.history[-1][1] == 1
    cap.vacated(first)
    assert cap.history[-1][1] == 1
    cap.vacated(second)
    assert cap.history[-1][1] == 0


def test_node_and_accelerator_scopes_are_static(h100):
    node, chip = h100
    by_node = PowerCap(PowerCapSpec(node="8.6kW"), node, chip, nodes=4)
    job = Job("j")
    by_node.placed(job, [0, 1])
    assert job.factors == [pytest.approx(compute_slowdown(500.0, 700.0))]
    by_chip = PowerCap(PowerCapSpec(accelerator="350W"), node, chip, nodes=4)
    by_chip.placed(job, [0])
    assert job.factors[-1] == pytest.approx(compute_slowdown(350.0, 700.0))
    assert by_chip.history == []


def test_one_scope_only():
    with pytest.raises(ValueError):
        PowerCapSpec(cluster="1MW", node="8kW")
    with pytest.raises(ValueError):
        PowerCapSpec()
