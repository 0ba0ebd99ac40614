"""trace.json of a fleet: per-job tracks for workload jobs (queued spans, phases, preemptions,
outcome), the fleet's counter tracks, the per-job track cap, and the same bytes per seed."""

from __future__ import annotations

import json
from itertools import groupby

import pandas as pd
import pytest
import yaml

import fleetsim
from fleetsim.cli import main
from fleetsim.report.trace import COUNTER_POINTS, JOB_TRACKS, chrome_trace

# low fills the cluster; high (priority 5) preempts it at 600 s; the rest queue behind
TRACE = """submit_s,gpus,duration_s,name,priority,team
0,32,3600,low,0,research
100,16,600,next,0,research
600,16,1200,high,5,prod
650,8,600,mid,1,prod
700,1,300,tiny,0,research
"""


def _scenario(tmp_path, workload: dict, nodes: int = 4, **top) -> str:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump({"name": "fleet", "seed": 7,
                                    "cluster": {"node": "dgx-h100", "nodes": nodes},
                                    "workload": workload, **top}))
    return str(path)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A preempting fleet run through the CLI: (output directory, scenario path)."""
    tmp_path = tmp_path_factory.mktemp("fleet")
    (tmp_path / "jobs.csv").write_text(TRACE)
    path = _scenario(tmp_path, {"trace": "jobs.csv"},
                     scheduler={"policy": "priority", "preemption": {"mode": "checkpoint"}})
    out = tmp_path / "out"
    assert main(["run", path, "--out", str(out), "--quiet"]) == 0
    return out, path


def _events(out) -> list[dict]:
    return json.loads((out / "trace.json").read_text())["traceEvents"]


def _track_names(events: list[dict]) -> dict[tuple[int, int], str]:
    """The job tracks' names (process 1, "jobs"), by (pid, tid)."""
    return {(event["pid"], event["tid"]): event["args"]["name"] for event in events
            if event["ph"] == "M" and event["name"] == "thread_name" and event["pid"] == 1}


def test_the_fleet_trace_is_valid_trace_event_format(small):
    """Every event has ph, pid, name; timed ones ts; X a non-negative dur; i a scope;
    C numeric args; events are in time order on every track (Perfetto and chrome://tracing
    read them)."""
    events = _events(small[0])
    for event in events:
        assert {"ph", "pid", "name"} <= set(event), event
        assert event["ph"] in {"X", "i", "C", "M"}, event
        if event["ph"] != "M":
            assert event["ts"] >= 0
        if event["ph"] == "X":
            assert "tid" in event and event["dur"] >= 0
        if event["ph"] == "i":
            assert "tid" in event and event["s"] in {"t", "p", "g"}
        if event["ph"] == "C":
            assert event["args"] and all(isinstance(value, int)
                                         for value in event["args"].values())
    timed = [event for event in events if event["ph"] != "M"]
    for _track, group in groupby(timed, key=lambda event: (event["pid"], event.get("tid"))):
        times = [event["ts"] for event in group]
        assert times == sorted(times)
    processes = {event["args"]["name"] for event in events if event["name"] == "process_name"}
    assert {"fleet", "jobs", "cluster"} <= processes


def test_workload_jobs_have_queued_spans_phases_preemptions_and_an_outcome(small):
    """The first queued span of every job that waited runs from its submission to its start
    as in jobs.csv; the preempted job has a preempted instant and a second queued span; each
    job ends with its outcome."""
    out, _path = small
    jobs = pd.read_csv(out / "jobs.csv").set_index("job")
    events = _events(out)
    names = _track_names(events)
    assert sorted(names.values()) == sorted(jobs.index)
    by_job: dict[str, list[dict]] = {}
    for event in events:
        if event["ph"] in {"X", "i"} and event["pid"] == 1:
            by_job.setdefault(names[(1, event["tid"])], []).append(event)
    waited = jobs[jobs["queue_wait_s"] > 0]
    assert len(waited) >= 2
    for job, row in waited.iterrows():
        queued = [event for event in by_job[job] if event["name"] == "queued"]
        assert queued[0]["ts"] == pytest.approx(row["submit_s"] * 1e6)
        assert queued[0]["ts"] + queued[0]["dur"] == pytest.approx(row["start_s"] * 1e6)
    assert jobs.loc["low", "preemptions"] == 1
    low = by_job["low"]
    assert [event["name"] for event in low if event["ph"] == "i"].count("preempted") == 1
    assert sum(event["name"] == "queued" for event in low) == 1 + (jobs.loc["low",
                                                                        "queue_wait_s"] > 0)
    for job, row in jobs.iterrows():
        outcome = by_job[job][-1]
        assert outcome["cat"] == "outcome" and outcome["name"] == row["outcome"]
        assert outcome["args"]["gpus"] == row["gpus"]
        if row["outcome"] == "completed":
            assert outcome["ts"] == pytest.approx(row["end_s"] * 1e6)


