"""Energy accounting: buckets add up to the total, which is the integral of the power step
function; facility energy integrates the PUE profile exactly."""

from __future__ import annotations

import pytest

from fleetsim.power.profile import integral
from fleetsim.prepare import load
from fleetsim.runner import simulate
from tests.conftest import scenario

SERVING = {"name": "chat", "type": "serving", "model": "llama3-70b", "replicas": 2, "tp": 4,
           "batching": {"policy": "continuous", "max_batch_size": 64},
           "arrivals": {"process": "poisson", "rate": "2/s"}, "requests": 400,
           "prompt_tokens": {"distribution": "lognormal", "mean": 300, "sigma": 0.5},
           "output_tokens": {"distribution": "lognormal", "mean": 60, "sigma": 0.5}}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_buckets_sum_to_the_integral_of_power(seed):
    """With failures (lost work, detection, restarts, waiting) and checkpoints, per job and
    for the fleet: the energy buckets sum to the job's (fleet's) energy, which equals the
    exact integral of its power step function (tolerance 1e-9 relative: float rounding).
    The running buckets match the goodput accounting's GPU-seconds x the running power per
    GPU (an independent path: the accounting's own GPU-second buckets)."""
    data = scenario(seed=seed, **{"faults.causes.0.mtbf": "200h", "jobs.0.steps": 5000})
    result = simulate(load(data))
    power = result.power
    assert integral(power.times, power.it_w, power.end_s) == pytest.approx(
        sum(result.summary["power"]["energy_buckets_j"].values()), rel=1e-9)
    assert result.summary["power"]["energy_it_j"] == pytest.approx(power.energy_it_j)
    job = result.summary["jobs"]["train"]
    energy = job["energy"]
    assert sum(energy["buckets_j"].values()) == pytest.approx(energy["it_j"], rel=1e-12)
    trace = power.jobs["train"]
    assert integral(trace.times, trace.watts, power.end_s) == pytest.approx(energy["it_j"],
                                                                           rel=1e-9)
    gpu_buckets = _gpu_buckets(result)
    per_gpu = energy["running_power_per_gpu_w"]
    assert energy["buckets_j"]["lost_work"] == pytest.approx(
        gpu_buckets["lost_work"] * per_gpu, rel=1e-9)
    assert energy["buckets_j"]["productive"] == pytest.approx(
        gpu_buckets["productive"] * per_gpu, rel=1e-6)
    assert energy["buckets_j"]["lost_work"] > 0  # the seeds do fail
    series = result.timeseries
    held = series[["gpus_running", "gpus_stalled", "gpus_loading", "gpus_serving"]].sum(axis=1)
    assert (held <= series["gpus_busy"]).all() and (series["gpus_stalled"] > 0).any()


@pytest.mark.parametrize("extra", [
    {"jobs.0.elastic": {"min_fraction": 0.5}, "cluster.spares": 0},
    {"stragglers": {"jitter": {"distribution": "exponential", "mean": 0.05}}},
], ids=["elastic", "stragglers"])
def test_buckets_close_with_elastic_and_stragglers(extra):
    """Running on fewer nodes (elastic) and straggler delay move running energy into
    ``slowdown``; the buckets still sum to the integral of the job's power (1e-9) and none
    is negative."""
    data = scenario(seed=3, **{"faults.causes.0.mtbf": "100h", "jobs.0.steps": 5000}, **extra)
    result = simulate(load(data))
    power = result.power
    trace = power.jobs["train"]
    energy = result.summary["jobs"]["train"]["energy"]
    assert integral(trace.times, trace.watts, power.end_s) == pytest.approx(energy["it_j"],
                                                                           rel=1e-9)
    assert min(energy["buckets_j"].values()) >= 0
    assert energy["buckets_j"]["slowdown"] > 0


def _gpu_buckets(result) -> dict[str, float]:
    """The goodput accounting's GPU-seconds by bucket, from the summary: seconds x GPUs
    (the job holds all 32 GPUs whenever it computes: no elastic)."""
    return {bucket: seconds * 32 for bucket, seconds in
            result.summary["jobs"]["train"]["buckets_s"].items()}


