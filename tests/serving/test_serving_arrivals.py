"""Arrival processes and length distributions against their analytic moments."""

from __future__ import annotations

import numpy as np
import pytest

from fleetsim.engine.rng import RandomStreams
from fleetsim.serving.arrivals import (ArrivalError, generate_requests, make_arrival,
                                       make_length)


def test_poisson_counts_mean_and_dispersion():
    """Counts of a Poisson(5/s) process in 10 s windows: mean 50 and variance/mean 1.
    2,000 windows: s.e. of the mean 0.16 (tolerance 1.5%), of the dispersion index ~0.03
    (tolerance 0.12)."""
    rng = RandomStreams(1).stream("arrivals")
    process = make_arrival("poisson", rate=5.0)
    counts = np.array([process.times(rng, 10.0).size for _ in range(2000)])
    assert counts.mean() == pytest.approx(50, rel=0.015)
    assert counts.var(ddof=1) / counts.mean() == pytest.approx(1.0, abs=0.12)


@pytest.mark.parametrize("cv", [0.5, 1.0, 3.0])
def test_gamma_gaps_mean_and_cv(cv):
    """Gamma renewal gaps: mean 1/rate and coefficient of variation cv (shape 1/cv^2).
    ~200k gaps: tolerance 5% on cv (s.e. < 1.5% even at cv = 3), 2% on the rate."""
    rng = RandomStreams(2).stream("arrivals")
    times = make_arrival("gamma", rate=100.0, cv=cv).times(rng, 2000.0)
    gaps = np.diff(times)
    assert times.size / 2000.0 == pytest.approx(100.0, rel=0.02)
    assert gaps.std() / gaps.mean() == pytest.approx(cv, rel=0.05)
    assert np.all(np.diff(times) >= 0) and times[-1] < 2000.0


def test_diurnal_mean_rate_and_peak_to_trough():
    """Thinned sinusoid: count over whole periods = mean_rate * T; counts near the peak and
    trough quarter-periods in ratio close to (1 + a*0.9)/(1 - a*0.9) (sin averaged over
    +-pi/4 is 0.9003). 10 periods of 1,000 s at 50/s: 500k arrivals, tolerances 1% and 5%."""
    process = make_arrival("diurnal", mean_rate=50.0, peak_to_trough=3.0, period_s=1000.0)
    times = process.times(RandomStreams(3).stream("arrivals"), 10_000.0)
    assert times.size / 10_000.0 == pytest.approx(50.0, rel=0.01)
    phase = np.mod(times, 1000.0)
    peak = np.sum(np.abs(phase - 250.0) < 125.0)
    trough = np.sum(np.abs(phase - 750.0) < 125.0)
    a = 0.5 * 0.9003
    assert peak / trough == pytest.approx((1 + a) / (1 - a), rel=0.05)


def test_trace_replay_sorted_with_lengths():
    trace = make_arrival("trace", records=[(2.0, 10, 5), (0.5, 20, 7), (9.0, 1, 1)])
    times, prompts, outputs = generate_requests(trace, None, None, None, horizon_s=5.0)
    assert times.tolist() == [0.5, 2.0]
    assert prompts.tolist() == [20, 10] and outputs.tolist() == [7, 5]


def test_length_distributions_means():
    """Sample means within 2% of the analytic means (100k draws)."""
    rng = RandomStreams(4).stream("lengths")
    for name, params in [("fixed", {"value": 128}), ("uniform", {"low": 10, "high": 90}),
                         ("lognormal", {"mean": 300.0, "sigma": 0.7}),
                         ("empirical", {"values": [10, 20, 60]})]:
        dist = make_length(name, **params)
        sample = dist.sample(rng, 100_000)
        assert sample.min() >= 1 and sample.dtype == np.int64
        assert sample.mean() == pytest.approx(dist.mean, rel=0.02), name


def test_unknown_names_and_bad_parameters():
    with pytest.raises(ArrivalError, match="known: "):
        make_arrival("weibull", rate=1)
    with pytest.raises(ArrivalError):
        make_arrival("poisson", rate=-1)
    with pytest.raises(ArrivalError):
        make_length("uniform", low=5, high=2)


def test_same_seed_same_times():
    def draw():
        return make_arrival("gamma", rate=3, cv=2).times(RandomStreams(7).stream("a"), 100.0)
    assert np.array_equal(draw(), draw())