def test_counters_are_non_negative_and_gpus_add_up_to_the_cluster(small):
    """GPUs allocated + idle + spare + down = the cluster's GPUs at every point; every counter
    is non-negative; jobs running peaks at what ran at once; queued GPUs appear while jobs
    wait."""
    out, _path = small
    summary = json.loads((out / "summary.json").read_text())
    total = summary["cluster"]["gpus"]
    counters = [event for event in _events(out) if event["ph"] == "C"]
    names = {event["name"] for event in counters}
    assert {"GPUs", "jobs", "queued", "fragmented"} <= names
    for event in counters:
        assert min(event["args"].values()) >= 0, event
        if event["name"] == "GPUs":
            assert set(event["args"]) == {"allocated", "idle", "spare", "down"}
            assert event["args"]["allocated"] <= total
            assert sum(event["args"].values()) == total
    assert max(event["args"]["GPUs"] for event in counters if event["name"] == "queued") > 0
    assert max(event["args"]["allocated"] for event in counters
               if event["name"] == "GPUs") == total


def test_same_seed_same_trace_bytes(small, tmp_path):
    out, path = small
    again = tmp_path / "again"
    assert main(["run", path, "--out", str(again), "--quiet"]) == 0
    assert (again / "trace.json").read_bytes() == (out / "trace.json").read_bytes()


@pytest.fixture(scope="module")
def ten_thousand(tmp_path_factory):
    """A 10,000-job synthetic workload (Poisson arrivals, 1- and 8-GPU jobs) on 16 nodes."""
    tmp_path = tmp_path_factory.mktemp("big")
    workload = {"jobs": 10_000, "classes": [{
        "name": "mixed", "arrivals": {"process": "poisson", "rate": "100/h"},
        "gpus": {"distribution": "empirical", "values": [1, 8], "weights": [3, 1]},
        "duration": {"distribution": "exponential", "mean": "5min"}}]}
    return fleetsim.run(_scenario(tmp_path, workload, nodes=16))


def _trace(result, **options) -> dict:
    return chrome_trace(result.summary, result.phases, result.events, result.downtime,
                        jobs=result.jobs, gpu_log=result.gpu_log,
                        queue_log=result.queue_log, **options)


def test_a_ten_thousand_job_trace_is_capped_and_a_few_mb(ten_thousand):
    """At most JOB_TRACKS job tracks (the jobs that held the most GPU-seconds), the rest in
    the ``other jobs`` counter, at most COUNTER_POINTS points per counter, under 4 MB."""
    assert len(ten_thousand.jobs) == 10_000
    trace = _trace(ten_thousand)
    text = json.dumps(trace, separators=(",", ":"))
    assert len(text) < 4_000_000
    events = trace["traceEvents"]
    tracks = _track_names(events)
    assert len(tracks) == JOB_TRACKS
    held = ten_thousand.jobs.set_index("job")["gpu_seconds"]
    assert held[list(tracks.values())].min() >= held.drop(list(tracks.values())).max()
    for name in ("GPUs", "jobs", "queued", "fragmented", "other jobs"):
        points = sum(event["ph"] == "C" and event["name"] == name for event in events)
        assert 0 < points <= COUNTER_POINTS
    others = [event["args"] for event in events if event["name"] == "other jobs"]
    assert max(args["running"] for args in others) > 0
    assert others[-1] == {"running": 0, "queued": 0}
    assert trace["otherData"]["workload_jobs"] == 10_000
    assert trace["otherData"]["job_tracks"] == JOB_TRACKS


def test_job_tracks_sets_the_cap(ten_thousand):
    trace = _trace(ten_thousand, job_tracks=10)
    assert len(_track_names(trace["traceEvents"])) == 10
    assert len(_track_names(_trace(ten_thousand, job_tracks=0)["traceEvents"])) == 0
    with pytest.raises(ValueError, match="job_tracks"):
        _trace(ten_thousand, job_tracks=-1)
