"""Shared storage bandwidth: processor sharing against its closed forms."""

from __future__ import annotations

import pytest
import simpy

from fleetsim.cluster.storage import SharedStorage


def _finish_times(transfers: list[tuple[float, float]], bandwidth: float = 100.0):
    env = simpy.Environment()
    storage = SharedStorage(env, bandwidth)
    done: dict[int, float] = {}

    def start(index: int, at: float, size: float):
        yield env.timeout(at)
        yield storage.transfer(size)
        done[index] = env.now

    for index, (at, size) in enumerate(transfers):
        env.process(start(index, at, size))
    env.run()
    return done, storage


def test_one_transfer_takes_size_over_bandwidth():
    done, _ = _finish_times([(0.0, 500.0)])
    assert done[0] == pytest.approx(5.0)


def test_equal_transfers_share_the_bandwidth():
    """n equal transfers started together all finish at n x size / bandwidth."""
    done, storage = _finish_times([(0.0, 300.0)] * 4)
    assert all(time == pytest.approx(12.0) for time in done.values())
    assert storage.busy_s == pytest.approx(12.0) and storage.bytes_moved == 1200.0


def test_a_late_transfer_slows_the_first():
    """Processor sharing by hand: A (1000 B) alone for 2 s moves 200 B; then A and B (200 B)
    share 50 B/s each: B ends at 2 + 4 = 6 s having moved 200 B, A has 1000 - 200 - 200 = 600 B
    left at full speed: done at 6 + 6 = 12 s. Work conservation: 1200 B / 100 B/s = 12 s."""
    done, _ = _finish_times([(0.0, 1000.0), (2.0, 200.0)])
    assert done[1] == pytest.approx(6.0)
    assert done[0] == pytest.approx(12.0)