def test_serving_energy_reuses_the_replicas_accelerator_energy():
    """A serving job's IT energy is the serving model's accelerator energy (``gpu_energy_j``,
    unchanged) plus the host's share while held: 8 GPUs x (10.2 kW / 8 - 700 W) x held
    seconds (closed form, 1e-9). Its per-request and per-output-token figures divide that IT
    energy (host included, like training's ``per_step_j``) by the 400 requests (all finish)
    and their output tokens; the GPU-only figure is smaller by the host's share."""
    data = {"name": "s", "cluster": {"node": "dgx-h100", "nodes": 1}, "jobs": [SERVING]}
    result = simulate(load(data))
    job = result.summary["jobs"]["chat"]
    held_s = result.summary["sim_time_s"] - job["start_s"]
    host = 8 * (10_200.0 / 8 - 700.0) * held_s
    energy = job["energy"]
    assert energy["it_j"] == pytest.approx(job["gpu_energy_j"] + host, rel=1e-9)
    assert result.summary["power"]["energy_buckets_j"]["serving"] == pytest.approx(
        energy["it_j"])
    assert job["completed"]
    assert energy["per_request_j"] == pytest.approx(energy["it_j"] / 400, rel=1e-12)
    tokens = job["gpu_energy_j"] / job["gpu_energy_per_output_token_j"]
    assert energy["per_output_token_j"] == pytest.approx(energy["it_j"] / tokens, rel=1e-9)
    assert energy["per_output_token_j"] > job["gpu_energy_per_output_token_j"]


def _steady(pue, horizon: str) -> dict:
    """One DGX H100 computing the whole run (explicit step, no checkpoints): 10.2 kW."""
    return {"name": "pue", "horizon": horizon, "cluster": {"node": "dgx-h100", "nodes": 1},
            "power": {"pue": pue},
            "jobs": [{"name": "a", "type": "training", "gpus": 8, "step_time": "10s",
                      "steps": 10**7}]}


def test_constant_pue_scales_it_energy():
    """Facility = PUE x IT for a constant PUE (1.2, the Jean Zay PUE Luccioni et al. 2022
    state for BLOOM); exact to 1e-12."""
    summary = simulate(load(_steady(1.2, "10h"))).summary["power"]
    assert summary["energy_it_j"] == pytest.approx(10_200.0 * 36_000.0, rel=1e-12)
    assert summary["energy_facility_j"] == pytest.approx(1.2 * summary["energy_it_j"],
                                                         rel=1e-12)
    assert summary["pue"] == pytest.approx(1.2)


def test_a_pue_of_one_leaves_facility_equal_to_it_to_the_bit():
    """PUE 1 (the default): facility energy is the IT energy itself, fleet and job, not an
    integral summed in another order (the Llama 3 run reported PUE 0.9999999999999992)."""
    result = simulate(load(_steady(1.0, "10h")))
    fleet, job = result.summary["power"], result.summary["jobs"]["a"]["energy"]
    assert fleet["energy_facility_j"] == fleet["energy_it_j"] and fleet["pue"] == 1.0
    assert job["facility_j"] == job["it_j"]


def test_temperature_pue_integrates_against_closed_form():
    """PUE(T) = 1.1 + 0.01 x max(0, T - 20) over a daily temperature profile 10 C from 0 h,
    30 C from 12 h: PUE 1.1 for 12 h, 1.2 for 12 h, every day. Over 30 h at a constant
    10.2 kW: facility = 10.2 kW x (12 h x 1.1 + 12 h x 1.2 + 6 h x 1.1), exact to 1e-12;
    the timeseries ``pue`` column follows the profile."""
    pue = {"base": 1.1, "per_degree": 0.01, "above": 20,
           "temperature": {"points": [[0, 10], ["12h", 30]], "period": "24h"}}
    result = simulate(load(_steady(pue, "30h")))
    hour = 3600.0
    expected = 10_200.0 * hour * (12 * 1.1 + 12 * 1.2 + 6 * 1.1)
    assert result.summary["power"]["energy_facility_j"] == pytest.approx(expected, rel=1e-12)
    series = result.timeseries.set_index("time_s")
    assert series.loc[6 * hour, "pue"] == pytest.approx(1.1)
    assert series.loc[18 * hour, "pue"] == pytest.approx(1.2)
    assert series.loc[26 * hour, "pue"] == pytest.approx(1.1)
    assert series.loc[18 * hour, "power_facility_w"] == pytest.approx(1.2 * 10_200.0)
