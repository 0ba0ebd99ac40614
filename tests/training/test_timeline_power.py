"""The timeline's power-cap factor: wall time stretched piecewise, excess split exactly."""

from __future__ import annotations

import numpy as np
import pytest

from fleetsim.training.timeline import Timeline


def test_power_factor_stretches_and_is_credited_to_power_cap():
    """10 steps of 10 s from t=0: contention 1.2 throughout, a power cap of 1.1 from
    wall 30 s. Base reached at 30 s: 25 s; the remaining 75 s take 75 x 1.32 = 99 s, so
    the segment ends at 129 s. Excess: contention 25 x 0.2 + 75 x 0.2 = 20 s, power cap
    75 x 1.2 x 0.1 = 9 s; they sum to 129 - 100."""
    base = np.arange(1, 11) * 10.0
    timeline = Timeline(base, 10.0, 0.0, contention=1.2)
    timeline.retime(30.0, 1.2, 1.1)
    assert timeline.end_s() == pytest.approx(129.0)
    excess = timeline.excess(129.0)
    assert excess["contention"] == pytest.approx(20.0)
    assert excess["power_cap"] == pytest.approx(9.0)
    assert excess["contention"] + excess["power_cap"] == pytest.approx(29.0)
    assert timeline.steps_done(129.0) == 10
    assert timeline.wall_of_step(2) == pytest.approx(24.0)  # before the cap: 20 x 1.2
    assert timeline.wall_of_step(3) == pytest.approx(36.6)  # 25 s base at 30 s, 5 x 1.32
