"""The fleet's allocation, failover to spares, waiting for repair, and node availability.

Failures are injected at chosen times into scenarios without random causes, so every time in
the event log is known exactly (the style of SimPy's own tests: assert exact (kind, time)).
"""

from __future__ import annotations

import numpy as np
import pytest

import fleetsim
from fleetsim.faults.clock import Failure
from fleetsim.runner import Run
from fleetsim.prepare import load


def _run_with_failures(data: dict, failures: list[tuple[float, int]]):
    """Node failures (time, node) with the scenario's detection time."""
    run = Run(load(data))
    detection_s = run.scenario.spec.faults.detection
    run.inject(Failure(time_s, "injected", "node", (node,), f"node{node}",
                       detection_s=detection_s) for time_s, node in failures)
    return run.execute()


def _events(result, *kinds):
    frame = result.events[result.events["kind"].isin(kinds)]
    return [(row.kind, row.time_s, row.unit) for row in frame.itertuples()]


def _base(make_scenario, **changes):
    data = make_scenario(**{"faults.causes": [], "jobs.0.gpus": 16, "jobs.0.steps": 720,
                            "jobs.0.step_time": "10s", **changes})
    # 2 hours of compute, checkpoint every 30 min, save 1 min, load 2 min, restart 5 min,
    # detection 2 min, repair 4 h; 6 nodes of which 2 are spares, the job takes 2.
    return data


def test_failover_takes_a_spare_without_waiting(make_scenario):
    result = _run_with_failures(_base(make_scenario), [(1000.0, 0)])
    assert _events(result, "failure", "detected", "replaced", "restart") == [
        ("failure", 1000.0, "node0"), ("detected", 1120.0, "node0"),
        ("replaced", 1120.0, "node4"), ("restart", 1120.0, "")]
    job = result.summary["jobs"]["train"]
    assert job["buckets_s"]["waiting_for_resources"] == 0
    assert job["buckets_s"]["lost_work"] == 1000.0
    assert job["buckets_s"]["detection"] == 120.0
    assert job["buckets_s"]["restart"] == 300.0  # no checkpoint yet: nothing to load
    assert job["wall_time_s"] == pytest.approx(7200 + 3 * 60 + 1000 + 120 + 300)


def test_without_spares_the_job_waits_for_repair(make_scenario):
    data = _base(make_scenario, **{"cluster.nodes": 2, "cluster.spares": 0})
    result = _run_with_failures(data, [(2000.0, 1)])
    job = result.summary["jobs"]["train"]
    assert job["buckets_s"]["waiting_for_resources"] == pytest.approx(4 * 3600 - 120)
    assert _events(result, "repaired", "replaced") == [
        ("repaired", 2000.0 + 4 * 3600, "node1"), ("replaced", 2000.0 + 4 * 3600, "node1")]
    # the checkpoint at 1800 s of compute (saved at 1860 s) survives: restart loads it
    assert job["buckets_s"]["lost_work"] == pytest.approx(2000.0 - 1860.0)
    assert job["buckets_s"]["restart"] == 300.0 + 120.0


def test_a_failed_save_does_not_count(make_scenario):
    result = _run_with_failures(_base(make_scenario), [(1830.0, 0)])
    assert _events(result, "checkpoint_aborted") == [("checkpoint_aborted", 1830.0, "")]
    job = result.summary["jobs"]["train"]
    assert job["buckets_s"]["lost_work"] == 1800.0
    assert job["buckets_s"]["checkpoint_stall"] == pytest.approx(30.0 + 3 * 60)
    assert job["buckets_s"]["restart"] == 300.0  # the aborted save left nothing to load


def test_failures_during_detection_join_the_interruption(make_scenario):
    result = _run_with_failures(_base(make_scenario), [(1000.0, 0), (1060.0, 1)])
    job = result.summary["jobs"]["train"]
    assert job["interruptions"] == 1
    assert result.summary["cluster"]["failures"] == 2
    assert [e[2] for e in _events(result, "replaced")] == ["node4", "node5"]


def test_a_failure_during_restart_interrupts_it(make_scenario):
    result = _run_with_failures(_base(make_scenario), [(1000.0, 0), (1200.0, 1)])
    job = result.summary["jobs"]["train"]
    assert job["interruptions"] == 2
    assert job["buckets_s"]["restart"] == pytest.approx(80.0 + 300.0)
    assert job["buckets_s"]["detection"] == 240.0


def test_spares_are_not_used_for_a_first_allocation(make_scenario):
    """Two jobs that each need all 4 non-spare nodes run one after the other."""
    data = _base(make_scenario, **{"jobs.0.gpus": 32})
    second = dict(data["jobs"][0], name="second")
    data["jobs"].append(second)
    result = _run_with_failures(data, [])
    first_wall = result.summary["jobs"]["train"]["wall_time_s"]
    queued = result.summary["jobs"]["second"]["buckets_s"]["queued"]
    assert queued == pytest.approx(first_wall)
    assert result.timeseries["gpus_spare"].min() == 16


def test_a_failed_spare_leaves_the_pool_until_repaired(make_scenario):
    result = _run_with_failures(_base(make_scenario), [(100.0, 5)])
    series = result.timeseries.set_index("time_s")
    assert result.summary["jobs"]["train"]["interruptions"] == 0
    assert _events(result, "failure") == [("failure", 100.0, "node5")]
    assert series["gpus_down"].max() == 8


def test_node_availability_matches_mtbf_over_mtbf_plus_mttr(make_scenario):
    """A repairable node is an alternating renewal process: up for Exp(MTBF), down for MTTR,
    so its long-run availability is MTBF / (MTBF + MTTR) (e.g. Barlow & Proschan, Statistical
    Theory of Reliability and Life Testing, 1975). MTBF 100 h, MTTR 25 h -> 0.8 of node-time
    up. 12 nodes over 40,000 h (~3,800 failures): the standard error of the down fraction is
    ~0.004, tolerance 0.02."""
    data = make_scenario(**{
        "cluster.nodes": 12, "cluster.spares": 11, "horizon": "40000h",
        "faults.causes": [{"name": "host", "scope": "node", "mtbf": "100h"}],
        "faults.repair": "25h", "faults.detection": 0,
        "jobs.0.gpus": 8, "jobs.0.steps": 10**9})
    result = fleetsim.run(data)
    series = result.timeseries
    down_fraction = float(np.mean(series["gpus_down"])) / result.summary["cluster"]["gpus"]
    assert down_fraction == pytest.approx(25 / 125, abs=0.02)
