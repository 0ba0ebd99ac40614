"""Means and Student-t confidence intervals, against scipy.stats.t."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fleetsim.sweep.stats import aggregate, mean_ci, paired_ci


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


def test_paired_ci_is_the_t_interval_of_the_per_seed_differences():
    """Hand computation with the statistics module and a t table: differences d = 0.02,
    0.03, -0.01, 0.04, 0.02 (seed 6 has no baseline run and seed 7 a NaN: both dropped);
    mean(d) ± t(0.975, 4) stdev(d) / sqrt(5) with t(0.975, 4) = 2.776445 (tables)."""
    import statistics

    values = {1: 0.93, 2: 0.95, 3: 0.90, 4: 0.97, 5: 0.94, 6: 0.99, 7: float("nan")}
    baseline = {1: 0.91, 2: 0.92, 3: 0.91, 4: 0.93, 5: 0.92, 7: 0.9}
    differences = [0.02, 0.03, -0.01, 0.04, 0.02]
    mean, low, high, pairs = paired_ci(values, baseline)
    half = 2.776445 * statistics.stdev(differences) / math.sqrt(5)
    assert pairs == 5
    assert mean == pytest.approx(statistics.mean(differences), abs=1e-12)
    assert (low, high) == pytest.approx((mean - half, mean + half), rel=1e-6)
    assert paired_ci({1: 0.5}, {2: 0.4})[3] == 0


def test_the_paired_interval_is_narrower_than_the_unpaired_one_under_common_numbers():
    """Two points sharing a large per-seed effect (common random numbers): the paired
    interval of their difference is much narrower than either point's own interval."""
    rng = np.random.default_rng(0)
    shared = rng.normal(0.0, 0.05, 10)
    base = {seed: 0.9 + shared[seed] for seed in range(10)}
    other = {seed: 0.92 + shared[seed] + rng.normal(0.0, 0.002) for seed in range(10)}
    _mean, low, high, _pairs = paired_ci(other, base)
    _m, own_low, own_high = mean_ci(list(other.values()))
    assert low > 0.0  # the 0.02 improvement is resolved
    assert (high - low) < 0.2 * (own_high - own_low)


def test_aggregate_keeps_parameter_si_columns_as_parameters():
    results = pd.DataFrame({"point": [0, 0, 1, 1], "x": ["50000h", "50000h", "5000h", "5000h"],
                            "x_s": [1.8e8, 1.8e8, 1.8e7, 1.8e7], "seed": [1, 2, 1, 2],
                            "goodput": [0.9, 0.8, 0.7, 0.6]})
    table = aggregate(results, ["x"])
    assert list(table.columns[:4]) == ["point", "x", "x_s", "runs"]
    assert "x_s.mean" not in table.columns
    assert list(table.sort_values("x_s")["x"]) == ["5000h", "50000h"]
