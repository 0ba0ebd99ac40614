"""A serving run's files: requests.csv, the serving timeseries columns, the replica tracks of
the Chrome trace, the serving plots, and ``fleetsim report`` redrawing them."""

from __future__ import annotations

import json
from itertools import groupby

import numpy as np
import pandas as pd
import pytest

from fleetsim.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from pathlib import Path

    out = tmp_path_factory.mktemp("serving") / "out"
    scenario = Path(__file__).resolve().parents[2] / "scenarios" / "chat-serving.yaml"
    assert main(["run", str(scenario), "--out", str(out), "--quiet", "--set", "horizon=40min",
                 "--set", "faults.scale=300", "--resolution", "1min"]) == 0
    return out


def test_requests_csv_matches_the_summary(run_dir):
    requests = pd.read_csv(run_dir / "requests.csv")
    job = json.loads((run_dir / "summary.json").read_text())["jobs"]["chat"]
    assert set(requests["job"]) == {"chat"}
    late = requests[requests["arrival_s"] >= 300.0]  # the 5 min warm-up is left out
    assert len(late) == job["requests"]["arrived"]
    assert late["finish_s"].notna().sum() == job["requests"]["completed"]
    assert int(late["retries"].sum()) == job["requests"]["retried"] > 0
    done = late[late["finish_s"].notna()]
    e2e = (done["finish_s"] - done["arrival_s"]).to_numpy()
    assert np.percentile(e2e, 50) == pytest.approx(job["latency_s"]["e2e"]["p50"])


def test_timeseries_has_throughput_latency_and_replicas_per_window(run_dir):
    """Requests finished per window, over the window's length, add up to the completions;
    replicas up never exceed the job's and drop after the failures."""
    series = pd.read_csv(run_dir / "timeseries.csv")
    requests = pd.read_csv(run_dir / "requests.csv")
    finished = requests["finish_s"].notna().sum()
    assert series["throughput_rps.chat"].sum() * 60 == pytest.approx(finished)
    assert (series["goodput_rps.chat"].fillna(0) <= series["throughput_rps.chat"].fillna(0)
            + 1e-12).all()
    assert series["e2e_p99_s.chat"].dropna().ge(series["e2e_p50_s.chat"].dropna()).all()
    assert series["replicas_up.chat"].max() == 4 and series["replicas_up.chat"].min() < 4


def test_trace_has_a_track_per_replica(run_dir):
    trace = json.loads((run_dir / "trace.json").read_text())
    names = {event["args"]["name"] for event in trace["traceEvents"]
             if event["ph"] == "M" and event["name"] == "thread_name"}
    assert {"chat", "chat/replica0", "chat/replica3"} <= names
    timed = [event for event in trace["traceEvents"] if event["ph"] != "M"]
    for _track, group in groupby(timed, key=lambda event: (event["pid"], event.get("tid"))):
        times = [event["ts"] for event in group]
        assert times == sorted(times)
    phases = {event["name"] for event in timed if event["ph"] == "X" and event["pid"] == 1}
    assert {"serving", "failed", "loading"} <= phases
    instants = {event["name"] for event in timed if event["ph"] == "i"}
    assert {"replica_down", "replica_up"} <= instants


def test_serving_plots_and_report(run_dir, capsys):
    for name in ("serving.png", "latency_cdf.png"):
        data = (run_dir / "plots" / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
    assert not (run_dir / "plots" / "goodput.png").exists()  # no training job
    (run_dir / "plots" / "latency_cdf.png").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "plots" / "latency_cdf.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "SLO attainment" in capsys.readouterr().out


def test_same_seed_same_serving_files(run_dir, tmp_path, root):
    again = tmp_path / "again"
    assert main(["run", str(root / "scenarios" / "chat-serving.yaml"), "--out", str(again),
                 "--quiet", "--set", "horizon=40min", "--set", "faults.scale=300",
                 "--resolution", "1min"]) == 0
    for name in ("summary.json", "requests.csv", "timeseries.csv", "events.csv", "trace.json"):
        assert (again / name).read_bytes() == (run_dir / name).read_bytes(), name
