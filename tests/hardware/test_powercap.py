"""The power-cap curve and the split of a cap over nodes and accelerators."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetsim.hardware import Catalogue
from fleetsim.hardware.powercap import (CAP_EXPONENT, PUBLISHED_POINTS, accelerator_cap_w,
                                        busy_node_cap_w, cap_allowed, cap_for_slowdown,
                                        compute_slowdown, lowest_busy_node_cap_w,
                                        step_slowdown)


@pytest.mark.parametrize("fraction, measured, _source", PUBLISHED_POINTS)
def test_curve_reproduces_published_points(fraction, measured, _source):
    """Validation: the fitted curve passes through its sources' points within 1e-9
    (McDonald et al., NAACL Findings 2022, arXiv:2205.09646: V100 at 150 W of 250 W trains
    large NLP models 6.8 % slower, i.e. slowdown 1.068 at cap fraction 0.6)."""
    assert compute_slowdown(fraction * 250.0, 250.0) == pytest.approx(measured, abs=1e-9)
    assert compute_slowdown(fraction * 700.0, 700.0) == pytest.approx(measured, abs=1e-9)


def test_curve_shape():
    """No slowdown at or above the busy draw; monotone below it; gentler than the
    frequency-cube law (a step is not all at the clock-bound peak)."""
    assert compute_slowdown(800.0, 700.0) == 1.0
    assert compute_slowdown(700.0, 700.0) == 1.0
    caps = [650.0, 500.0, 350.0, 200.0]
    slowdowns = [compute_slowdown(cap, 700.0) for cap in caps]
    assert slowdowns == sorted(slowdowns) and slowdowns[0] > 1.0
    assert compute_slowdown(420.0, 700.0) < (700 / 420) ** (1 / 3)
    assert CAP_EXPONENT == pytest.approx(math.log(1.068) / math.log(1 / 0.6))


def test_inverse():
    for slowdown in (1.0, 1.02, 1.068, 1.2):
        assert compute_slowdown(cap_for_slowdown(slowdown, 700.0), 700.0) == pytest.approx(
            slowdown)
    with pytest.raises(ValueError):
        cap_for_slowdown(0.9, 700.0)
    with pytest.raises(ValueError):
        compute_slowdown(0.0, 700.0)


def test_only_compute_is_slowed():
    """A step of 60 % compute under a 1.1 compute slowdown: 0.6 x 1.1 + 0.4 = 1.06."""
    assert step_slowdown(1.1, 0.6) == pytest.approx(1.06)
    assert step_slowdown(1.1) == pytest.approx(1.1)
    assert step_slowdown(1.1, 0.0) == 1.0
    with pytest.raises(ValueError):
        step_slowdown(1.1, 1.5)


def test_node_and_cluster_split_dgx_h100():
    """DGX H100 from the catalogue: 10.2 kW busy, 2.5 kW idle, 8 x 700 W GPUs, so a 4.6 kW
    host. A node cap of 8.6 kW leaves (8.6 - 4.6) / 8 = 500 W per GPU. A 20-node cluster
    capped at 150 kW with 10 busy nodes, the 10 others idle: (150 - 10 x 2.5) / 10 = 12.5 kW
    per busy node."""
    catalogue = Catalogue.load()
    node = catalogue.node("dgx-h100")
    chip = catalogue.accelerator(node.accelerator)
    assert accelerator_cap_w(8600.0, node.power.busy, chip.power.busy, 8) == pytest.approx(500.0)
    assert busy_node_cap_w(150e3, 10, 10 * node.power.idle) == pytest.approx(12.5e3)
    assert math.isinf(busy_node_cap_w(150e3, 0, 20 * node.power.idle))


def test_lowest_busy_node_cap_is_the_least_over_every_split():
    """Brute force over every number of busy nodes b (the others at w each) against the
    closed form min(C / N, C - (N - 1) w)."""
    for cap_w, nodes, other_w in ((62e3, 10, 5.4e3), (300e3, 34, 9e3), (60e3, 10, 2.5e3)):
        brute = min(busy_node_cap_w(cap_w, busy, (nodes - busy) * other_w)
                    for busy in range(1, nodes + 1))
        assert lowest_busy_node_cap_w(cap_w, nodes, other_w) == pytest.approx(brute, rel=1e-12)


def test_caps_allowed_follow_idle_and_the_vendor_minimum():
    """DGX H100 user guide (Managing Power Capping): AllowableMin 200 W; a cap at or below
    idle leaves nothing to compute with."""
    chip = Catalogue.load().accelerator("h100-sxm")
    assert chip.power.min_cap == 200.0
    assert cap_allowed(200.0, chip.power.idle, chip.power.min_cap)
    assert not cap_allowed(199.0, chip.power.idle, chip.power.min_cap)
    assert not cap_allowed(100.0, 100.0)
    assert cap_allowed(100.5, 100.0)


@given(st.floats(50, 1000), st.floats(50, 1000), st.floats(0, 1))
def test_a_tighter_cap_is_never_faster(cap_a, cap_b, share):
    """Property: the slowdown never falls as the cap tightens, and a step's slowdown lies
    between 1 and its compute slowdown."""
    low, high = sorted((cap_a, cap_b))
    assert compute_slowdown(low, 700.0) >= compute_slowdown(high, 700.0) >= 1.0
    slowed = compute_slowdown(low, 700.0)
    assert 1.0 <= step_slowdown(slowed, share) <= slowed + 1e-12
