"""The runner: progress reporting does not change a run; the run limit stops hopeless jobs."""

from __future__ import annotations

from fleetsim.runner import Run
from fleetsim.prepare import load


def test_progress_reporting_changes_nothing(root):
    scenario = load(root / "scenarios" / "quickstart.yaml")
    calls: list[tuple[float, float]] = []
    with_progress = Run(scenario).execute(lambda now, end: calls.append((now, end)))
    without = Run(scenario).execute()
    assert with_progress.summary == without.summary
    assert with_progress.events.equals(without.events)
    times = [now for now, _ in calls]
    assert len(calls) > 50 and times == sorted(times)
    assert all(now <= end for now, end in calls)


def test_progress_reaches_the_horizon(root):
    """A run that ends at its horizon (not by its jobs finishing) reports up to the end."""
    scenario = load(root / "scenarios" / "llama3-405b-16k.yaml",
                             overrides=["horizon=540d", "jobs.pretrain.steps=10M"])
    calls: list[float] = []
    result = Run(scenario).execute(lambda now, end: calls.append(now))
    assert result.summary["end"] == "horizon"
    assert result.summary["sim_time_s"] == 540 * 86400
    assert calls[-1] <= 540 * 86400


def test_a_job_that_cannot_finish_stops_at_the_run_limit(make_scenario):
    data = make_scenario(**{"jobs.0.checkpoint": {"policy": "none"}, "jobs.0.steps": 50000,
                            "faults.causes.0.mtbf": "100h"})
    result = Run(load(data)).execute()
    job = result.summary["jobs"]["train"]
    assert result.summary["end"] == "run_limit" and not job["completed"]
    assert result.summary["sim_time_s"] == 100 * 50000 * 10
