"""Request arrival processes and prompt/output length distributions, registered by name.

Every arrival process has ``times(rng, horizon_s) -> np.ndarray`` (sorted arrival times in
``[0, horizon_s)``, drawn with numpy in bulk) and knows its analytic ``mean_rate``. Every length
distribution has ``sample(rng, n) -> np.ndarray`` of integer token counts (>= 1) and its
analytic ``mean``. The YAML names are the registry keys::

    ARRIVALS: poisson(rate), gamma(rate, cv), diurnal(mean_rate, peak_to_trough, period_s,
              phase_s), trace(records=[(time_s, prompt_tokens, output_tokens), ...]),
              closed(concurrency, think_s)
    LENGTHS:  fixed(value), uniform(low, high), lognormal(mean, sigma), empirical(values)

Draws come from the generator the caller passes (the run's ``"arrivals"`` stream of
:class:`fleetsim.engine.rng.RandomStreams`); nothing here holds global state.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from fleetsim.errors import FleetsimError
from fleetsim.registry import Registry, UnknownName
from fleetsim.kinds import MAX_CV


class ArrivalError(FleetsimError):
    """Bad parameters of an arrival process or length distribution, or an unknown name."""


#: Constructors by YAML name (a class, or a factory where the YAML parameter names differ).
ARRIVALS: Registry[Callable[..., "ArrivalProcess"]] = Registry("arrival process")
LENGTHS: Registry[Callable[..., "LengthDistribution"]] = Registry("length distribution")
register_arrival = ARRIVALS.register
register_length = LENGTHS.register


def _build(table: Registry, what: str, name: str, params: dict):
    try:
        factory = table.get(name)
    except UnknownName as error:
        raise ArrivalError(str(error)) from None
    try:
        return factory(**params)
    except TypeError as error:
        raise ArrivalError(f"{what} {name!r}: {error}") from None


def make_arrival(name: str, **params) -> "ArrivalProcess":
    """The arrival process registered as ``name``: ``make_arrival("poisson", rate=5)``."""
    return _build(ARRIVALS, "arrival process", name, params)


def make_length(name: str, **params) -> "LengthDistribution":
    """The length distribution registered as ``name`` with ``params``."""
    return _build(LENGTHS, "length distribution", name, params)


def _positive(name: str, value: float, limit: float = math.inf) -> None:
    """``0 < value <= limit`` (and finite): the samplers' loops depend on it."""
    if not (0 < value <= limit and math.isfinite(value)):
        bound = "" if math.isinf(limit) else f" and at most {limit:g}"
        raise ArrivalError(f"{name} must be finite, > 0{bound}, got {value}")


# ------------------------------------------------------------------------------ arrivals
class ArrivalProcess(ABC):
    """A point process of request arrivals."""

    name: str = ""

    @abstractmethod
    def times(self, rng: np.random.Generator, horizon_s: float) -> np.ndarray:
        """Sorted arrival times in ``[0, horizon_s)``."""

    @property
    @abstractmethod
    def mean_rate(self) -> float:
        """Long-run arrivals per second."""


@register_arrival
@dataclass(frozen=True)
class Poisson(ArrivalProcess):
    """Homogeneous Poisson process: the count in [0, T) is Poisson(rate T), the times are then
    iid uniform (order statistics), so the whole horizon is one vectorised draw."""

    rate: float
    name = "poisson"

    def __post_init__(self) -> None:
        _positive("rate", self.rate)

    @property
    def mean_rate(self) -> float:
        return self.rate

    def times(self, rng: np.random.Generator, horizon_s: float) -> np.ndarray:
        count = rng.poisson(self.rate * horizon_s)
        return np.sort(rng.uniform(0.0, horizon_s, count))


def _renewal(rng: np.random.Generator, horizon_s: float, rate: float, draw) -> np.ndarray:
    """Cumulative sums of inter-arrival gaps ``draw(n)`` until the horizon, drawn in chunks."""
    chunks: list[np.ndarray] = []
    start = 0.0
    expected = rate * horizon_s
    while True:
        n = int(expected + 5 * math.sqrt(expected) + 16)
        times = start + np.cumsum(draw(n))
        chunks.append(times)
        if times[-1] >= horizon_s:
            break
        start = float(times[-1])
        expected = rate * (horizon_s - start)
    times = np.concatenate(chunks)
    return times[times < horizon_s]


