"""Means and Student-t 95% confidence intervals over a sweep's replicates.

For the ``n`` replicates of one point (one value per seed), the interval is
``mean ± t(0.975, n - 1) · s / sqrt(n)`` with ``s`` the sample standard deviation (``ddof=1``):
the usual interval for the mean of iid normal samples, which is also right for means of many
seeds by the central limit theorem. With ``n = 1`` there is no interval (``NaN``).

Paired differences (:func:`paired_ci`): the same interval over the per-seed differences
between two points, which share their seeds (common random numbers).

The t quantile is ``scipy.stats.t.ppf``.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from fleetsim.sweep.quantities import si_columns

CONFIDENCE = 0.95

#: Suffixes of the aggregate columns written for each numeric result column.
AGGREGATE_SUFFIXES = ("mean", "ci95_low", "ci95_high")


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
    quantile = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1))
    half = quantile * float(sample.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half


def paired_ci(values: Mapping[int, float], baseline: Mapping[int, float],
              confidence: float = CONFIDENCE) -> tuple[float, float, float, int]:
    """``(mean, low, high, pairs)`` of the per-seed differences ``values[seed] -
    baseline[seed]`` over the seeds both have a number for: the Student-t interval of the
    differences (:func:`mean_ci`). With common random numbers the two runs of a seed share
    their failures and arrivals, so the differences vary far less than either side."""
    differences = []
    for seed in sorted(set(values) & set(baseline)):
        value, base = values[seed], baseline[seed]
        if value is None or base is None or math.isnan(value) or math.isnan(base):
            continue
        differences.append(float(value) - float(base))
    mean, low, high = mean_ci(differences, confidence)
    return mean, low, high, len(differences)


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

    ``results`` has a ``point`` column (the point's index); parameters (and their SI
    columns, :func:`fleetsim.sweep.quantities.si_columns`) are taken from the point's first
    row, as written.
    """
    parameters = [*parameters, *si_columns(parameters, list(results.columns))]
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
