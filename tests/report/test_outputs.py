"""A run's files: the Chrome trace against the Trace Event Format, plots, Parquet, report."""

from __future__ import annotations

import json
from itertools import groupby

import pandas as pd
import pytest

from fleetsim.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from pathlib import Path

    out = tmp_path_factory.mktemp("run") / "out"
    scenario = Path(__file__).resolve().parents[2] / "scenarios" / "quickstart.yaml"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    return out


def test_trace_follows_the_trace_event_format(run_dir):
    """Trace Event Format (Google): every event has ph, pid, name; complete events (X) have
    ts and a non-negative dur; instants (i) have ts and a scope; events are sorted by time on
    each track; a job's phases do not overlap."""
    trace = json.loads((run_dir / "trace.json").read_text())
    events = trace["traceEvents"]
    assert events and trace["displayTimeUnit"] == "ms"
    for event in events:
        assert {"ph", "pid", "name"} <= set(event), event
        assert event["ph"] in {"X", "i", "C", "M"}
        if event["ph"] == "X":
            assert event["ts"] >= 0 and event["dur"] >= 0
        if event["ph"] == "i":
            assert event["ts"] >= 0 and event["s"] in {"t", "p", "g"}
    timed = [event for event in events if event["ph"] != "M"]
    for _track, group in groupby(timed, key=lambda event: (event["pid"], event.get("tid"))):
        times = [event["ts"] for event in group]
        assert times == sorted(times)
    phases = [event for event in timed if event["ph"] == "X" and event["pid"] == 1]
    for before, after in zip(phases, phases[1:]):
        assert before["ts"] + before["dur"] <= after["ts"] + 1e-3
    names = {event["name"] for event in phases}
    assert {"compute", "compute (lost)", "checkpoint", "restart", "detection"} <= names
    summary = json.loads((run_dir / "summary.json").read_text())
    kept_us = sum(event["dur"] for event in phases if event["name"] == "compute")
    lost_us = sum(event["dur"] for event in phases if event["name"] == "compute (lost)")
    buckets = summary["jobs"]["pretrain"]["buckets_s"]
    assert kept_us / 1e6 == pytest.approx(buckets["productive"], rel=1e-6)
    assert lost_us / 1e6 == pytest.approx(buckets["lost_work"], rel=1e-6)


def test_plots_are_pngs_and_report_redraws_them(run_dir, capsys):
    for name in ("goodput.png", "badput.png"):
        data = (run_dir / "plots" / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
    (run_dir / "plots" / "goodput.png").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "plots" / "goodput.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "goodput" in capsys.readouterr().out


def test_parquet_timeseries_matches_the_csv(run_dir):
    csv = pd.read_csv(run_dir / "timeseries.csv")
    parquet = pd.read_parquet(run_dir / "timeseries.parquet")
    pd.testing.assert_frame_equal(csv, parquet, check_dtype=False)
    assert "goodput_window.pretrain" in csv.columns


def test_phases_cover_the_wall_time(run_dir):
    """phases.csv tiles each job's wall time: intervals are contiguous from 0 to the end."""
    phases = pd.read_csv(run_dir / "phases.csv")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert phases["start_s"].iloc[0] == 0
    assert (phases["start_s"].iloc[1:].to_numpy() == phases["end_s"].iloc[:-1].to_numpy()).all()
    assert phases["end_s"].iloc[-1] == pytest.approx(summary["jobs"]["pretrain"]["wall_time_s"])


def test_report_on_a_directory_that_is_not_a_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_resolution_option(tmp_path, root):
    out = tmp_path / "out"
    main(["run", str(root / "scenarios" / "quickstart.yaml"), "--out", str(out), "--quiet",
          "--resolution", "6h"])
    series = pd.read_csv(out / "timeseries.csv")
    assert series["time_s"].diff().dropna().eq(6 * 3600).all()


def test_overwriting_removes_an_earlier_runs_optional_outputs(tmp_path, root, capsys):
    """--force over a serving run with rack power: the training run that replaces it writes
    no requests.csv, racks.csv or serving plots, so the earlier ones are removed rather than
    left to read as this run's."""
    out = tmp_path / "out"
    serving = ["run", str(root / "scenarios" / "chat-serving.yaml"), "--out", str(out),
               "--quiet", "--set", "horizon=20min", "--set", "power.rack_nodes=1"]
    assert main(serving) == 0
    assert (out / "requests.csv").exists() and (out / "racks.csv").exists()
    assert (out / "plots" / "serving.png").exists()
    training = ["run", str(root / "scenarios" / "quickstart.yaml"), "--out", str(out),
                "--quiet", "--force", "--set", "horizon=1d"]
    assert main(training) == 0
    capsys.readouterr()
    for name in ("requests.csv", "racks.csv", "racks.parquet", "plots/serving.png",
                 "plots/latency_cdf.png"):
        assert not (out / name).exists(), name
    assert (out / "plots" / "goodput.png").exists()