@register_arrival
@dataclass(frozen=True)
class Gamma(ArrivalProcess):
    """Renewal process with gamma inter-arrival gaps of mean ``1/rate`` and coefficient of
    variation ``cv`` (shape ``1/cv^2``): cv = 1 is Poisson, cv > 1 is bursty (as in the
    AlpaServe and DistServe workloads), cv < 1 is more regular."""

    rate: float
    cv: float = 1.0
    name = "gamma"

    def __post_init__(self) -> None:
        _positive("rate", self.rate)
        _positive("cv", self.cv, MAX_CV)  # a larger cv: gaps of 0 and one huge, forever

    @property
    def mean_rate(self) -> float:
        return self.rate

    def times(self, rng: np.random.Generator, horizon_s: float) -> np.ndarray:
        shape = 1.0 / self.cv ** 2
        scale = 1.0 / (self.rate * shape)
        return _renewal(rng, horizon_s, self.rate, lambda n: rng.gamma(shape, scale, n))


@register_arrival
@dataclass(frozen=True)
class Diurnal(ArrivalProcess):
    """Non-homogeneous Poisson process with a sinusoidal daily rate, drawn by thinning.

    ``rate(t) = mean_rate * (1 + a sin(2 pi (t - phase_s) / period_s))`` with
    ``a = (r - 1) / (r + 1)`` for peak/trough ratio ``r``, so ``max/min = r`` and the mean over
    a period is ``mean_rate``. Thinning (Lewis & Shedler 1979): candidates from a Poisson
    process at the peak rate, each kept with probability ``rate(t) / peak``.
    """

    mean_rate_rps: float
    peak_to_trough: float = 2.0
    period_s: float = 86_400.0
    phase_s: float = 0.0
    name = "diurnal"

    def __post_init__(self) -> None:
        _positive("mean_rate", self.mean_rate_rps)
        _positive("period_s", self.period_s)
        if not 1 <= self.peak_to_trough < math.inf:
            raise ArrivalError(f"peak_to_trough must be finite and >= 1, got "
                               f"{self.peak_to_trough}")

    @property
    def amplitude(self) -> float:
        return (self.peak_to_trough - 1) / (self.peak_to_trough + 1)

    @property
    def mean_rate(self) -> float:
        return self.mean_rate_rps

    def rate(self, t_s):
        """Instantaneous rate at ``t_s`` (scalar or array)."""
        return self.mean_rate_rps * (1 + self.amplitude * np.sin(
            2 * np.pi * (np.asarray(t_s, float) - self.phase_s) / self.period_s))

    def times(self, rng: np.random.Generator, horizon_s: float) -> np.ndarray:
        peak = self.mean_rate_rps * (1 + self.amplitude)
        candidates = Poisson(peak).times(rng, horizon_s)
        keep = rng.uniform(0.0, peak, candidates.size) < self.rate(candidates)
        return candidates[keep]


def _diurnal_factory(mean_rate: float, peak_to_trough: float = 2.0, period_s: float = 86_400.0,
                     phase_s: float = 0.0) -> Diurnal:
    return Diurnal(mean_rate, peak_to_trough, period_s, phase_s)


ARRIVALS.register(_diurnal_factory, "diurnal")  # YAML spells the parameter ``mean_rate``


