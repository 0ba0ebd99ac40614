"""Serving autoscaling (fleetsim/serving/autoscale.py): the HPA rule, cold starts, and a
diurnal service sharing its cluster with training that backfills the trough."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fleetsim.prepare import load
from fleetsim.runner import Run
from fleetsim.scenario.serving import AutoscaleSpec
from fleetsim.serving.autoscale import desired_replicas


@pytest.mark.parametrize("current, load, expected", [
    (4, 0.9, 6),    # ceil(4 x 0.9 / 0.6) = 6
    (4, 0.3, 2),    # ceil(4 x 0.3 / 0.6) = 2
    (4, 0.63, 4),   # within the 10% tolerance: no change
    (4, 3.0, 8),    # clamped to max
    (2, 0.01, 1),   # clamped to min
])
def test_hpa_rule(current, load, expected):
    """Kubernetes HPA (kubernetes.io, Horizontal Pod Autoscaling, algorithm details):
    desiredReplicas = ceil(currentReplicas x currentMetricValue / desiredMetricValue), no
    change within the 0.1 tolerance, clamped to [min, max]. Exact."""
    spec = AutoscaleSpec(min=1, max=8, metric="utilization", target=0.6)
    assert desired_replicas(current, load, spec) == expected


def _diurnal(seed: int = 1) -> dict:
    """8 nodes; a chat service (one replica per node, 16 servers of 120 s each) with
    arrivals swinging 8:1 over the day around 20 requests/min, autoscaled on utilization; training jobs
    of 1-2 nodes arrive at 2 an hour and run at lower priority, preemptible."""
    return {
        "name": "diurnal", "seed": seed, "horizon": "2d",
        "cluster": {"node": "dgx-h100", "nodes": 8},
        "scheduler": {"policy": "priority", "preemption": {"mode": "checkpoint"}},
        "jobs": [{"name": "chat", "type": "serving", "priority": 10,
                  "service": {"mean": "120s"}, "servers": 16, "replicas": 2, "tp": 8,
                  "arrivals": {"process": "diurnal", "mean_rate": "20/min",
                               "peak_to_trough": 8},
                  "model_load": "3min",
                  "autoscale": {"min": 1, "max": 6, "metric": "utilization", "target": 0.6,
                                "interval": "1min", "cooldown": "10min"}}],
        "workload": {"classes": [{
            "name": "train", "arrivals": {"process": "poisson", "rate": "2/h"},
            "gpus": {"distribution": "empirical", "values": [8, 16]},
            "duration": {"distribution": "exponential", "mean": "3h"},
            "job": {"step_time": "10s",
                    "checkpoint": {"policy": "fixed", "interval": "30min", "save": "30s",
                                   "load": "1min"}}}]},
    }


@pytest.fixture(scope="module")
def diurnal():
    run = Run(load(_diurnal()))
    return run, run.execute()


def test_service_follows_the_day_and_pays_cold_starts(diurnal):
    """Replicas rise towards the peak and fall in the trough (mean rate 20/min of 120 s requests
    needs 40 busy servers = 2.5 replicas at 100%, 4.2 at the 0.6 target: the peak (1.78x the
    mean for 8:1) needs all 6, the trough (0.22x) one); every replica added serves only after
    its 3-minute model load."""
    run, result = diurnal
    chat = result.summary["jobs"]["chat"]
    scaling = chat["autoscale"]
    assert scaling["replicas_max"] == 6
    assert scaling["replicas_min"] <= 2
    assert scaling["scale_ups"] >= 2 and scaling["scale_downs"] >= 2
    assert 3.0 < scaling["replicas_mean"] < 5.5
    events = result.events
    ups = events[(events.kind == "scaled")
                 & events.cause.str.match(r"(\d+) -> (\d+)").fillna(False)]
    grown = [row.time_s for row in ups.itertuples()
             if int(row.cause.split()[2]) > int(row.cause.split()[0])]
    loaded = events[events.kind == "replica_up"].time_s.to_numpy()
    granted = events[(events.job == "chat") & (events.kind == "replaced")].time_s.to_numpy()
    assert loaded.size >= 2
    for when in loaded:  # no failures here: every replica up follows a scale-up, and comes
        # exactly one model load after the scheduler granted its node
        assert any(when - start >= 180.0 - 1e-9 for start in grown)
        assert np.abs(granted + 180.0 - when).min() < 1e-6
    assert chat["model_load_s"] == pytest.approx(180.0)


def test_training_backfills_the_trough_and_yields_at_the_peak(diurnal):
    """The nodes the service releases at night run training; at the peak the service takes
    them back (preempting training under the priority policy). Every GPU-second is still
    accounted for once."""
    run, result = diurnal
    fleet = result.summary["fleet"]
    seconds = fleet["gpu_seconds"]
    assert seconds["productive"] > 0.2 * seconds["total"]
    assert fleet["preemptions"] > 0
    parts = sum(value for key, value in seconds.items() if key != "total")
    assert parts == pytest.approx(seconds["total"], rel=1e-9)
    assert seconds["total"] == pytest.approx(64 * result.summary["sim_time_s"], rel=1e-12)
    # the service never held more than its target's nodes for long: its GPU-seconds match
    # the replica-seconds it ran, within the drains and loads
    chat = result.summary["jobs"]["chat"]
    assert seconds["serving"] == pytest.approx(
        8 * chat["autoscale"]["replicas_mean"] * chat["wall_time_s"], rel=0.05)
    assert math.isfinite(chat["availability"])


def test_same_seed_same_scaling():
    """Same scenario and seed: the same scaling decisions, to the second."""
    first = Run(load(_diurnal(2))).execute().events
    second = Run(load(_diurnal(2))).execute().events
    assert first[first.kind == "scaled"].equals(second[second.kind == "scaled"])


def test_no_stabilisation_window_scales_down_at_once():
    """``cooldown: 0`` is the HPA without a stabilisation window: every recommendation
    applies when it is made, so there are at least as many scale-downs as with a 10-minute
    window (which takes the highest recommendation of the last 10 minutes)."""
    counts = {}
    for cooldown in ("0s", "10min"):
        data = _diurnal()
        data["horizon"] = "12h"
        data["jobs"][0]["autoscale"]["cooldown"] = cooldown
        counts[cooldown] = Run(load(data)).execute().summary["jobs"]["chat"]["autoscale"]
    assert counts["0s"]["scale_downs"] >= counts["10min"]["scale_downs"] >= 1
