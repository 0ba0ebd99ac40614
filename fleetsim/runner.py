"""Build a run from a prepared scenario, execute it on SimPy, and collect its results.

The run's life cycle (as in desmod): build (fleet, failure clocks, scheduler, the submission
of jobs), run (until every job has finished and no more will arrive, or the horizon),
collect (summary, events, timeseries, jobs). Nothing here touches the file system:
:mod:`fleetsim.report` writes outputs.

Wiring, one way (each part knows only those below it)::

    submissions (jobs: at their submit time; workload: arrivals, trace rows)
        -> Scheduler (policy, placement, preemption)      fleetsim.scheduler
            -> TrainingJob / ServingJob processes        fleetsim.training, fleetsim.serving
                -> Fleet (GPUs, spares, repair), Fabric   fleetsim.cluster
                    <- failure clocks                    fleetsim.faults
"""

from __future__ import annotations

from typing import Callable, Iterable

import simpy

from fleetsim.carbon.deferral import release_s
from fleetsim.cluster import Fleet
from fleetsim.cluster.storage import SharedStorage
from fleetsim.engine import EventLog, RandomStreams
from fleetsim.faults.clock import ExponentialFailureClock, Failure, RenewalFailureClock
from fleetsim.faults.rates import FaultUnits
from fleetsim.factory import JobFactory
from fleetsim.prepare import PreparedScenario
from fleetsim.results import RunResult, collect
from fleetsim.scheduler import Scheduler
from fleetsim.serving.job import ServingJob
from fleetsim.topology.cluster import leaf_groups, node_localities

#: progress(simulated_now_s, expected_end_s) is called between chunks of the run.
ProgressCallback = Callable[[float, float], None]

_CHUNKS = 200  # how often a run with a progress callback reports

#: Without a horizon a run stops at the latest when this many times the jobs' failure-free
#: time has passed (summed over the jobs of ``jobs:``; for a workload, its last arrival plus
#: its GPU-time spread over the cluster), so a job that cannot finish (failures far more
#: frequent than its checkpoints) ends the run instead of hanging; ``end: run_limit``.
RUN_LIMIT_FACTOR = 100.0


