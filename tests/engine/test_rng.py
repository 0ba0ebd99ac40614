"""Named random streams: independent of creation order, reproducible, distinct per name."""

from __future__ import annotations

import numpy as np

from fleetsim.engine import RandomStreams


def test_a_stream_depends_only_on_seed_and_name():
    first = RandomStreams(3)
    first.stream("arrivals")
    a = first.stream("faults").random(5)
    b = RandomStreams(3).stream("faults").random(5)
    assert np.array_equal(a, b)


def test_streams_differ_by_name_and_seed():
    streams = RandomStreams(3)
    assert not np.array_equal(streams.stream("faults").random(5),
                              streams.stream("stragglers").random(5))
    assert not np.array_equal(RandomStreams(3).stream("faults").random(5),
                              RandomStreams(4).stream("faults").random(5))


def test_a_stream_is_shared_within_a_run():
    streams = RandomStreams(1)
    assert streams.stream("faults") is streams.stream("faults")
