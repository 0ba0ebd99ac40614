"""Flattening a run summary into dotted columns."""

from __future__ import annotations

import json
import math

from fleetsim.sweep.flatten import fill_missing_counts, flatten, is_count_by_key


def test_nested_mappings_become_dotted_columns():
    summary = {"seed": 3, "jobs": {"pretrain": {"goodput": 0.9,
                                                "buckets_s": {"productive": 10.0}}},
               "cluster": {"failures": 2}}
    assert flatten(summary) == {"seed": 3, "jobs.pretrain.goodput": 0.9,
                                "jobs.pretrain.buckets_s.productive": 10.0,
                                "cluster.failures": 2}


def test_lists_are_json_none_stays_none_and_non_finite_becomes_none():
    row = flatten({"a": [1, 2.5, None], "b": None, "c": math.inf, "d": (1, math.nan),
                   "e": "text", "f": True})
    assert json.loads(row["a"]) == [1, 2.5, None]
    assert row["b"] is None and row["c"] is None
    assert json.loads(row["d"]) == [1, None]
    assert row["e"] == "text" and row["f"] is True


def test_an_empty_mapping_adds_no_column():
    assert flatten({"jobs": {"x": {"interruptions_by_cause": {}, "n": 1}}}) == {"jobs.x.n": 1}


def test_counts_by_cause_missing_in_a_run_are_zero():
    assert is_count_by_key("jobs.x.interruptions_by_cause.gpu")
    assert not is_count_by_key("jobs.x.buckets_s.productive")
    rows = fill_missing_counts([{"cluster.failures_by_cause.gpu": 2, "n": 1}, {"n": 0}])
    assert rows[1] == {"cluster.failures_by_cause.gpu": 0, "n": 0}
    assert rows[0] == {"cluster.failures_by_cause.gpu": 2, "n": 1}


def test_a_real_summary_flattens_to_scalars(tmp_path):
    import fleetsim
    from tests.sweep.conftest import QUICKSTART

    summary = fleetsim.run(QUICKSTART, overrides={"horizon": "1d"}).summary
    row = flatten(summary)
    assert "jobs.pretrain.goodput" in row and "cluster.failures" in row
    assert "jobs.pretrain.buckets_s.productive" in row
    assert all(value is None or isinstance(value, (str, int, float, bool))
               for value in row.values())
