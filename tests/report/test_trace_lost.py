"""trace.json tells lost compute from kept, names its cluster track and has fleet counters."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

import fleetsim
from fleetsim.report.trace import CLUSTER_TRACK, LOST, chrome_trace, lost_compute

ROOT = Path(__file__).resolve().parents[2]


def _phases(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["job", "phase", "start_s", "end_s"])


def _events(*rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["time_s", "job", "kind", "cause"])
    return frame.assign(unit="")


def test_compute_after_the_last_commit_is_lost_at_an_unplanned_stop():
    """Sync saves: compute [0, 100) is committed by the save ending at 110; compute
    [110, 200) is thrown away by the failure at 200 (detection follows), and so is the
    compute before a save the failure aborts."""
    phases = _phases(("a", "compute", 0, 100), ("a", "checkpoint", 100, 110),
                     ("a", "compute", 110, 200), ("a", "detection", 200, 260),
                     ("a", "restart", 260, 300), ("a", "compute", 300, 400),
                     ("a", "checkpoint", 400, 405), ("a", "detection", 405, 420),
                     ("a", "compute", 420, 500))
    events = _events((100, "a", "checkpoint_start", "sync"), (110, "a", "checkpoint", ""),
                     (200, "a", "interruption", "gpu"),
                     (400, "a", "checkpoint_start", "sync"),
                     (405, "a", "interruption", "gpu"))
    assert lost_compute(phases, events).tolist() == [False, False, True, False, False, True,
                                                     False, False, False]


def test_a_planned_stop_keeps_its_work_and_an_sdc_rollback_takes_back_kept_work():
    """A planned stop drains (a save starts at the interruption): nothing is lost. A silent
    data corruption rollback of 100 s turns the last 100 s of kept compute into lost."""
    phases = _phases(("a", "compute", 0, 50), ("a", "checkpoint", 50, 60),
                     ("a", "compute", 60, 160), ("a", "checkpoint", 160, 170),
                     ("a", "restart", 170, 200), ("a", "compute", 200, 300),
                     ("a", "checkpoint", 300, 310), ("a", "restart", 330, 340))
    events = _events((50, "a", "checkpoint_start", "sync"), (60, "a", "checkpoint", ""),
                     (160, "a", "interruption", "planned_maintenance"),
                     (170, "a", "checkpoint", ""),
                     (300, "a", "checkpoint_start", "sync"), (310, "a", "checkpoint", ""),
                     (330, "a", "interruption", "silent_data_corruption"),
                     (330, "a", "sdc_rollback", "100 s of kept work lost"))
    assert lost_compute(phases, events).tolist() == [False, False, False, False, False,
                                                     True, False, False]


def test_lost_slices_add_up_to_the_lost_work_bucket_in_every_checkpoint_mode():
    """Validation against the goodput accounting (fleetsim/metrics/accounting.py), which
    credits lost work when it happens: in sync, async and in-memory checkpointing the
    ``compute (lost)`` slices add up to each job's ``lost_work`` bucket and the ``compute``
    slices to ``productive`` (no stragglers here), to 1e-9 relative."""
    result = fleetsim.run(ROOT / "scenarios" / "checkpoint-modes.yaml",
                          overrides={"horizon": "10d"})
    trace = chrome_trace(result.summary, result.phases, result.events, result.downtime)
    names = {event["tid"]: event["args"]["name"] for event in trace["traceEvents"]
             if event["name"] == "thread_name" and event["pid"] == 1}
    for tid, job in names.items():
        slices = [event for event in trace["traceEvents"]
                  if event["ph"] == "X" and event["pid"] == 1 and event["tid"] == tid]
        lost = sum(event["dur"] for event in slices if event["name"] == LOST) / 1e6
        kept = sum(event["dur"] for event in slices if event["name"] == "compute") / 1e6
        buckets = result.summary["jobs"][job]["buckets_s"]
        assert buckets["lost_work"] > 0
        assert lost == pytest.approx(buckets["lost_work"], rel=1e-9)
        assert kept == pytest.approx(buckets["productive"], rel=1e-9)
        assert {event["cat"] for event in slices if event["name"] == LOST} == {"lost"}


def test_killed_jobs_lose_their_compute_as_jobs_csv_says(tmp_path):
    """Preemption by kill: a workload job's lost slices add up to its ``lost_work_s`` in
    jobs.csv (the job accounting's bucket)."""
    (tmp_path / "jobs.csv").write_text("submit_s,gpus,duration_s,name,priority\n"
                                       "0,32,3600,low,0\n600,16,1200,high,5\n")
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump({
        "name": "kill", "seed": 3, "cluster": {"node": "dgx-h100", "nodes": 4},
        "workload": {"trace": "jobs.csv"},
        "scheduler": {"policy": "priority", "preemption": {"mode": "kill"}}}))
    result = fleetsim.run(path)
    flags = lost_compute(result.phases, result.events)
    lost = (result.phases["end_s"] - result.phases["start_s"])[flags]
    by_job = lost.groupby(result.phases["job"][flags]).sum()
    jobs = result.jobs.set_index("job")
    assert jobs.loc["low", "preemptions"] == 1 and jobs.loc["low", "lost_work_s"] > 0
    for job, row in jobs.iterrows():
        assert by_job.get(job, 0.0) == pytest.approx(row["lost_work_s"], rel=1e-9, abs=1e-9)


def test_cluster_track_is_named_and_fleet_counters_track_gpus_and_the_queue(tmp_path):
    from fleetsim.cli import main

    out = tmp_path / "out"
    assert main(["run", str(ROOT / "scenarios" / "quickstart.yaml"), "--set", "horizon=3d",
                 "--out", str(out), "--quiet"]) == 0
    events = json.loads((out / "trace.json").read_text())["traceEvents"]
    names = {(event["pid"], event.get("tid")): event["args"]["name"] for event in events
             if event["ph"] == "M" and event["name"] in ("thread_name", "process_name")}
    assert names[(2, None)] == "cluster" and names[(2, 1)] == CLUSTER_TRACK
    assert all(event.get("tid") == 1 for event in events
               if event["pid"] == 2 and event["ph"] != "M")
    counters = {(event["name"], key) for event in events if event["ph"] == "C"
                for key in event["args"]}
    assert {("GPUs", "allocated"), ("GPUs", "down"), ("jobs", "waiting"),
            ("queued", "GPUs")} <= counters
    downs = [event["args"]["down"] for event in events
             if event["ph"] == "C" and event["name"] == "GPUs"]
    assert max(downs) > 0 and downs[-1] >= 0
