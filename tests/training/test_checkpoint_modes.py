"""Checkpoint modes (sync, async, in-memory) with failures injected at known times.

The job: 4 nodes, 10 s steps, a checkpoint every 1,800 s of compute, restart 5 min, detection
2 min, 2 spares. Times are exact, so the buckets are asserted exactly."""

from __future__ import annotations

import pytest

from fleetsim.faults.clock import Failure
from fleetsim.runner import Run
from fleetsim.prepare import load


def _run(make_scenario, checkpoint: dict, failures: list[Failure], steps: int = 720):
    data = make_scenario(**{"faults.causes": [], "jobs.0.steps": steps,
                            "jobs.0.checkpoint": {"policy": "fixed", "interval": "30min",
                                                  **checkpoint}})
    run = Run(load(data))
    run.inject(failures)
    result = run.execute()
    return result, result.summary["jobs"]["train"]


def _node(time_s: float, *nodes: int) -> Failure:
    return Failure(time_s, "host", "node", tuple(nodes), f"node{nodes[0]}", detection_s=120)


def test_async_blocks_only_for_the_snapshot(make_scenario):
    """No failures: 3 checkpoints of a 5 s snapshot each; the 100 s persists run behind the
    next segment's compute."""
    _, job = _run(make_scenario, {"mode": "async", "snapshot": "5s", "save": "100s"}, [])
    assert job["checkpoints"] == 3
    assert job["buckets_s"]["checkpoint_stall"] == pytest.approx(15.0)
    assert job["wall_time_s"] == pytest.approx(7200 + 15)


def test_async_checkpoint_lost_before_it_is_persisted(make_scenario):
    """Snapshot 1,800-1,805 s, persist until 1,905 s; a failure at 1,850 s loses the unpersisted
    checkpoint: the whole first segment (1,800 s) and 45 s of the second are lost."""
    _, job = _run(make_scenario, {"mode": "async", "snapshot": "5s", "save": "100s"},
                  [_node(1850.0, 0)])
    assert job["buckets_s"]["lost_work"] == pytest.approx(1845.0)
    assert job["buckets_s"]["restart"] == pytest.approx(300.0)  # nothing to load


def test_async_checkpoint_persisted_before_the_failure(make_scenario):
    """A failure at 1,950 s (after the persist at 1,905 s) loses only the 145 s since the
    snapshot; the restart loads the checkpoint."""
    _, job = _run(make_scenario, {"mode": "async", "snapshot": "5s", "save": "100s",
                                  "load": "60s"}, [_node(1950.0, 0)])
    assert job["buckets_s"]["lost_work"] == pytest.approx(145.0)
    assert job["buckets_s"]["restart"] == pytest.approx(360.0)


def test_in_memory_restores_from_a_peer(make_scenario):
    """One node lost: its shard lives on its peer, so the restart loads from memory (10 s)
    and only the work since the last snapshot is lost."""
    _, job = _run(make_scenario, {"mode": "in-memory", "snapshot": "2s", "memory_load": "10s",
                                  "save": "100s", "load": "600s", "remote_every": 2},
                  [_node(4000.0, 1)])
    assert job["memory_checkpoint_fallbacks"] == 0
    assert job["buckets_s"]["lost_work"] == pytest.approx(4000.0 - 2 * 1802.0)
    assert job["buckets_s"]["restart"] == pytest.approx(300.0 + 10.0)


