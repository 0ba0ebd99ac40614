"""Means and Student-t confidence intervals, against scipy.stats.t."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fleetsim.sweep.stats import aggregate, mean_ci


def test_known_sample():
    """x = 2, 4, 4, 4, 5, 5, 7, 9: mean 5, s = sqrt(32/7); the interval is
    mean ± t(0.975, 7) s / sqrt(8), as scipy.stats.t.interval gives it."""
    sample = [2, 4, 4, 4, 5, 5, 7, 9]
    mean, low, high = mean_ci(sample)
    expected = stats.t.interval(0.95, len(sample) - 1, loc=np.mean(sample),
                                scale=stats.sem(sample))
    assert mean == 5.0
    assert (low, high) == pytest.approx(expected, rel=1e-12)
    half = 2.364624 * math.sqrt(32 / 7) / math.sqrt(8)  # t(0.975, 7) = 2.364624 (tables)
    assert high - mean == pytest.approx(half, rel=1e-6)


def test_one_value_has_no_interval_and_nans_are_dropped():
    mean, low, high = mean_ci([3.0])
    assert mean == 3.0 and math.isnan(low) and math.isnan(high)
    assert mean_ci([1.0, None, float("nan"), 3.0])[0] == 2.0


def test_aggregate_groups_by_point_over_numeric_columns():
    results = pd.DataFrame({
        "point": [0, 0, 0, 1, 1, 1], "x": ["1h", "1h", "1h", "2h", "2h", "2h"],
        "seed": [1, 2, 3, 1, 2, 3], "goodput": [0.9, 0.8, 0.7, 0.5, 0.5, 0.8],
        "completed": [True, False, True, True, True, True], "end": ["horizon"] * 6,
        "start_s": [0.0, None, 0.0, 0.0, 0.0, 0.0]})
    table = aggregate(results, ["x"])
    assert list(table["x"]) == ["1h", "2h"] and list(table["runs"]) == [3, 3]
    assert "end.mean" not in table.columns and "seed.mean" not in table.columns
    assert "x.mean" not in table.columns
    low, high = stats.t.interval(0.95, 2, loc=0.8, scale=stats.sem([0.9, 0.8, 0.7]))
    row = table.iloc[0]
    assert row["goodput.mean"] == pytest.approx(0.8)
    assert (row["goodput.ci95_low"], row["goodput.ci95_high"]) == pytest.approx((low, high))
    assert row["completed.mean"] == pytest.approx(2 / 3)
    assert row["start_s.mean"] == 0.0
