"""The timeline's power-cap factor: wall time stretched piecewise, excess split exactly."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from fleetsim.comm.sharing import Footprint, Traffic
from fleetsim.hardware.powercap import step_slowdown
from fleetsim.training.timeline import Timeline


def test_power_factor_stretches_and_is_credited_to_power_cap():
    """10 steps of 10 s from t=0: contention 1.2 throughout, a power cap of 1.1 from
    wall 30 s. Base reached at 30 s: 25 s; the remaining 75 s take 75 x (1.2 + 1.1 - 1) =
    97.5 s, so the segment ends at 127.5 s. Excess: contention 25 x 0.2 + 75 x 0.2 = 20 s,
    power cap 75 x 0.1 = 7.5 s; they sum to 127.5 - 100."""
    base = np.arange(1, 11) * 10.0
    timeline = Timeline(base, 10.0, 0.0, contention=1.2)
    timeline.retime(30.0, 1.2, 1.1)
    assert timeline.end_s() == pytest.approx(127.5)
    excess = timeline.excess(127.5)
    assert excess["contention"] == pytest.approx(20.0)
    assert excess["power_cap"] == pytest.approx(7.5)
    assert excess["contention"] + excess["power_cap"] == pytest.approx(27.5)
    assert timeline.steps_done(127.5) == 10
    assert timeline.wall_of_step(2) == pytest.approx(24.0)  # before the cap: 20 x 1.2
    assert timeline.wall_of_step(3) == pytest.approx(36.5)  # 25 s base at 30 s, 5 x 1.3


def _contended_footprint(compute_s: float, comm_s: float) -> Footprint:
    """A step of ``compute_s`` compute and ``comm_s`` exposed communication (nothing hidden)
    whose one flow crosses one network edge of unit capacity."""
    edge = ("leaf0", "spine0")
    traffic = Traffic(paths=(((edge,),),), flows=Counter({edge: 1}), duty=0.5)
    return Footprint(compute_s + comm_s, {"dp": traffic}, (("dp", comm_s, 0.0),),
                     {edge: 1.0})


@pytest.mark.parametrize("elastic", [1.0, 1.5])
def test_contention_and_cap_slow_disjoint_parts_of_the_step(elastic):
    """Closed form (issue 14 review): a step of c = 7 s compute and m = 3 s exposed
    communication, its communication slowed k = 1.6 times by other jobs' traffic (one
    background flow of 0.6 beside its own on a unit link) and its compute s = 1.25 times by a
    power cap, takes c s + m k = 8.75 + 4.8 = 13.55 s: the slowed parts are disjoint, so the
    excesses add (contention 1.18 and power 1.175 multiplied would give 13.865 s). The
    factors come from the model's own pieces
    (Footprint.factor, step_slowdown); an elastic job on fewer nodes scales the whole step by
    ``elastic`` by definition. Over N = 20 steps the buckets are N e m (k - 1) contention,
    N e c (s - 1) power cap and N (c + m)(e - 1) elastic, adding up to the wall excess.
    Tolerance 1e-12 relative (float rounding only)."""
    compute, comm, k, s, steps = 7.0, 3.0, 1.6, 1.25, 20
    step = compute + comm
    contention = _contended_footprint(compute, comm).factor({("leaf0", "spine0"): k - 1.0})
    power = step_slowdown(s, compute / step)
    wall_step = elastic * (compute * s + comm * k)  # the independent ground truth

    timeline = Timeline(np.arange(1, steps + 1) * step, step, 0.0, elastic, contention, power)
    assert timeline.factor == pytest.approx(wall_step / step, rel=1e-12)
    end = timeline.end_s()
    assert end == pytest.approx(steps * wall_step, rel=1e-12)

    excess = timeline.excess(end)
    assert excess["contention"] == pytest.approx(steps * elastic * comm * (k - 1), rel=1e-12)
    assert excess["power_cap"] == pytest.approx(steps * elastic * compute * (s - 1), rel=1e-12)
    assert excess["waiting_for_resources"] == pytest.approx(steps * step * (elastic - 1),
                                                            rel=1e-12, abs=1e-12)
    assert excess["straggler_delay"] == 0.0
    parts = excess["contention"] + excess["power_cap"] + excess["waiting_for_resources"]
    assert parts == pytest.approx(end - steps * step, rel=1e-12)
