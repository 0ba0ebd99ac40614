"""Means and Student-t 95% confidence intervals over a sweep's replicates.

For the ``n`` replicates of one point (one value per seed), the interval is
``mean ± t(0.975, n - 1) · s / sqrt(n)`` with ``s`` the sample standard deviation (``ddof=1``):
the usual interval for the mean of iid normal samples, which is also right for means of many
seeds by the central limit theorem. With ``n = 1`` there is no interval (``NaN``).

The t quantile is computed here (the regularized incomplete beta function by its continued
fraction, Numerical Recipes 3rd ed. §6.4, then bisection) so that scipy is not needed at run
time; tests/sweep/test_stats.py checks it against ``scipy.stats.t.ppf``.
"""

from __future__ import annotations

import functools
import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

CONFIDENCE = 0.95

#: Suffixes of the aggregate columns written for each numeric result column.
AGGREGATE_SUFFIXES = ("mean", "ci95_low", "ci95_high")


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (modified Lentz), NR 3rd ed. ``betacf``."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


@functools.lru_cache(maxsize=1024)
def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` > 0 degrees of freedom (0 < p < 1)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if df <= 0:
        raise ValueError(f"df must be > 0, got {df}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if middle in (low, high):
            break
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def mean_ci(values: Iterable[float], confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """``(mean, low, high)`` of the Student-t interval; NaNs are dropped; no interval if n < 2."""
    sample = np.asarray([value for value in values if value is not None], dtype=float)
    sample = sample[~np.isnan(sample)]
    n = len(sample)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(sample.mean())
    if n < 2:
        return mean, math.nan, math.nan
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * float(sample.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half


def numeric_columns(results: pd.DataFrame, exclude: Sequence[str]) -> list[str]:
    """Result columns that hold numbers (booleans count: their mean is a fraction)."""
    columns = []
    for column in results.columns:
        if column in exclude:
            continue
        if _as_numbers(results[column]) is not None:
            columns.append(column)
    return columns


def _as_numbers(series: pd.Series) -> pd.Series | None:
    """``series`` as floats, or None if it holds anything but numbers, booleans and nulls."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.astype(float)
    values = series.dropna()
    if values.empty or not all(isinstance(value, (int, float, bool, np.number))
                               for value in values):
        return None
    return pd.to_numeric(series.astype(object).where(series.notna(), None), errors="coerce")


def aggregate(results: pd.DataFrame, parameters: Sequence[str],
              confidence: float = CONFIDENCE) -> pd.DataFrame:
    """One row per point: its parameters, ``runs``, and per numeric result column
    ``COLUMN.mean``, ``COLUMN.ci95_low``, ``COLUMN.ci95_high``.

    ``results`` has a ``point`` column (the point's index); parameters are taken from the
    point's first row, as written.
    """
    exclude = ["point", "seed", *parameters]
    columns = numeric_columns(results, exclude)
    numbers = {column: _as_numbers(results[column]) for column in columns}
    rows = []
    for point, index in results.groupby("point", sort=True).groups.items():
        first = results.loc[index[0]]
        row: dict[str, object] = {"point": point}
        row.update({name: first[name] for name in parameters})
        row["runs"] = len(index)
        for column in columns:
            mean, low, high = mean_ci(numbers[column].loc[index].tolist(), confidence)
            row[f"{column}.mean"] = mean
            row[f"{column}.ci95_low"] = low
            row[f"{column}.ci95_high"] = high
        rows.append(row)
    header = ["point", *parameters, "runs",
              *(f"{column}.{suffix}" for column in columns for suffix in AGGREGATE_SUFFIXES)]
    return pd.DataFrame(rows, columns=header)
