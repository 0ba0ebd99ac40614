"""Samplers of job durations and sizes, from the ``workload.classes`` distributions (pure numpy).

Durations (seconds of failure-free compute): ``fixed``; ``exponential`` (mean); ``lognormal``
with the given *mean* and ``sigma`` of the underlying normal (mu = ln(mean) - sigma^2 / 2);
``weibull`` with the given mean and ``shape`` (scale = mean / Gamma(1 + 1/shape); shape < 1
is heavy-tailed, as the durations of Philly's and Helios' jobs are); ``empirical`` (values
drawn with their weights). Each sampler knows its analytic mean, which the run limit and the
tests use.

Sizes (GPUs): drawn likewise, then rounded to what a scheduler can place: a size of a node or
more to the nearest whole number of nodes, a smaller one up to the next power of two (1, 2,
4, ... GPUs of one node), and capped at the cluster's usable GPUs.
"""

from __future__ import annotations

import math

import numpy as np

from fleetsim.scenario.workload import DurationDistribution, SizeDistribution


def duration_mean(spec: DurationDistribution) -> float:
    """The distribution's mean (seconds)."""
    if spec.distribution == "fixed":
        return float(spec.value)  # type: ignore[arg-type]
    if spec.distribution == "empirical":
        values = np.asarray(spec.values, dtype=float)
        return float(np.average(values, weights=spec.weights))
    return float(spec.mean)  # type: ignore[arg-type]


def sample_durations(spec: DurationDistribution, rng: np.random.Generator,
                     count: int) -> np.ndarray:
    """``count`` durations (seconds)."""
    kind = spec.distribution
    if kind == "fixed":
        return np.full(count, float(spec.value))  # type: ignore[arg-type]
    if kind == "exponential":
        return rng.exponential(spec.mean, count)
    if kind == "lognormal":
        mu = math.log(spec.mean) - spec.sigma**2 / 2  # type: ignore[arg-type]
        return rng.lognormal(mu, spec.sigma, count)
    if kind == "weibull":
        scale = spec.mean / math.gamma(1 + 1 / spec.shape)  # type: ignore[operator]
        return rng.weibull(spec.shape, count) * scale
    return _empirical(spec.values, spec.weights, rng, count)


def sample_sizes(spec: SizeDistribution, rng: np.random.Generator, count: int,
                 gpus_per_node: int, usable_gpus: int) -> np.ndarray:
    """``count`` job sizes (GPUs), rounded and capped (module docstring)."""
    kind = spec.distribution
    if kind == "fixed":
        raw = np.full(count, float(spec.value))  # type: ignore[arg-type]
    elif kind == "lognormal":
        mu = math.log(spec.mean) - spec.sigma**2 / 2  # type: ignore[arg-type]
        raw = rng.lognormal(mu, spec.sigma, count)
    else:
        raw = _empirical(spec.values, spec.weights, rng, count)
    return round_sizes(raw, gpus_per_node, usable_gpus)


def round_sizes(raw: np.ndarray, gpus_per_node: int, usable_gpus: int) -> np.ndarray:
    """Sizes a scheduler can place (module docstring)."""
    raw = np.maximum(np.asarray(raw, dtype=float), 1.0)
    small = 2.0 ** np.ceil(np.log2(raw))
    whole = np.maximum(np.rint(raw / gpus_per_node), 1.0) * gpus_per_node
    sizes = np.where(raw < gpus_per_node, np.minimum(small, gpus_per_node), whole)
    cap = max(gpus_per_node, usable_gpus // gpus_per_node * gpus_per_node)
    return np.minimum(sizes, cap).astype(np.int64)


def possible_sizes(spec: SizeDistribution, gpus_per_node: int,
                   usable_gpus: int) -> list[int] | None:
    """Every size the distribution can give after rounding (``None``: too many to list)."""
    if spec.distribution == "fixed":
        values = [spec.value]
    elif spec.distribution == "empirical":
        values = list(spec.values or ())
    else:
        return None
    return sorted({int(size) for size in round_sizes(np.asarray(values, dtype=float),
                                                     gpus_per_node, usable_gpus)})


def _empirical(values, weights, rng: np.random.Generator, count: int) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    probabilities = None
    if weights is not None:
        probabilities = np.asarray(weights, dtype=float) / float(np.sum(weights))
    return rng.choice(values, size=count, p=probabilities)
