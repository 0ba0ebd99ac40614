"""Collect a finished run's results: the summary, the tables and the timeseries.

Everything is read from the logs the run kept (the fleet's GPU-state log, each job's phase
and productive logs, the scheduler's queue log, serving request records); nothing here runs
the simulation. Keys and columns are documented in docs/guides/outputs.md.

The summary has one entry per job of ``jobs:`` (``jobs``), the cluster's hardware and
failures (``cluster``) and the fleet's scheduling results (``fleet``): job completion and
queue wait percentiles, makespan, GPU utilization (allocated and productive), fragmentation,
per-team shares, and the fleet's GPU-seconds by bucket, which add up to GPUs x wall time.
Workload jobs appear in ``jobs.csv`` (one row per job, every job) and in ``fleet`` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from fleetsim.carbon.accounting import carbon_summary, job_carbon_kg
from fleetsim.faults.rates import mtbf_s
from fleetsim.metrics.fleet import fleet_summary, jobs_table, productive_column, queue_columns
from fleetsim.metrics.timeseries import (auto_resolution, busy_fraction, fleet_timeseries,
                                         serving_timeseries)
from fleetsim.power import FleetPower, fleet_power
from fleetsim.power.energy import KWH
from fleetsim.power.racks import RackPower, rack_power
from fleetsim.prepare import PreparedScenario
from fleetsim.serving.job import ServingJob
from fleetsim.training.job import TrainingJob
from fleetsim.training.plan import make_plan

if TYPE_CHECKING:  # pragma: no cover
    from fleetsim.runner import Run


@dataclass
class RunResult:
    """A finished run: ``summary`` (as in summary.json), ``events``, ``timeseries``, one
    row per job in ``jobs``, and the fleet's and scheduler's change logs (``gpu_log``,
    ``queue_log``: exact step functions, for trace.json's counters)."""

    summary: dict
    events: pd.DataFrame
    timeseries: pd.DataFrame
    scenario: PreparedScenario
    phases: pd.DataFrame  # one row per job phase: job, phase, start_s, end_s
    downtime: pd.DataFrame  # one row per node repair: node, start_s, end_s
    requests: pd.DataFrame  # one row per serving request (empty without serving jobs)
    jobs: pd.DataFrame  # one row per job (jobs.csv)
    #: the fleet's (time_s, busy, down, spare, idle) GPU counts at every change
    gpu_log: list[tuple[float, int, int, int, int]] = field(default_factory=list)
    #: the scheduler's (time_s, waiting jobs, waiting GPUs, running jobs, fragmented GPUs)
    queue_log: list[tuple[float, int, int, int, int]] = field(default_factory=list)
    #: the fleet's and each job's power step functions (fleetsim.power.energy)
    power: FleetPower | None = None
    #: with ``power.rack_nodes``: each rack's mean IT power per window (racks.csv)
    racks: pd.DataFrame | None = None
    #: with ``power.rack_nodes``: each rack's power step function (fleetsim.power.racks)
    rack_power: RackPower | None = None


PHASE_NAMES = {"running": "compute", "checkpoint_stall": "checkpoint", "detection": "detection",
               "restart": "restart", "waiting_for_resources": "waiting", "queued": "queued"}


def collect(run: "Run", end_s: float, reason: str) -> RunResult:
    """The results of ``run``, stopped at ``end_s`` for ``reason``."""
    scenario = run.scenario
    spec = scenario.spec
    per_node = scenario.gpus_per_node
    fleet = run.fleet
    static = run._static
    training = [job for job in run.jobs if isinstance(job, TrainingJob)]
    serving = [job for job in run.jobs if isinstance(job, ServingJob)]
    table = jobs_table(run.jobs, end_s, workload_class=getattr(run.workload, "class_of", None))
    summary: dict[str, Any] = {
        "scenario": spec.name,
        "seed": spec.seed,
        "sim_time_s": end_s,
        "end": reason,
        "jobs": {job.name: job.summary() for job in static},
        "cluster": {
            "node": scenario.node.name,
            "nodes": spec.cluster.nodes,
            "gpus": spec.cluster.nodes * per_node,
            "spares": spec.cluster.spares,
            "failures": fleet.failures,
            "failures_by_cause": dict(sorted(fleet.failures_by_cause.items())),
            "repairs": fleet.repairs,
            "repairs_by_kind": dict(sorted(fleet.repairs_by_kind.items())),
            "evictions": fleet.evictions,
            "bad_nodes": int(fleet.bad_node_count),
            "mtbf_s": _finite_or_none(mtbf_s(run.causes, run.units,
                                             node_multiplier=run.factory.node_multiplier)),
            "utilization": busy_fraction(fleet.state_log, fleet.total_gpus, end_s),
            "storage_busy_fraction": (run.storage.busy_s / end_s
                                      if run.storage is not None and end_s > 0 else None),
        },
        "fleet": fleet_summary(run.jobs, table, fleet, run.scheduler, end_s),
    }
    power = fleet_power(run, end_s, stopped=reason != "all_jobs_finished")
    summary["power"] = power.summary(spec.power.swing_window)
    cap = run.factory.power_cap
    summary["power"]["cap"] = cap.summary() if cap is not None else None
    racks = None
    if spec.power.rack_nodes is not None:
        racks = rack_power(power, fleet.node_log or [], fleet.downtime_until(math.inf),
                           spec.cluster.nodes, per_node, spec.power.rack_nodes)
        summary["power"]["racks"] = racks.summary()
    table["energy_it_kwh"] = [power.jobs[name].energy_j / KWH for name in table["job"]]
    intensity = scenario.intensity
    if intensity is not None:
        table["carbon_kg"] = [job_carbon_kg(power, intensity, name) for name in table["job"]]
    for job in static:
        entry = summary["jobs"][job.name]
        entry["energy"] = _job_energy(power, job, entry["wall_time_s"])
        if intensity is not None:
            entry["carbon_kg"] = job_carbon_kg(power, intensity, job.name)
            entry["deferral_s"] = run.deferred.get(job.name, 0.0)
    if intensity is not None and spec.carbon is not None:
        summary["carbon"] = carbon_summary(power, intensity, spec.carbon, run.deferred)
    resolution = spec.output.resolution or auto_resolution(end_s)
    timeseries = fleet_timeseries(
        fleet.state_log, fleet.total_gpus,
        {job.name: (job.started_s, job.accounting.productive_log) for job in static
         if isinstance(job, TrainingJob)},
        end_s, resolution)
    timeseries = productive_column(queue_columns(timeseries, run.scheduler.queue_log), training)
    grid = timeseries["time_s"].to_numpy()
    timeseries = pd.concat([timeseries, pd.DataFrame(power.columns(grid, resolution),
                                                     index=timeseries.index)], axis=1)
    if intensity is not None:
        timeseries["carbon_intensity_g_per_kwh"] = intensity.at(grid)
    rack_table = (pd.DataFrame(racks.columns(grid, resolution)) if racks is not None
                  else None)
    requests = []
    for job in serving:
        records = job.request_table()
        timeseries = serving_timeseries(timeseries, job.name, records, job.replica_log,
                                        resolution, job.slo)
        requests.append(pd.DataFrame({"job": job.name, **records}))
    downtime = pd.DataFrame.from_records(fleet.downtime_until(end_s),
                                         columns=["node", "start_s", "end_s"])
    frames = [phase_frame(training, end_s)] + [job.phase_frame(end_s) for job in serving]
    phases = pd.concat([frame for frame in frames if len(frame)] or frames[:1],
                       ignore_index=True)
    request_frame = (pd.concat(requests, ignore_index=True) if requests
                     else pd.DataFrame(columns=["job"]))
    return RunResult(summary, run.log.to_frame(), timeseries, scenario, phases, downtime,
                     request_frame, table,
                     gpu_log=[entry for entry in fleet.state_log if entry[0] <= end_s],
                     queue_log=[entry for entry in run.scheduler.queue_log
                                if entry[0] <= end_s],
                     power=power, racks=rack_table, rack_power=racks)


def phase_frame(jobs: list[TrainingJob], end_s: float) -> pd.DataFrame:
    """Every job's phases as intervals (``compute`` is kept or lost work alike)."""
    rows = []
    for job in jobs:
        log = job.accounting.phase_log
        for (start, phase), (end, _next) in zip(log, log[1:] + [(end_s, "done")]):
            if phase != "done" and end > start:
                rows.append((job.name, PHASE_NAMES.get(phase, phase), start, end))
    return pd.DataFrame.from_records(rows, columns=["job", "phase", "start_s", "end_s"])


def _job_energy(power: FleetPower, job, wall_s: float) -> dict:
    """A job's ``energy`` block: per useful step and token for training (steps kept at the
    end of the run; tokens where the job has a model), per finished request and output
    token for serving."""
    if not isinstance(job, TrainingJob):
        requests, tokens = job.served()
        return power.job_summary(job.name, wall_s=wall_s, requests=requests,
                                 output_tokens=tokens)
    tokens = make_plan(job.spec).tokens_per_step if job.spec.model is not None else None
    return power.job_summary(job.name, steps=job.steps_done, tokens_per_step=tokens,
                             wall_s=wall_s)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


__all__ = ["PHASE_NAMES", "RunResult", "collect", "phase_frame"]