def test_in_memory_falls_back_to_remote_when_a_node_and_its_peer_fail(make_scenario):
    """Nodes 0 and 1 are neighbours in the replica ring: losing both loses node 0's shard.
    With remote_every 2 the remote copy is the 2nd checkpoint (3,600 s of compute, done at
    3,604 s); the failure at 6,000 s also takes the 3rd (in memory only, at 5,406 s), so all
    compute since the 2nd checkpoint is lost and the restart loads from remote storage."""
    _, job = _run(make_scenario, {"mode": "in-memory", "snapshot": "2s", "memory_load": "10s",
                                  "save": "100s", "load": "600s", "remote_every": 2},
                  [_node(6000.0, 0, 1)])
    assert job["memory_checkpoint_fallbacks"] == 1
    # compute since the 2nd checkpoint: 1,800 s (3rd segment) + 6,000 - 5,406 s (4th)
    assert job["buckets_s"]["lost_work"] == pytest.approx(1800.0 + 594.0)
    assert job["buckets_s"]["restart"] == pytest.approx(300.0 + 600.0)
    assert job["completed"] and job["steps_completed"] == 720


def test_in_memory_without_a_remote_copy_restarts_from_scratch(make_scenario):
    """No remote checkpoint yet (remote_every 10): losing a shard loses all 3,996 s of
    compute (4,000 s minus two 2 s snapshots)."""
    _, job = _run(make_scenario, {"mode": "in-memory", "snapshot": "2s", "remote_every": 10},
                  [_node(4000.0, 0, 1)])
    assert job["buckets_s"]["lost_work"] == pytest.approx(4000.0 - 2 * 2.0)


def test_jobs_checkpointing_at_once_share_the_storage(make_scenario):
    """Two identical Llama 3 8B jobs (112 GB checkpoints: 8.03e9 params x 14 B) on shared
    storage of 1 GB/s save at the same moments: each save moves 112 GB at 0.5 GB/s, 224 s,
    against 112 s for a job alone (processor sharing)."""
    def run(jobs: int) -> list[dict]:
        data = make_scenario(**{"faults.causes": [], "cluster.nodes": jobs, "cluster.spares": 0,
                                "horizon": "3h"})
        job = {"name": "a", "type": "training", "gpus": 8, "model": "llama3-8b",
               "global_batch": 8, "parallelism": {"tp": 8}, "steps": 10**6,
               "checkpoint": {"policy": "fixed", "interval": "30min"}}
        data["jobs"] = [dict(job, name=f"job{index}") for index in range(jobs)]
        data["cluster"]["storage"] = {"bandwidth": "1GB/s"}
        summary = Run(load(data)).execute().summary
        return list(summary["jobs"].values())

    alone = run(1)[0]
    size = alone["checkpoint_bytes"]
    assert size == pytest.approx(8.03e9 * 14, rel=0.01)
    per_save_alone = alone["buckets_s"]["checkpoint_stall"] / alone["checkpoints"]
    assert per_save_alone == pytest.approx(size / 1e9, rel=1e-6)
    for job in run(2):
        per_save = job["buckets_s"]["checkpoint_stall"] / job["checkpoints"]
        assert per_save == pytest.approx(2 * size / 1e9, rel=1e-6)


def test_async_persist_cancelled_on_shared_storage_does_not_block_later_saves(make_scenario):
    """Regression: a failure cancels an async persist on shared storage (the transfer never
    completes); the next checkpoint must not wait for it. A model-sized checkpoint (8B
    params x 14 B = 112 GB) at 1 GB/s persists for 112 s; a failure at 1,850 s cancels the
    first persist; every later checkpoint still happens and stalls only for its snapshot."""
    data = make_scenario(**{
        "faults.causes": [], "cluster.storage": {"bandwidth": "1GB/s"},
        "jobs.0.step_time": None, "jobs.0.model": "llama3-8b", "jobs.0.gpus": 16,
        "jobs.0.global_batch": 64, "jobs.0.parallelism": {"tp": 8}, "jobs.0.steps": 3000,
        "jobs.0.checkpoint": {"policy": "fixed", "interval": "30min", "mode": "async",
                              "snapshot": "5s"}})
    run = Run(load(data))
    run.inject([_node(1850.0, 0)])
    job = run.execute().summary["jobs"]["train"]
    assert job["completed"] and job["checkpoints"] >= 2
    assert job["buckets_s"]["checkpoint_stall"] <= 5.0 * (job["checkpoints"] + 1) + 1e-6
