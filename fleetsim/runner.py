"""Build a run from a loaded scenario, execute it on SimPy, and collect its results.

The run's life cycle (as in desmod): build (fleet, failure clock, jobs), run (until every job
finishes or the horizon), collect (summary, events, timeseries). Nothing here touches the file
system: :mod:`fleetsim.report` writes outputs.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable, Iterable

import networkx as nx
import pandas as pd
import simpy

from fleetsim.cluster import Fleet
from fleetsim.cluster.storage import SharedStorage
from fleetsim.engine import EventLog, RandomStreams
from fleetsim.faults.clock import ExponentialFailureClock, Failure, RenewalFailureClock
from fleetsim.faults.rates import FaultUnits, mtbf_s
from fleetsim.hardware import NodeType
from fleetsim.metrics.timeseries import (auto_resolution, busy_fraction, fleet_timeseries,
                                         serving_timeseries)
from fleetsim.prepare import PreparedScenario
from fleetsim.scenario.models import TrainingJobSpec
from fleetsim.scenario.serving import ServingJobSpec
from fleetsim.serving.job import ServingJob
from fleetsim.topology import FabricSpec, build_cluster, gpu_name, place
from fleetsim.topology.cluster import leaf_groups
from fleetsim.training.checkpoint import checkpoint_interval_s
from fleetsim.training.costs import JobCosts, job_costs
from fleetsim.training.job import TrainingJob

#: progress(simulated_now_s, expected_end_s) is called between chunks of the run.
ProgressCallback = Callable[[float, float], None]

_CHUNKS = 200  # how often a run with a progress callback reports

#: Without a horizon a run stops at the latest when this many times the jobs' summed
#: failure-free time has passed, so a job that cannot finish (failures far more frequent than
#: its checkpoints) ends the run instead of hanging; the summary says ``end: run_limit``.
RUN_LIMIT_FACTOR = 100.0


@dataclass
class RunResult:
    """A finished run: ``summary`` (as in summary.json), ``events`` and ``timeseries``."""

    summary: dict
    events: pd.DataFrame
    timeseries: pd.DataFrame
    scenario: PreparedScenario
    phases: pd.DataFrame  # one row per job phase: job, phase, start_s, end_s
    downtime: pd.DataFrame  # one row per node repair: node, start_s, end_s
    requests: pd.DataFrame  # one row per serving request (empty without serving jobs)


class Run:
    """One simulation of one scenario with one seed."""

    def __init__(self, scenario: PreparedScenario) -> None:
        self.scenario = scenario
        spec = scenario.spec
        self.env = simpy.Environment()
        self.streams = RandomStreams(spec.seed)
        self.log = EventLog()
        per_node = scenario.gpus_per_node
        faults = spec.faults
        self.causes = faults.effective_causes()
        self.fleet = Fleet(self.env, spec.cluster.nodes, per_node, spec.cluster.spares,
                           faults.repair, self.log, rng=self.streams.stream("repair"),
                           bad_nodes=faults.bad_nodes)
        self.fleet.start_slow_nodes(spec.stragglers.slow_nodes, self.streams.stream("slow_nodes"))
        self.units = FaultUnits(spec.cluster.nodes, per_node, self._leaf_groups())
        clock_options = dict(detection_s=faults.detection, multiplier=self.fleet.multiplier,
                             max_multiplier=self.fleet.max_multiplier)
        self.clocks = [
            ExponentialFailureClock(self.env, self.causes, self.units,
                                    self.streams.stream("faults"), self.fleet.fail,
                                    **clock_options),
            RenewalFailureClock(self.env, self.causes, self.units,
                                self.streams.stream("faults.renewal"), self.fleet.fail,
                                **clock_options),
        ]
        storage = spec.cluster.storage
        self.storage = SharedStorage(self.env, storage.bandwidth) if storage else None
        self._graph: nx.DiGraph | None = None
        self._taken_gpus: set[str] = set()
        self.jobs: list[TrainingJob | ServingJob] = []
        for job_spec in spec.jobs:
            if isinstance(job_spec, ServingJobSpec):
                self.jobs.append(self._serving_job(job_spec))
                continue
            costs = self._job_costs(job_spec)
            job_mtbf = mtbf_s(self.causes, self.units, job_spec.gpus // per_node,
                              self._node_multiplier)
            self.jobs.append(TrainingJob(
                self.env, job_spec, self.fleet, self.log, costs=costs, gpus_per_node=per_node,
                interval_s=checkpoint_interval_s(job_spec.checkpoint, job_mtbf, costs.save_s),
                mtbf_s=job_mtbf, stragglers=spec.stragglers,
                rng=self.streams.stream(f"stragglers.{job_spec.name}"), storage=self.storage))

    @property
    def _node_multiplier(self) -> float:
        """A node's mean failure-rate multiplier from inherently bad nodes (a job may hold
        any node, so the fleet's share applies; false repairs are not anticipated)."""
        share = self.fleet.bad_node_count / self.fleet.nodes
        return 1.0 + share * (self.fleet.bad_factor - 1.0)

    def _serving_job(self, job_spec: ServingJobSpec) -> ServingJob:
        stream = self.streams.stream
        name = job_spec.name
        return ServingJob(
            self.env, job_spec, self.fleet, self.log, setup=self.scenario.serving[name],
            accelerator=self.scenario.accelerator, gpus_per_node=self.scenario.gpus_per_node,
            rng_arrivals=stream(f"arrivals.{name}"), rng_routing=stream(f"routing.{name}"),
            rng_service=stream(f"service.{name}"), horizon_s=self.scenario.spec.horizon,
            storage=self.storage)

    def _leaf_groups(self) -> tuple[tuple[int, ...], ...]:
        """Nodes under each leaf switch, when a cause has leaf scope (checked at load)."""
        if not any(cause.scope == "leaf" for cause in self.causes):
            return ()
        cluster = self.scenario.spec.cluster
        return tuple(leaf_groups(self.scenario.node, cluster.nodes, cluster.fabric))

    def _job_costs(self, job_spec: TrainingJobSpec) -> JobCosts:
        """Step and checkpoint costs; a job with a model is placed on the fabric first."""
        scenario = self.scenario
        if job_spec.model is None:
            return job_costs(job_spec, scenario.accelerator, scenario.node)
        graph = self.graph
        cluster = scenario.spec.cluster
        free = [gpu_name(node, index) for node in range(cluster.nodes - cluster.spares)
                for index in range(scenario.gpus_per_node)]
        available = [gpu for gpu in free if gpu not in self._taken_gpus]
        if len(available) < job_spec.gpus:  # jobs that will run one after another
            available = free
        ranks = place(graph, job_spec.gpus, job_spec.placement, available=available,
                      rng=self.streams.stream("placement"))
        self._taken_gpus.update(ranks)
        storage = scenario.spec.cluster.storage
        return job_costs(job_spec, scenario.accelerator, scenario.node, graph, ranks,
                         storage.bandwidth if storage else None)

    @property
    def graph(self) -> nx.DiGraph:
        """The cluster's topology graph (built on first use, shared within the process)."""
        if self._graph is None:
            cluster = self.scenario.spec.cluster
            self._graph = cluster_graph(self.scenario.node, cluster.nodes, cluster.fabric)
        return self._graph

    def inject(self, failures: Iterable[Failure]) -> None:
        """Make these failures happen at their ``time_s`` too (teaching labs, exact tests)."""
        ordered = sorted(failures, key=lambda failure: failure.time_s)

        def process():
            for failure in ordered:
                yield self.env.timeout(failure.time_s - self.env.now)
                self.fleet.fail(failure)

        self.env.process(process())

    def failure_free_s(self) -> list[float]:
        """Each job's failure-free duration: a training job's compute plus its checkpoint
        saves; a serving job's own estimate (arrivals plus the work of serving them,
        :meth:`ServingJob.failure_free_s`)."""
        durations = []
        for job in self.jobs:
            if isinstance(job, ServingJob):
                durations.append(job.failure_free_s())
                continue
            compute = job.total_steps * job.step_time.mean_s
            saves = (job.segments - 1) * job.costs.save_s
            durations.append(compute + saves)
        return durations

    def execute(self, progress: ProgressCallback | None = None) -> RunResult:
        """Run to the horizon (or until every job has finished) and collect the results."""
        env = self.env
        all_done = env.all_of([job.process for job in self.jobs])
        horizon = self.scenario.spec.horizon
        if horizon is None:
            horizon = RUN_LIMIT_FACTOR * sum(self.failure_free_s())
        stop = env.any_of([all_done, env.timeout(horizon)])
        # The same loop as env.run(until=stop), reporting progress between events: no extra
        # events are scheduled, so a run with a progress bar gives exactly the same results.
        expected = min(max(self.failure_free_s()), horizon)
        report_every = expected / _CHUNKS
        next_report = report_every
        while not stop.processed:
            env.step()
            if progress is not None and env.now >= next_report:
                expected = max(expected, env.now)
                progress(env.now, expected)
                next_report = env.now + report_every
        end = env.now
        for job in self.jobs:
            job.close(end)
        if all_done.triggered:
            reason = "all_jobs_finished"
        else:
            reason = "horizon" if self.scenario.spec.horizon is not None else "run_limit"
        return self._collect(end, reason)

    def _collect(self, end_s: float, reason: str) -> RunResult:
        spec = self.scenario.spec
        per_node = self.scenario.gpus_per_node
        fleet = self.fleet
        training = [job for job in self.jobs if isinstance(job, TrainingJob)]
        serving = [job for job in self.jobs if isinstance(job, ServingJob)]
        summary = {
            "scenario": spec.name,
            "seed": spec.seed,
            "sim_time_s": end_s,
            "end": reason,
            "jobs": {job.name: job.summary() for job in self.jobs},
            "cluster": {
                "node": self.scenario.node.name,
                "nodes": spec.cluster.nodes,
                "gpus": spec.cluster.nodes * per_node,
                "spares": spec.cluster.spares,
                "failures": fleet.failures,
                "failures_by_cause": dict(sorted(fleet.failures_by_cause.items())),
                "repairs": fleet.repairs,
                "repairs_by_kind": dict(sorted(fleet.repairs_by_kind.items())),
                "evictions": fleet.evictions,
                "bad_nodes": int(fleet.bad_node_count),
                "mtbf_s": _finite_or_none(mtbf_s(self.causes, self.units,
                                                 node_multiplier=self._node_multiplier)),
                "utilization": busy_fraction(fleet.state_log, spec.cluster.nodes, end_s),
                "storage_busy_fraction": (self.storage.busy_s / end_s
                                          if self.storage is not None and end_s > 0 else None),
            },
        }
        resolution = spec.output.resolution or auto_resolution(end_s)
        timeseries = fleet_timeseries(
            fleet.state_log, per_node, spec.cluster.nodes * per_node,
            {job.name: (job.started_s, job.accounting.productive_log) for job in training},
            end_s, resolution)
        requests = []
        for job in serving:
            table = job.request_table()
            timeseries = serving_timeseries(timeseries, job.name, table, job.replica_log,
                                            resolution, job.slo)
            requests.append(pd.DataFrame({"job": job.name, **table}))
        downtime = pd.DataFrame.from_records(fleet.downtime_until(end_s),
                                             columns=["node", "start_s", "end_s"])
        frames = [phase_frame(training, end_s)] + [job.phase_frame(end_s) for job in serving]
        phases = pd.concat([frame for frame in frames if len(frame)] or frames[:1],
                           ignore_index=True)
        request_frame = (pd.concat(requests, ignore_index=True) if requests
                         else pd.DataFrame(columns=["job"]))
        return RunResult(summary, self.log.to_frame(), timeseries, self.scenario, phases,
                         downtime, request_frame)