@register_arrival
class Trace(ArrivalProcess):
    """Replay of recorded requests ``(time_s, prompt_tokens, output_tokens)``; the lengths come
    with the trace (:meth:`lengths`), the generator is not used."""

    name = "trace"

    def __init__(self, records: Sequence[Sequence[float]]) -> None:
        array = np.asarray(records, float).reshape(-1, 3)
        if array.size and (array[:, 0].min() < 0 or array[:, 1:].min() < 1):
            raise ArrivalError("trace times must be >= 0 and token counts >= 1")
        order = np.argsort(array[:, 0], kind="stable")
        self.records = array[order]

    @property
    def mean_rate(self) -> float:
        if len(self.records) < 2:
            return 0.0
        span = self.records[-1, 0] - self.records[0, 0]
        return (len(self.records) - 1) / span if span > 0 else math.inf

    def _within(self, horizon_s: float) -> np.ndarray:
        return self.records[self.records[:, 0] < horizon_s]

    def times(self, rng: np.random.Generator | None, horizon_s: float) -> np.ndarray:
        return self._within(horizon_s)[:, 0].copy()

    def lengths(self, horizon_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Prompt and output token counts of the requests arriving before ``horizon_s``."""
        within = self._within(horizon_s)
        return within[:, 1].astype(np.int64), within[:, 2].astype(np.int64)


@register_arrival
@dataclass(frozen=True)
class ClosedLoop(ArrivalProcess):
    """A closed-loop client population: ``concurrency`` clients each send a request, wait for
    its response (or its drop), pause ``think_s`` and send the next, so at most
    ``concurrency`` requests are in the system. Benchmarks driven by concurrency (a static
    batch of N, ``--max-concurrency N``, trtllm-bench's offline mode) replay this way.

    Arrival times depend on the responses, so they are not drawn here: the serving job issues
    requests as they complete (:meth:`times` gives the initial ``concurrency`` at time 0).
    With zero think time the throughput is ``concurrency / mean response time`` (Little's law
    on the closed system, the interactive response time law of Denning & Buzen 1978)."""

    concurrency: int
    think_s: float = 0.0
    name = "closed"

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ArrivalError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.think_s < 0:
            raise ArrivalError(f"think time must be >= 0, got {self.think_s}")

    @property
    def mean_rate(self) -> float:
        return math.nan  # set by the responses

    def times(self, rng: np.random.Generator | None, horizon_s: float) -> np.ndarray:
        return np.zeros(self.concurrency if horizon_s > 0 else 0)


# ------------------------------------------------------------------------------ lengths
class LengthDistribution(ABC):
    """A distribution of token counts (integers >= 1)."""

    name: str = ""

    @abstractmethod
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` token counts, ``int64``, each >= 1."""

    @property
    @abstractmethod
    def mean(self) -> float:
        """Analytic mean (before rounding to integers)."""


@register_length
@dataclass(frozen=True)
class Fixed(LengthDistribution):
    value: int
    name = "fixed"

    def __post_init__(self) -> None:
        if self.value < 1:
            raise ArrivalError(f"value must be >= 1, got {self.value}")

    @property
    def mean(self) -> float:
        return float(self.value)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, int(self.value), dtype=np.int64)


@register_length
@dataclass(frozen=True)
class Uniform(LengthDistribution):
    """Integers uniform on ``[low, high]`` inclusive."""

    low: int
    high: int
    name = "uniform"

    def __post_init__(self) -> None:
        if not 1 <= self.low <= self.high:
            raise ArrivalError(f"need 1 <= low <= high, got low={self.low} high={self.high}")

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.integers(self.low, self.high, n, endpoint=True, dtype=np.int64)


@register_length
@dataclass(frozen=True)
class Lognormal(LengthDistribution):
    """Lognormal with the given ``mean`` (tokens) and log-space ``sigma``: ``mu = ln(mean) -
    sigma^2/2``; rounded to integers, at least 1."""

    mean_tokens: float
    sigma: float = 1.0
    name = "lognormal"

    def __post_init__(self) -> None:
        _positive("mean", self.mean_tokens)
        if self.sigma < 0:
            raise ArrivalError(f"sigma must be >= 0, got {self.sigma}")

    @property
    def mean(self) -> float:
        return float(self.mean_tokens)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        mu = math.log(self.mean_tokens) - self.sigma ** 2 / 2
        return np.maximum(1, np.rint(rng.lognormal(mu, self.sigma, n))).astype(np.int64)


def _lognormal_factory(mean: float, sigma: float = 1.0) -> Lognormal:
    return Lognormal(mean, sigma)


LENGTHS.register(_lognormal_factory, "lognormal")  # YAML spells the parameter ``mean``


@register_length
class Empirical(LengthDistribution):
    """Resampling (with replacement) of observed lengths, e.g. from ShareGPT."""

    name = "empirical"

    def __init__(self, values: Sequence[int]) -> None:
        array = np.asarray(values, dtype=np.int64).reshape(-1)
        if array.size == 0 or array.min() < 1:
            raise ArrivalError("empirical values must be a non-empty list of integers >= 1")
        self.values = array

    @property
    def mean(self) -> float:
        return float(self.values.mean())

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.choice(self.values, n, replace=True)


# ------------------------------------------------------------------------------ requests
def generate_requests(arrival: ArrivalProcess, prompt: LengthDistribution | None,
                      output: LengthDistribution | None, rng: np.random.Generator,
                      horizon_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(times_s, prompt_tokens, output_tokens)`` of every request arriving before the horizon.

    A :class:`Trace` brings its own lengths (``prompt``/``output`` are then ignored).
    """
    times = arrival.times(rng, horizon_s)
    if isinstance(arrival, Trace):
        prompts, outputs = arrival.lengths(horizon_s)
        return times, prompts, outputs
    if prompt is None or output is None:
        raise ArrivalError("prompt and output length distributions are required")
    return times, prompt.sample(rng, times.size), output.sample(rng, times.size)