class Run:
    """One simulation of one scenario with one seed."""

    def __init__(self, scenario: PreparedScenario) -> None:
        self.scenario = scenario
        spec = scenario.spec
        self.env = simpy.Environment()
        self.streams = RandomStreams(spec.seed)
        self.log = EventLog()
        per_node = scenario.gpus_per_node
        cluster = spec.cluster
        faults = spec.faults
        self.causes = faults.effective_causes()
        self.fleet = Fleet(self.env, cluster.nodes, per_node, cluster.spares, faults.repair,
                           self.log, rng=self.streams.stream("repair"),
                           bad_nodes=faults.bad_nodes,
                           localities=node_localities(scenario.node, cluster.nodes,
                                                      cluster.fabric),
                           log_nodes=spec.power.rack_nodes is not None)
        self.fleet.start_slow_nodes(spec.stragglers.slow_nodes, self.streams.stream("slow_nodes"))
        self.units = FaultUnits(cluster.nodes, per_node, self._leaf_groups())
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
        storage = cluster.storage
        self.storage = SharedStorage(self.env, storage.bandwidth) if storage else None
        self.scheduler = Scheduler(self.env, self.fleet, spec.scheduler,
                                   rng=self.streams.stream("placement"), log=self.log)
        self.factory = JobFactory(self.env, scenario, self.fleet, self.log, self.streams,
                                  self.causes, self.units, self.storage)
        #: every job created so far, in submission order
        self.jobs: list = []
        #: carbon-aware deferral: job name -> seconds it waited before joining the queue
        self.deferred: dict[str, float] = {}
        self._finished = 0
        self._all_done = self.env.event()
        self._arrivals_done = False
        # jobs of ``jobs:`` exist from the start (their costs and limits are known up front)
        # and are submitted at their submit time; workload jobs are created as they arrive
        self._static = [self.factory.job(job_spec) for job_spec in spec.jobs]
        self.workload = (scenario.workload.draw(self.streams)
                         if scenario.workload is not None else None)
        self.env.process(self._submissions())

    def _leaf_groups(self) -> tuple[tuple[int, ...], ...]:
        """Nodes under each leaf switch, when a cause has leaf scope (checked at load)."""
        if not any(cause.scope == "leaf" for cause in self.causes):
            return ()
        cluster = self.scenario.spec.cluster
        return tuple(leaf_groups(self.scenario.node, cluster.nodes, cluster.fabric))

    # -- submissions ------------------------------------------------------------------------------
    def _submissions(self):
        """Submit every job at its time: the jobs of ``jobs:`` and the workload's arrivals,
        merged in time order (ties: ``jobs:`` first, then workload order)."""
        env = self.env
        static = sorted(self._static, key=lambda job: job.submit_s)
        arrivals = iter(self.workload.arrivals()) if self.workload is not None else iter(())
        upcoming = next(arrivals, None)
        index = 0
        while index < len(static) or upcoming is not None:
            if index < len(static) and (upcoming is None
                                        or static[index].submit_s <= upcoming.submit_s):
                job, index = static[index], index + 1
            else:
                assert upcoming is not None
                if upcoming.submit_s > env.now:
                    yield env.timeout(upcoming.submit_s - env.now)
                job = self.factory.job(upcoming.spec)
                upcoming = next(arrivals, None)
            if job.submit_s > env.now:
                yield env.timeout(job.submit_s - env.now)
            self._submit(job)
        self._arrivals_done = True
        self._check_done()

    def _submit(self, job) -> None:
        self.jobs.append(job)
        job.process.callbacks.append(self._job_ended)
        release = self._release_s(job)
        if release <= self.env.now:
            self.scheduler.submit(job)
            return
        self.deferred[job.name] = release - self.env.now
        self.env.timeout(release - self.env.now).callbacks.append(
            lambda _event: self.scheduler.submit(job))

    def _release_s(self, job) -> float:
        """When ``job`` joins the queue: now, or, for a deferrable job under a carbon-aware
        scheduler, at the first low-carbon time within its slack (:mod:`fleetsim.carbon`)."""
        carbon, intensity = self.scenario.spec.carbon, self.scenario.intensity
        slack = job.spec.deferrable
        if carbon is None or carbon.defer_below is None or not slack or intensity is None:
            return self.env.now
        return release_s(self.env.now, slack, intensity, carbon.defer_below)

    def _job_ended(self, _event) -> None:
        self._finished += 1
        self._check_done()

    def _check_done(self) -> None:
        if (self._arrivals_done and self._finished == len(self.jobs)
                and not self._all_done.triggered):
            self._all_done.succeed()

    # -- running ----------------------------------------------------------------------------------
    def inject(self, failures: Iterable[Failure]) -> None:
        """Make these failures happen at their ``time_s`` too (teaching labs, exact tests)."""
        ordered = sorted(failures, key=lambda failure: failure.time_s)

        def process():
            for failure in ordered:
                yield self.env.timeout(failure.time_s - self.env.now)
                self.fleet.fail(failure)

        self.env.process(process())

    def failure_free_s(self) -> list[float]:
        """The failure-free duration of each job of ``jobs:``: a training job's compute plus
        its checkpoint saves; a serving job's own estimate (arrivals plus the work of serving
        them, :meth:`ServingJob.failure_free_s`)."""
        return [job.failure_free_s() if isinstance(job, ServingJob) else job.failure_free_s
                for job in self._static]

    def run_limit_s(self) -> float:
        """When a run without a horizon stops at the latest (:data:`RUN_LIMIT_FACTOR`)."""
        limit = sum(self.failure_free_s())
        if self.workload is not None:
            spread = self.workload.gpu_seconds / max(1, self.fleet.usable_gpus)
            limit = max(limit, self.workload.last_submit_s + spread
                        + self.workload.longest_s)
        return RUN_LIMIT_FACTOR * limit

    def execute(self, progress: ProgressCallback | None = None) -> RunResult:
        """Run to the horizon (or until every job has finished) and collect the results."""
        env = self.env
        horizon = self.scenario.spec.horizon
        if horizon is None:
            horizon = self.run_limit_s()
        stop = env.any_of([self._all_done, env.timeout(horizon)])
        # The same loop as env.run(until=stop), reporting progress between events: no extra
        # events are scheduled, so a run with a progress bar gives exactly the same results.
        durations = self.failure_free_s()
        expected = min(max(durations + [self.workload.last_submit_s if self.workload else 0.0]),
                       horizon) or horizon
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
        self.fleet.close()
        if self._all_done.triggered:
            reason = "all_jobs_finished"
        else:
            reason = "horizon" if self.scenario.spec.horizon is not None else "run_limit"
        return collect(self, end, reason)


__all__ = ["RUN_LIMIT_FACTOR", "Run", "RunResult", "simulate"]


def simulate(scenario: PreparedScenario, progress: ProgressCallback | None = None) -> RunResult:
    """Run ``scenario`` once and return its results."""
    return Run(scenario).execute(progress)