PHASE_NAMES = {"running": "compute", "checkpoint_stall": "checkpoint", "detection": "detection",
               "restart": "restart", "waiting_for_resources": "waiting"}


def phase_frame(jobs: list[TrainingJob], end_s: float) -> pd.DataFrame:
    """Every job's phases as intervals (``compute`` is kept or lost work alike)."""
    rows = []
    for job in jobs:
        log = job.accounting.phase_log
        for (start, phase), (end, _next) in zip(log, log[1:] + [(end_s, "done")]):
            if phase != "done" and end > start:
                rows.append((job.name, PHASE_NAMES.get(phase, phase), start, end))
    return pd.DataFrame.from_records(rows, columns=["job", "phase", "start_s", "end_s"])


@functools.lru_cache(maxsize=4)
def cluster_graph(node: NodeType, nodes: int, fabric: FabricSpec) -> nx.DiGraph:
    """The cluster graph, built once per process for each (node type, size, fabric) (the specs
    are frozen, hence hashable): a sweep over failure rates reuses it and the collective plans
    cached on it. Treat it as read-only.
    """
    return build_cluster(node, nodes, fabric)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def simulate(scenario: PreparedScenario, progress: ProgressCallback | None = None) -> RunResult:
    """Run ``scenario`` once and return its results."""
    return Run(scenario).execute(progress)
