"""Straggler step factors: how much the slowest of n ranks stretches a synchronous step.

A synchronous step (data-parallel all-reduce, a pipeline flush) ends when its slowest rank ends.
If a rank's step takes ``t0 * F`` with ``t0`` the straggler-free step time and ``F >= 1`` an iid
jitter factor with CDF ``G``, the step takes ``t0 * max(F_1, ..., F_n)``. This module draws that
maximum and nothing else; it is pure numpy/scipy (no SimPy), so the step process just multiplies. scipy is imported where
it is used: it takes most of a second to load, and a run without jitter never needs it.

Order statistics (David & Nagaraja, *Order Statistics*, 3rd ed., 2003, section 2.1): the maximum
of n iid draws has CDF ``G(x)**n``, so with ``U ~ Uniform(0, 1)``::

    max(F_1, ..., F_n) = G^-1(U ** (1/n))

one uniform per step, exact for any n, O(size) work. For large n (10^6 ranks), ``U ** (1/n)``
rounds towards 1 and the tail is lost, so the draw goes through the survival function instead::

    q = 1 - U ** (1/n) = -expm1(log(U) / n)        (tail probability, computed without loss)
    max = G.isf(q)                                  (inverse survival function)

For the exponential, Renyi's representation (Renyi 1953; David & Nagaraja) gives
the check ``E[max of n Exp(mean)] = mean * H_n`` with ``H_n`` the n-th harmonic number.

Persistent slow ranks: MegaScale (Jiang et al., NSDI'24) reports that about 0.5% of
machines were markedly slow (by about 10%) and dragged whole jobs. Such ranks are an explicit
set whose jitter is scaled by ``slowdown``; the step factor is the larger of the two group
maxima (:func:`step_factors`).

Jitter distributions are registered by name in :data:`JITTER` (a scenario's ``jitter:`` names
one). Each is a frozen dataclass of the excess ``X = F - 1 >= 0`` with ``cdf``, ``sf``, ``ppf``,
``isf`` (vectorised, over the factor F) and its analytic ``mean``. Adding a distribution is one
class with ``sf``, ``isf`` and ``mean`` plus one test.
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import MISSING, dataclass, fields
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from fleetsim.registry import Registry

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]

#: Registered jitter distributions by the name a scenario uses.
JITTER: Registry[type[Jitter]] = Registry("jitter")
_register = JITTER.register


def _excess(x: ArrayLike) -> FloatArray:
    """``max(x - 1, 0)``: the excess of a factor over 1 (factors below 1 have no mass)."""
    return np.maximum(np.asarray(x, dtype=float) - 1.0, 0.0)


@dataclass(frozen=True)
class Jitter:
    """A per-rank step-time factor ``F = 1 + X >= 1``; subclasses give ``sf``, ``isf``, ``mean``.

    ``cdf = 1 - sf`` and ``ppf(u) = isf(1 - u)``; use ``sf``/``isf`` in the upper tail, where
    they keep full precision. Parameters must be positive (``ValueError`` otherwise, so a
    pydantic model wrapping a jitter reports it with its key).
    """

    name: ClassVar[str] = ""
    #: Scenario key -> field name, where a key would clash with a method.
    aliases: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
                raise ValueError(f"jitter {self.name!r}: {field.name} must be a positive "
                                 f"number, got {value!r}")

    def sf(self, x: ArrayLike) -> FloatArray:
        """Survival function ``P(F > x)``."""
        raise NotImplementedError

    def isf(self, q: ArrayLike) -> FloatArray:
        """Inverse survival function: the x with ``P(F > x) = q``, for q in (0, 1]."""
        raise NotImplementedError

    def mean(self) -> float:
        """``E[F]``, analytic."""
        raise NotImplementedError

    def cdf(self, x: ArrayLike) -> FloatArray:
        """``P(F <= x)``; 0 below 1."""
        return 1.0 - self.sf(x)

    def ppf(self, u: ArrayLike) -> FloatArray:
        """Inverse CDF (quantile) for u in [0, 1); 1 at u = 0."""
        return self.isf(1.0 - np.asarray(u, dtype=float))


@_register
@dataclass(frozen=True)
class NoJitter(Jitter):
    """``F = 1`` exactly: every rank takes ``t0``."""

    name: ClassVar[str] = "none"

    def sf(self, x: ArrayLike) -> FloatArray:
        return np.where(np.asarray(x, dtype=float) < 1.0, 1.0, 0.0)

    def isf(self, q: ArrayLike) -> FloatArray:
        return np.ones_like(np.asarray(q, dtype=float))

    def mean(self) -> float:
        return 1.0


@_register
@dataclass(frozen=True)
class ExponentialJitter(Jitter):
    """``F = 1 + X``, X exponential: ``P(F > x) = exp(-(x - 1) / mean_excess)``.

    The scenario key is ``mean`` (``E[X]``); the field is ``mean_excess`` because ``mean()``
    is ``E[F] = 1 + mean_excess``.
    """

    name: ClassVar[str] = "exponential"
    aliases: ClassVar[dict[str, str]] = {"mean": "mean_excess"}  # mean() is E[F]
    mean_excess: float

    def sf(self, x: ArrayLike) -> FloatArray:
        return np.exp(-_excess(x) / self.mean_excess)

    def isf(self, q: ArrayLike) -> FloatArray:
        return 1.0 - self.mean_excess * np.log(np.asarray(q, dtype=float))

    def mean(self) -> float:
        return 1.0 + self.mean_excess


@_register
@dataclass(frozen=True)
class LognormalJitter(Jitter):
    """``F = 1 + median * exp(sigma * Z)``, Z standard normal.

    ``median`` is the median excess (default 0.01: half the ranks are more than 1% slow) and
    ``sigma`` the standard deviation of ``log X``; ``E[F] = 1 + median * exp(sigma**2 / 2)``.
    """

    name: ClassVar[str] = "lognormal"
    sigma: float
    median: float = 0.01

    def sf(self, x: ArrayLike) -> FloatArray:
        from scipy import special  # imported on use: scipy loads slowly
        with np.errstate(divide="ignore"):
            z = (np.log(_excess(x)) - math.log(self.median)) / self.sigma
        return special.ndtr(-z)

    def isf(self, q: ArrayLike) -> FloatArray:
        from scipy import special  # imported on use: scipy loads slowly
        z = -special.ndtri(np.asarray(q, dtype=float))  # P(Z > z) = q, exact for tiny q
        return 1.0 + self.median * np.exp(self.sigma * z)

    def mean(self) -> float:
        return 1.0 + self.median * math.exp(self.sigma**2 / 2.0)


@_register
@dataclass(frozen=True)
class HalfNormalJitter(Jitter):
    """``F = 1 + cv * |Z|`` (half-normal), Z standard normal.

    A symmetric normal jitter cannot speed a rank below ``t0`` (the straggler-free time is the
    floor), so the jitter is folded rather than clipped: no atom at 1, a smooth tail,
    ``E[F] = 1 + cv * sqrt(2 / pi)``.
    """

    name: ClassVar[str] = "normal"
    cv: float

    def sf(self, x: ArrayLike) -> FloatArray:
        from scipy import special  # imported on use: scipy loads slowly
        return special.erfc(_excess(x) / (self.cv * math.sqrt(2.0)))

    def isf(self, q: ArrayLike) -> FloatArray:
        from scipy import special  # imported on use: scipy loads slowly
        return 1.0 - self.cv * special.ndtri(np.asarray(q, dtype=float) / 2.0)

    def mean(self) -> float:
        return 1.0 + self.cv * math.sqrt(2.0 / math.pi)


@_register
@dataclass(frozen=True)
class WeibullJitter(Jitter):
    """``F = 1 + X``, X Weibull: ``P(X > y) = exp(-(y / scale) ** shape)``.

    ``shape < 1`` gives a heavier tail than the exponential (``shape = 1``), ``shape > 1`` a
    lighter one; ``E[F] = 1 + scale * Gamma(1 + 1 / shape)``.
    """

    name: ClassVar[str] = "weibull"
    shape: float
    scale: float

    def sf(self, x: ArrayLike) -> FloatArray:
        return np.exp(-((_excess(x) / self.scale) ** self.shape))

    def isf(self, q: ArrayLike) -> FloatArray:
        return 1.0 + self.scale * (-np.log(np.asarray(q, dtype=float))) ** (1.0 / self.shape)

    def mean(self) -> float:
        return 1.0 + self.scale * math.gamma(1.0 + 1.0 / self.shape)


def jitter_from(name: str, **params: float) -> Jitter:
    """The registered jitter ``name`` with ``params`` (YAML names or aliases);
    ``ValueError`` names the choices, the parameters it takes, or what is missing."""
    cls = JITTER.get(name)
    allowed = list(cls.aliases) + [field.name for field in fields(cls)
                                   if field.name not in cls.aliases.values()]
    wrong = [key for key in params if key not in allowed]
    if wrong:
        raise ValueError(f"{', '.join(wrong)} does not apply to jitter {name!r} "
                         f"(it takes: {', '.join(allowed) or 'nothing'})")
    required = [next((alias for alias, target in cls.aliases.items() if target == field.name),
                     field.name)
                for field in fields(cls) if field.default is MISSING]
    missing = [key for key in required if key not in params]
    if missing:
        raise ValueError(f"jitter {name!r} needs {', '.join(missing)}")
    try:
        return cls(**{cls.aliases.get(key, key): value for key, value in params.items()})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"jitter {name!r}: {exc}") from None


def _count(value: int, what: str, low: int) -> int:
    count = operator.index(value)
    if count < low:
        raise ValueError(f"{what} must be >= {low}, got {count}")
    return count


def max_factor(jitter: Jitter, ranks: int, size: int, rng: np.random.Generator) -> FloatArray:
    """``size`` iid draws of ``max(F_1, ..., F_ranks)``, exactly, one uniform each.

    Uses ``U = rng.random(size)`` and ``jitter.isf(-expm1(log(U) / ranks))`` (module
    docstring); O(size) for any ``ranks``. Same rng state, same U: the result is then
    non-decreasing in ``ranks`` draw by draw. ``ValueError`` if ``ranks < 1`` or ``size < 0``.
    """
    ranks = _count(ranks, "ranks", 1)
    u = rng.random(_count(size, "size", 0))
    with np.errstate(divide="ignore"):  # U = 0 gives q = 1, the minimum factor 1
        tail = -np.expm1(np.log(u) / ranks)
    return np.asarray(jitter.isf(tail), dtype=float)


def step_factors(jitter: Jitter, ranks: int, slow_ranks: int, slowdown: float, size: int,
                 rng: np.random.Generator) -> FloatArray:
    """``size`` step factors with ``slow_ranks`` of ``ranks`` persistently ``slowdown`` x slower.

    ``max(max_factor(healthy), slowdown * max_factor(slow))`` from two independent draws, the
    healthy group first; an empty group draws nothing, so ``slow_ranks = 0`` consumes the rng
    exactly as :func:`max_factor` does. ``ValueError`` unless ``0 <= slow_ranks <= ranks`` and
    ``slowdown >= 1``.
    """
    ranks = _count(ranks, "ranks", 1)
    slow_ranks = _count(slow_ranks, "slow_ranks", 0)
    if slow_ranks > ranks:
        raise ValueError(f"slow_ranks ({slow_ranks}) exceeds ranks ({ranks})")
    if not slowdown >= 1.0:
        raise ValueError(f"slowdown must be >= 1, got {slowdown!r}")
    factors = np.ones(_count(size, "size", 0))
    if ranks > slow_ranks:
        factors = max_factor(jitter, ranks - slow_ranks, size, rng)
    if slow_ranks:
        factors = np.maximum(factors, slowdown * max_factor(jitter, slow_ranks, size, rng))
    return factors


def expected_max_factor(jitter: Jitter, ranks: int) -> float:
    """``E[max(F_1, ..., F_ranks)]`` by numerical integration, for reporting and validation.

    Since ``F >= 1``: ``E[max] = 1 + integral from 1 to inf of (1 - G(x)**n) dx``, with the
    integrand computed as ``-expm1(n * log1p(-sf(x)))`` so it keeps precision where ``G`` is
    close to 1. ``scipy.integrate.quad`` runs piecewise between the quantiles at tail
    probabilities ``10**k / n`` (k = 3 .. -6), where the integrand falls from 1 to 0, and on
    to infinity; relative error about 1e-8 for the registered distributions.
    """
    from scipy import integrate  # imported on use: scipy loads slowly

    n = _count(ranks, "ranks", 1)

    def tail(x: float) -> float:
        with np.errstate(divide="ignore"):  # sf = 1 at x = 1: log1p(-1) = -inf, tail 1
            return float(-np.expm1(n * np.log1p(-jitter.sf(x))))

    probabilities = [min(1.0, 10.0**k / n) for k in range(3, -7, -1)]
    breaks = [1.0] + [float(jitter.isf(q)) for q in probabilities]
    total = 0.0
    for low, high in zip(breaks, breaks[1:]):
        if high > low:
            total += integrate.quad(tail, low, high, limit=200, epsabs=0.0, epsrel=1e-10)[0]
    total += integrate.quad(tail, breaks[-1], math.inf, limit=200)[0]
    return 1.0 + total


__all__ = [
    "JITTER", "ExponentialJitter", "HalfNormalJitter", "Jitter", "LognormalJitter", "NoJitter",
    "WeibullJitter", "expected_max_factor", "jitter_from", "max_factor", "step_factors",
]
