"""Straggler factors: jitter laws against scipy, order-statistic maxima against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from fleetsim.faults.stragglers import (
    JITTER,
    ExponentialJitter,
    HalfNormalJitter,
    Jitter,
    LognormalJitter,
    NoJitter,
    WeibullJitter,
    expected_max_factor,
    jitter_from,
    max_factor,
    step_factors,
)

#: Each registered jitter with an independent scipy.stats reference of the same F (one entry per
#: distribution: adding a distribution adds a line here).
CASES: dict[str, tuple[Jitter, stats.rv_continuous | stats.rv_discrete]] = {
    "none": (NoJitter(), stats.rv_discrete(values=([1], [1.0]))()),
    "exponential": (ExponentialJitter(0.01), stats.expon(loc=1, scale=0.01)),
    "lognormal": (LognormalJitter(sigma=0.8), stats.lognorm(s=0.8, loc=1, scale=0.01)),
    "normal": (HalfNormalJitter(cv=0.02), stats.halfnorm(loc=1, scale=0.02)),
    "weibull": (WeibullJitter(shape=0.7, scale=0.01), stats.weibull_min(c=0.7, loc=1, scale=0.01)),
}
NAMES = sorted(CASES)


def harmonic(n: int) -> float:
    return float(np.sum(1.0 / np.arange(1, n + 1, dtype=float)))


def test_every_registered_jitter_has_a_reference_case():
    assert set(JITTER) == set(CASES)
    assert all(JITTER[name] is type(jitter) for name, (jitter, _) in CASES.items())


@pytest.mark.parametrize("name", NAMES)
def test_distribution_functions_match_scipy(name):
    """cdf, sf, ppf, isf and mean agree with scipy.stats' own distribution of F.

    Source: scipy.stats (expon, lognorm, halfnorm, weibull_min with loc=1). Tolerance: 1e-12
    absolute on probabilities, 1e-9 relative on quantiles (isf down to tail 1e-15) and means.
    """
    jitter, reference = CASES[name]
    u = np.linspace(0.001, 0.999, 101)
    x = np.concatenate([[0.5, 1.0], reference.ppf(u), [1.5, 3.0]])
    np.testing.assert_allclose(jitter.cdf(x), reference.cdf(x), rtol=0, atol=1e-12)
    np.testing.assert_allclose(jitter.sf(x), reference.sf(x), rtol=0, atol=1e-12)
    np.testing.assert_allclose(jitter.ppf(u), reference.ppf(u), rtol=1e-9)
    q = np.logspace(-15, -0.01, 60)
    np.testing.assert_allclose(jitter.isf(q), reference.isf(q), rtol=1e-9)
    assert jitter.mean() == pytest.approx(float(reference.mean()), rel=1e-9)


@pytest.mark.parametrize("ranks", [1, 2, 8, 64, 1024])
@pytest.mark.parametrize("name", NAMES)
def test_max_factor_matches_the_brute_force_maximum(name, ranks):
    """The order-statistic draw has the law of the max of ``ranks`` explicit draws.

    Source: David & Nagaraja, Order Statistics, section 2.1 (max of n iid has CDF G^n).
    Brute force: scipy.stats' own sampler, max over axis 1. Check: two-sample KS, 2,000
    samples each, fixed seeds, p > 0.001.
    """
    jitter, reference = CASES[name]
    ours = max_factor(jitter, ranks, 2000, np.random.default_rng(11))
    brute = reference.rvs(size=(2000, ranks), random_state=np.random.default_rng(12)).max(axis=1)
    assert stats.ks_2samp(ours, brute).pvalue > 0.001


def test_exponential_maximum_follows_renyi_at_a_million_ranks():
    """E[max of n Exp(mean)] = mean * H_n (Renyi representation; David & Nagaraja).

    n = 10^6 ranks, 10^5 samples, fixed seed; tolerance 1% of the excess (the standard error is
    about 0.03%). At this n, U ** (1/n) is within 1e-5 of 1, so this also checks the tail path.
    """
    mean, ranks = 0.01, 10**6
    excess = max_factor(ExponentialJitter(mean), ranks, 10**5, np.random.default_rng(5)) - 1.0
    assert excess.mean() == pytest.approx(mean * harmonic(ranks), rel=0.01)


def test_tail_precision_survives_ranks_beyond_double_resolution():
    """At n = 10^15, U ** (1/n) rounds to 1 (an infinite factor) while the tail form stays exact.

    Source: Renyi, with H_n = ln n + Euler's gamma + O(1/n). Tolerance 1% of the excess,
    10^4 samples (standard error about 0.1%).
    """
    mean, ranks = 0.01, 10**15
    u = np.random.default_rng(9).random(10**4)
    with np.errstate(divide="ignore"):
        naive = ExponentialJitter(mean).ppf(u ** (1.0 / ranks))
    assert not np.all(np.isfinite(naive))
    excess = max_factor(ExponentialJitter(mean), ranks, 10**4, np.random.default_rng(9)) - 1.0
    assert np.all(np.isfinite(excess))
    assert excess.mean() == pytest.approx(mean * (math.log(ranks) + np.euler_gamma), rel=0.01)


def test_expected_max_factor_matches_renyi_closed_form():
    """The integral 1 + int (1 - G^n) dx reproduces 1 + mean * H_n; tolerance 1e-7 relative."""
    jitter = ExponentialJitter(0.01)
    for ranks in (1, 10, 1000, 10**6):
        assert expected_max_factor(jitter, ranks) - 1.0 == pytest.approx(
            0.01 * harmonic(ranks), rel=1e-7)


@pytest.mark.parametrize("ranks", [1, 64, 10**6])
@pytest.mark.parametrize("name", NAMES)
def test_expected_max_factor_matches_the_sample_mean(name, ranks):
    """Numerical E[max] agrees with the mean of 20,000 order-statistic draws.

    Source: law of large numbers; tolerance 5 standard errors of the sample mean (fixed seed).
    At one rank it also equals the distribution's analytic mean (1e-8 relative).
    """
    jitter, _ = CASES[name]
    draws = max_factor(jitter, ranks, 20_000, np.random.default_rng(3))
    standard_error = draws.std(ddof=1) / math.sqrt(draws.size)
    assert abs(expected_max_factor(jitter, ranks) - draws.mean()) <= 5 * standard_error + 1e-12
    if ranks == 1:
        assert expected_max_factor(jitter, 1) == pytest.approx(jitter.mean(), rel=1e-8)


def test_no_jitter_is_exactly_one():
    """``none`` gives F = 1 exactly, at any rank count, sampled or integrated."""
    for ranks in (1, 1000, 10**9):
        assert np.all(max_factor(NoJitter(), ranks, 100, np.random.default_rng(0)) == 1.0)
        assert expected_max_factor(NoJitter(), ranks) == 1.0
    factors = step_factors(NoJitter(), 100, 3, 1.1, 50, np.random.default_rng(0))
    assert np.all(factors == 1.1)


def test_step_factors_without_slow_ranks_is_max_factor():
    """No slow ranks: the same numbers as max_factor, and the rng left in the same state."""
    jitter = LognormalJitter(sigma=0.5)
    rng_a, rng_b = np.random.default_rng(21), np.random.default_rng(21)
    assert np.array_equal(step_factors(jitter, 512, 0, 1.1, 1000, rng_a),
                          max_factor(jitter, 512, 1000, rng_b))
    assert rng_a.random() == rng_b.random()


def test_all_ranks_slow_scales_the_maximum():
    """slow_ranks = ranks: exactly slowdown * max_factor over all ranks (same rng state)."""
    jitter = WeibullJitter(shape=1.5, scale=0.02)
    factors = step_factors(jitter, 64, 64, 1.2, 500, np.random.default_rng(4))
    assert np.array_equal(factors, 1.2 * max_factor(jitter, 64, 500, np.random.default_rng(4)))


def test_a_few_slow_ranks_set_the_step_when_jitter_is_tiny():
    """MegaScale-style: 5 of 1,000 ranks 10% slow, jitter ~1e-9: step factor 1.1 (1e-6 relative)."""
    factors = step_factors(ExponentialJitter(1e-9), 1000, 5, 1.1, 1000, np.random.default_rng(8))
    assert np.all(factors >= 1.1)
    np.testing.assert_allclose(factors, 1.1, rtol=1e-6)


def test_jitter_from_builds_by_scenario_name():
    assert jitter_from("exponential", mean=0.02) == ExponentialJitter(0.02)
    assert jitter_from("weibull", shape=2, scale=0.1) == WeibullJitter(shape=2, scale=0.1)
    assert jitter_from("none") == NoJitter()
    with pytest.raises(ValueError, match="unknown jitter 'gamma'.*exponential"):
        jitter_from("gamma", shape=2)


@pytest.mark.parametrize("call", [
    lambda: LognormalJitter(sigma=-1.0),
    lambda: ExponentialJitter(float("nan")),
    lambda: max_factor(NoJitter(), 0, 10, np.random.default_rng(0)),
    lambda: step_factors(NoJitter(), 8, 9, 1.1, 10, np.random.default_rng(0)),
    lambda: step_factors(NoJitter(), 8, 1, 0.9, 10, np.random.default_rng(0)),
])
def test_invalid_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(NAMES), seed=st.integers(0, 2**32 - 1),
       ranks=st.lists(st.integers(1, 10**9), min_size=2, max_size=2))
def test_max_factor_is_monotone_in_ranks_for_the_same_uniforms(name, seed, ranks):
    """Same U, more ranks: ppf(U ** (1/n)) never decreases, draw by draw (hence in law)."""
    jitter, _ = CASES[name]
    fewer, more = sorted(ranks)
    low = max_factor(jitter, fewer, 64, np.random.default_rng(seed))
    high = max_factor(jitter, more, 64, np.random.default_rng(seed))
    assert np.all(low <= high)
