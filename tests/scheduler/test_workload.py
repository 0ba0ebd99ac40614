"""Workloads: trace replay, synthetic classes, their distributions, and bad input."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml

import fleetsim
from fleetsim.cli import main
from fleetsim.scenario.workload import DurationDistribution
from fleetsim.workload.distributions import duration_mean, round_sizes, sample_durations

ONE_LINE = re.compile(r"^fleetsim: [^\n]+\n$")


def _scenario(tmp_path, workload: dict, **top) -> str:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump({"name": "fleet", "cluster": {"node": "dgx-h100",
                                                                  "nodes": 4},
                                    "workload": workload, **top}))
    return str(path)


TRACE = """submit_s,gpus,duration_s,steps,name,priority,team,type
600,8,3600,,b,0,x,
0,16,,120,a,1,y,finetune
1200,1,60,,c,,,finetune
"""


def test_a_trace_is_replayed_in_submission_order_with_its_class_templates(tmp_path):
    (tmp_path / "jobs.csv").write_text(TRACE)
    path = _scenario(tmp_path, {"trace": "jobs.csv",
                                "classes": [{"name": "finetune", "priority": 3,
                                             "job": {"step_time": "30s"}}]})
    result = fleetsim.run(path)
    jobs = result.jobs.set_index("job")
    assert list(result.jobs["job"]) == ["a", "b", "c"]
    assert jobs.loc[["a", "b", "c"], "submit_s"].tolist() == [0.0, 600.0, 1200.0]
    assert jobs.loc["a", "end_s"] == pytest.approx(120 * 30.0)  # 120 steps of 30 s
    assert jobs.loc["b", "end_s"] == pytest.approx(600 + 3600)  # default 10 s steps
    assert jobs.loc["c", "priority"] == 3 and jobs.loc["a", "priority"] == 1
    assert jobs.loc["a", "class"] == "finetune" and jobs.loc["b", "class"] == ""
    assert result.summary["fleet"]["teams"]["x"]["jobs"] == 1


def test_a_parquet_trace_reads_the_same(tmp_path):
    frame = pd.read_csv(pd.io.common.StringIO(TRACE))
    frame.to_parquet(tmp_path / "jobs.parquet")
    (tmp_path / "jobs.csv").write_text(TRACE)
    workload = {"classes": [{"name": "finetune", "job": {"step_time": "30s"}}]}
    from_csv = fleetsim.run(_scenario(tmp_path, {"trace": "jobs.csv", **workload})).jobs
    from_parquet = fleetsim.run(_scenario(tmp_path, {"trace": "jobs.parquet",
                                                     **workload})).jobs
    pd.testing.assert_frame_equal(from_csv, from_parquet)


@pytest.mark.parametrize("row, line, key, words", [
    ("0,8,3600,,x,0,,", None, None, None),  # a good row: the control
    ("0,abc,3600,,x,0,,", 2, "gpus", "not a number: 'abc'"),
    ("0,12,3600,,x,0,,", 2, "gpus", "12 GPUs is not a multiple of the node size (8)"),
    ("0,64,3600,,x,0,,", 2, "gpus", "64 GPUs do not fit the cluster (32 usable)"),
    ("-5,8,3600,,x,0,,", 2, "submit_s", "must be >= 0"),
    ("0,8,3600,10,x,0,,", 2, "duration_s", "give duration_s or steps, not both"),
    ("0,8,,,x,0,,", 2, "duration_s", "missing: give duration_s or steps"),
    ("0,8,inf,,x,0,,", 2, "duration_s", "must be finite"),
    ("0,8,3600,,x,0,,nope", 2, "type", "names no workload class 'nope'"),
])
def test_a_bad_trace_row_names_the_file_its_line_and_column(tmp_path, capsys, row, line,
                                                             key, words):
    (tmp_path / "jobs.csv").write_text("submit_s,gpus,duration_s,steps,name,priority,team,"
                                       f"type\n{row}\n")
    code = main(["run", _scenario(tmp_path, {"trace": "jobs.csv"}), "--quiet"])
    error = capsys.readouterr().err
    if line is None:
        assert code == 0, error
        return
    assert code == 2 and ONE_LINE.match(error), error
    assert f"jobs.csv:{line}: {key}: {words}" in error


def test_a_trace_without_its_required_columns_is_refused(tmp_path, capsys):
    (tmp_path / "jobs.csv").write_text("when,size\n0,8\n")
    assert main(["run", _scenario(tmp_path, {"trace": "jobs.csv"})]) == 2
    error = capsys.readouterr().err
    assert ONE_LINE.match(error) and "jobs.csv:1: lacks column(s) submit_s, gpus" in error


@pytest.mark.parametrize("change, key, words", [
    ({"scheduler": {"policy": "fifoo"}}, "scheduler.policy",
     "unknown scheduling policy 'fifoo' (known: fifo, backfill, sjf, priority, las"),
    ({"scheduler": {"placement": "tight"}}, "scheduler.placement", "unknown placement"),
    ({"scheduler": {"policy": "fair-share", "quotas": {"a": 0.7, "b": 0.6}}},
     "scheduler", "quotas sum to 130%, over 100% of the GPUs"),
    ({"scheduler": {"policy": "fifo", "thresholds": ["1h"]}}, "scheduler.thresholds",
     "does not apply to policy 'fifo'"),
    ({"classes": [{"name": "big", "arrivals": {"process": "poisson", "rate": "1/h"},
                   "gpus": 64, "duration": "1h"}], "jobs": 5},
     "workload.classes.big.gpus", "64 GPUs do not fit the cluster (32 usable GPUs)"),
    ({"classes": [{"name": "open", "arrivals": {"process": "poisson", "rate": "1/h"},
                   "duration": "1h"}]},
     "workload.classes.open", "arrivals need an end"),
])
def test_bad_scheduler_and_workload_keys(tmp_path, capsys, change, key, words):
    workload = {"classes": [{"name": "j", "arrivals": {"process": "poisson", "rate": "1/h"},
                             "duration": "1h"}], "jobs": 3}
    top = {}
    if "scheduler" in change:
        top["scheduler"] = change["scheduler"]
    else:
        workload = change
    assert main(["validate", _scenario(tmp_path, workload, **top)]) == 2
    error = capsys.readouterr().err
    assert ONE_LINE.match(error), error
    assert f": {key}: " in error and words in error, error


def test_sizes_are_rounded_to_what_a_node_holds():
    """Below a node: up to a power of two; a node or more: the nearest whole number of nodes
    (at least one); capped at the usable GPUs."""
    sizes = round_sizes(np.array([1, 3, 5, 7.9, 9, 12, 13, 1000]), 8, 64)
    assert sizes.tolist() == [1, 4, 8, 8, 8, 16, 16, 64]


@pytest.mark.parametrize("spec", [
    {"distribution": "exponential", "mean": "1h"},
    {"distribution": "lognormal", "mean": "1h", "sigma": 1.0},
    {"distribution": "weibull", "mean": "1h", "shape": 0.7},
    {"distribution": "empirical", "values": ["1min", "10min", "100min"], "weights": [1, 2, 1]},
])
def test_duration_samplers_have_their_analytic_mean(spec):
    """Mean of 400,000 draws within 1.5% of the distribution's mean (the standard error is
    below 0.5% for these shapes)."""
    distribution = DurationDistribution(**spec)
    draws = sample_durations(distribution, np.random.default_rng(0), 400_000)
    assert draws.mean() == pytest.approx(duration_mean(distribution), rel=0.015)
