"""Stragglers in a running job: the straggler_delay bucket against order statistics, slow
nodes and their eviction."""

from __future__ import annotations

import numpy as np
import pytest

import fleetsim


def _job(make_scenario, stragglers: dict, **changes):
    data = make_scenario(**{"faults.causes": [], "jobs.0.steps": 20000, "jobs.0.gpus": 32,
                            "jobs.0.step_time": "10s", **changes})
    data["stragglers"] = stragglers
    result = fleetsim.run(data)
    return result, result.summary["jobs"]["train"]


def test_jitter_delay_matches_the_expected_maximum(make_scenario):
    """Exponential jitter X ~ Exp(0.01) on 32 ranks: E[max of n] = 0.01 H_n (Renyi), so the
    straggler delay is 0.01 x H_32 = 4.06% of the straggler-free compute. 20,000 steps: the
    standard error of the mean factor is ~0.01%; tolerance 2% relative."""
    _, job = _job(make_scenario, {"jitter": {"distribution": "exponential", "mean": 0.01}})
    harmonic = sum(1 / k for k in range(1, 33))
    ratio = job["buckets_s"]["straggler_delay"] / job["buckets_s"]["productive"]
    assert ratio == pytest.approx(0.01 * harmonic, rel=0.02)
    assert job["buckets_s"]["productive"] == pytest.approx(20000 * 10, rel=1e-12)


def test_a_slow_node_sets_the_pace(make_scenario):
    """With every node slow by 1.1 and negligible jitter, each step takes 1.1x: the delay is
    10% of the straggler-free compute."""
    _, job = _job(make_scenario, {"jitter": {"distribution": "exponential", "mean": 1e-9},
                                  "slow_nodes": {"fraction": 1.0, "slowdown": 1.1}})
    ratio = job["buckets_s"]["straggler_delay"] / job["buckets_s"]["productive"]
    assert ratio == pytest.approx(0.1, rel=1e-3)


def test_eviction_replaces_a_slow_node(make_scenario):
    """One slow node (1 of 6; with seed 3 it is one of the job's 4), evicted after 100 steps:
    the job drains (no lost work), the node goes to repair (which clears it), a spare
    replaces it, and the straggler delay stops: 100 steps x 10 s x 0.5 of delay in all."""
    stragglers = {"slow_nodes": {"fraction": 1 / 6, "slowdown": 1.5}}
    _, kept = _job(make_scenario, stragglers, **{"seed": 3})
    assert kept["buckets_s"]["straggler_delay"] > 0, "seed 3 must put the slow node in the job"
    result, evicting = _job(make_scenario, {
        **stragglers, "mitigation": {"policy": "evict", "after_steps": 100}}, **{"seed": 3})
    assert evicting["evictions"] == 1 and evicting["interruptions_planned"] == 1
    assert evicting["buckets_s"]["straggler_delay"] == pytest.approx(100 * 10 * 0.5, rel=1e-9)
    assert evicting["buckets_s"]["lost_work"] == 0
    assert evicting["goodput"] > kept["goodput"]
    assert (result.events["kind"] == "eviction").sum() == 1


def test_slow_episodes_come_and_go(make_scenario):
    """Nodes turn slow at one per mtbs per node and recover after ~duration: over 2,000 h with
    6 nodes, mtbs 200 h: ~60 episodes (Poisson, within 4 sd)."""
    data = make_scenario(**{"faults.causes": [], "jobs.0.steps": 10**9, "horizon": "2000h"})
    data["stragglers"] = {"slow_nodes": {"mtbs": "200h", "duration": "10h"}}
    events = fleetsim.run(data).events
    episodes = int((events["kind"] == "slow").sum())
    assert abs(episodes - 60) < 4 * np.sqrt(60)
    assert (events["kind"] == "slow_cleared").sum() >= episodes - 5
