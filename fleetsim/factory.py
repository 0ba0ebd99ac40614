"""Make a run's job objects from their specs: costs, checkpoint intervals, random streams,
and the hooks that re-cost a job on the GPUs the scheduler gave it.

* A training job's *nominal* costs are computed when it is created: for a job with a model,
  from the step-time model on a canonical packed placement (the first nodes of the cluster,
  ranks node by node), which also converts ``work`` into steps. Jobs that share a spec (a
  workload's classes) share the computation.
* When the scheduler starts the job (first start, or resume after a preemption), its step
  time is re-costed on the GPUs it got, if they differ from the canonical ones (ranks ordered
  per the job's ``placement``); and, with other jobs on the network, the fabric
  (:mod:`fleetsim.cluster.fabric`) tells it how much their traffic slows it down. A
  replacement node after a failure keeps both (an assumption: spares are as well connected
  as the nodes they replace, and the launcher ranks them by topology; re-costing a
  16,384-GPU job at each of its hundreds of replacements would also dominate the run).
* Under a power cap (``power.cap``), every training job is also placed on and vacated from
  the cap's books (:mod:`fleetsim.cluster.powercap`), which slows its compute; a cluster
  cap re-times every running job whenever the set of busy nodes changes.
* Random streams are named by the job (``stragglers.<job>``), so adding a job does not
  reshuffle another's draws.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import networkx as nx
import simpy

from fleetsim.cluster import Fleet
from fleetsim.cluster.fabric import SharedFabric
from fleetsim.cluster.powercap import PowerCap, serving_cap_w
from fleetsim.cluster.storage import SharedStorage
from fleetsim.comm.sharing import Footprint
from fleetsim.engine import EventLog, RandomStreams
from fleetsim.faults.rates import FaultUnits, mtbf_s
from fleetsim.hardware import NodeType
from fleetsim.power.energy import compute_fraction
from fleetsim.power.states import node_power
from fleetsim.prepare import PreparedScenario
from fleetsim.scenario.fabric import FabricSpec
from fleetsim.scenario.faults import FaultCause
from fleetsim.scenario.models import TrainingJobSpec
from fleetsim.scenario.serving import ServingJobSpec
from fleetsim.serving.job import ServingJob
from fleetsim.serving.power import ReplicaPower
from fleetsim.topology import build_cluster, gpu_name
from fleetsim.training.checkpoint import checkpoint_interval_s
from fleetsim.training.costs import JobCosts, job_costs
from fleetsim.training.job import TrainingJob
from fleetsim.training.plan import make_plan
from fleetsim.training.traffic import job_footprint


class JobFactory:
    """Creates the run's jobs (module docstring)."""

    def __init__(self, env: simpy.Environment, scenario: PreparedScenario, fleet: Fleet,
                 log: EventLog, streams: RandomStreams, causes: Sequence[FaultCause],
                 units: FaultUnits, storage: SharedStorage | None) -> None:
        self.env, self.scenario, self.fleet, self.log = env, scenario, fleet, log
        self.streams, self.causes, self.units, self.storage = streams, causes, units, storage
        spec = scenario.spec
        self.per_node = scenario.gpus_per_node
        stragglers = spec.stragglers
        slow = stragglers.slow_nodes
        self._stragglers = (stragglers.jitter.distribution != "none" or slow.fraction > 0
                            or slow.mtbs is not None)
        self._costs: dict[Any, JobCosts] = {}
        self._placements: dict[tuple, JobCosts] = {}  # isolated costs by (spec, ranks)
        self._footprints: dict[tuple, Footprint] = {}
        self._graph: nx.DiGraph | None = None
        #: the jobs' shared network links, when jobs with a model may run side by side
        self.fabric = SharedFabric() if _may_share(scenario) else None
        #: the power cap every training job computes under, or None
        self.power_cap = _power_cap(env, scenario)
        if self.power_cap is not None and self.power_cap.spec.cluster is not None:
            fleet.on_holding.append(self._holding_changed)
        #: a serving replica accelerator's draw (clipped at the cap under one)
        self.serving_power = _serving_power(scenario)

    @property
    def node_multiplier(self) -> float:
        """A node's mean failure-rate multiplier from inherently bad nodes (a job may hold
        any node, so the fleet's share applies; false repairs are not anticipated)."""
        share = self.fleet.bad_node_count / self.fleet.nodes
        return 1.0 + share * (self.fleet.bad_factor - 1.0)

    @property
    def graph(self) -> nx.DiGraph:
        """The cluster's topology graph (built on first use, shared within the process)."""
        if self._graph is None:
            cluster = self.scenario.spec.cluster
            self._graph = cluster_graph(self.scenario.node, cluster.nodes, cluster.fabric)
        return self._graph

    def job(self, spec: TrainingJobSpec | ServingJobSpec) -> TrainingJob | ServingJob:
        """The job of ``spec``, submitted at ``spec.submit``."""
        if isinstance(spec, ServingJobSpec):
            return self._serving(spec)
        costs = self.costs(spec)
        nodes = max(1, spec.gpus // self.per_node)
        job_mtbf = mtbf_s(self.causes, self.units, nodes, self.node_multiplier)
        rng = self.streams.stream(f"stragglers.{spec.name}") if self._stragglers else None
        hooks = {}
        if spec.model is not None or self.power_cap is not None:
            cluster_cap = self.power_cap is not None and self.power_cap.spec.cluster is not None
            hooks = {"placed": self._placed, "vacated": self._vacated,
                     "retimable": self.fabric is not None or cluster_cap}
        return TrainingJob(
            self.env, spec, self.fleet, self.log, costs=costs, gpus_per_node=self.per_node,
            interval_s=checkpoint_interval_s(spec.checkpoint, job_mtbf, costs.save_s),
            mtbf_s=job_mtbf, stragglers=self.scenario.spec.stragglers, rng=rng,
            storage=self.storage, submit_s=spec.submit, **hooks)

    def costs(self, spec: TrainingJobSpec) -> JobCosts:
        """Nominal step and checkpoint costs (a model: on the canonical packed placement)."""
        key = self.costs_key(spec)
        costs = self._costs.get(key)
        if costs is None:
            costs = self._costs[key] = self._cost(spec, self.canonical_ranks(spec.gpus))
        return costs

    @staticmethod
    def costs_key(spec: TrainingJobSpec) -> TrainingJobSpec:
        """What a job's costs depend on: its spec without its name, timing and amount."""
        return spec.model_copy(update={"name": "job", "submit": 0.0, "priority": 0,
                                       "team": None, "estimate": None, "steps": 1,
                                       "work": None, "preemptible": True})

    def _cost(self, spec: TrainingJobSpec, ranks: list[str] | None) -> JobCosts:
        scenario = self.scenario
        if spec.model is None:
            return job_costs(spec, scenario.accelerator, scenario.node)
        storage = scenario.spec.cluster.storage
        return job_costs(spec, scenario.accelerator, scenario.node, self.graph, ranks,
                         storage.bandwidth if storage else None)

    def canonical_ranks(self, gpus: int) -> list[str]:
        """GPU vertices of the first nodes, node by node (the nominal placement)."""
        per_node = self.per_node
        return [gpu_name(index // per_node, index % per_node) for index in range(gpus)]

    def ranks(self, job: TrainingJob) -> list[str]:
        """The job's GPU vertices in rank order: node by node in grant order (``packed``),
        or shuffled by its own stream (``random``)."""
        ranks = [gpu_name(node, index) for node, gpus in self.fleet.grants(job)
                 for index in range(gpus)]
        if job.spec.placement == "random":
            order = self.streams.stream(f"placement.{job.name}").permutation(len(ranks))
            ranks = [ranks[int(index)] for index in order]
        return ranks

    def _placed(self, job: TrainingJob) -> None:
        """The job runs on new GPUs: its isolated step time there, its traffic on the
        fabric, its share of the power cap."""
        if self.power_cap is not None:
            self.power_cap.placed(job, [node for node, _gpus in self.fleet.grants(job)],
                                  compute_fraction(job.costs.estimate))
        if job.spec.model is None:
            return
        ranks = tuple(self.ranks(job))
        key = (self.costs_key(job.spec), ranks)
        costs = job.costs
        if ranks != tuple(self.canonical_ranks(job.spec.gpus)):
            costs = self._placements.get(key)
            if costs is None:
                costs = self._placements[key] = self._cost(job.spec, list(ranks))
        job.set_step_time(costs.step_s)
        if self.fabric is not None and costs.estimate is not None:
            footprint = self._footprints.get(key)
            if footprint is None:
                footprint = self._footprints[key] = job_footprint(
                    make_plan(job.spec), costs.estimate, self.graph, ranks)
            if footprint.edges:
                self.fabric.placed(job, footprint)

    def _vacated(self, job: TrainingJob) -> None:
        if self.fabric is not None:
            self.fabric.vacated(job)
        if self.power_cap is not None:
            self.power_cap.vacated(job)

    def _holding_changed(self, holder) -> None:
        """Under a cluster cap the busy nodes follow the fleet: a serving job's nodes, and a
        running training job's after a failure or a replacement."""
        assert self.power_cap is not None
        nodes = [node for node, _gpus in self.fleet.grants(holder)]
        if isinstance(holder, ServingJob):
            self.power_cap.reserve(holder, nodes)
        else:
            self.power_cap.moved(holder, nodes)

    def _serving(self, spec: ServingJobSpec) -> ServingJob:
        stream = self.streams.stream
        name = spec.name
        return ServingJob(
            self.env, spec, self.fleet, self.log, setup=self.scenario.serving[name],
            power=self.serving_power, gpus_per_node=self.per_node,
            rng_arrivals=stream(f"arrivals.{name}"), rng_routing=stream(f"routing.{name}"),
            rng_service=stream(f"service.{name}"), horizon_s=self.scenario.spec.horizon,
            storage=self.storage, submit_s=spec.submit)


def _may_share(scenario: PreparedScenario) -> bool:
    """Whether two jobs with a model (whose steps depend on the network) may run at once:
    the fabric is modelled then, unless ``cluster.fabric.interference`` is off."""
    spec = scenario.spec
    if not spec.cluster.fabric.interference:
        return False
    static = sum(isinstance(job, TrainingJobSpec) and job.model is not None for job in spec.jobs)
    workload = spec.workload
    if workload is not None and any(template.model is not None for template in
                                    (workload.defaults, *(c.job for c in workload.classes))):
        return True  # a workload's jobs with a model may overlap each other
    return static >= 2


def _power_cap(env: simpy.Environment, scenario: PreparedScenario) -> PowerCap | None:
    """The scenario's power cap (``power.cap``), or None."""
    power = scenario.spec.power
    if power.cap is None:
        return None
    node = node_power(scenario.node, scenario.accelerator, power.node)
    cluster = scenario.spec.cluster
    return PowerCap(power.cap, node, scenario.accelerator.power.busy, cluster.nodes,
                    lambda: env.now, spares=cluster.spares)


def _serving_power(scenario: PreparedScenario) -> ReplicaPower:
    """A serving replica's accelerator draw: idle to TDP by how compute-bound its work is,
    clipped at the serving cap (the FLOP rate's slowdown under the cap is in the serving
    cost model, :func:`fleetsim.prepare.serving_slowdown`)."""
    chip, power = scenario.accelerator, scenario.spec.power
    if power.cap is None:
        return ReplicaPower(chip.power.idle, chip.power.busy)
    node = node_power(scenario.node, chip, power.node)
    cluster = scenario.spec.cluster
    cap_w = serving_cap_w(power.cap, node, chip.power.busy, cluster.nodes, cluster.spares)
    return ReplicaPower(chip.power.idle, chip.power.busy, max(chip.power.idle, cap_w))


@functools.lru_cache(maxsize=4)
def cluster_graph(node: NodeType, nodes: int, fabric: FabricSpec) -> nx.DiGraph:
    """The cluster graph, built once per process for each (node type, size, fabric) (the specs
    are frozen, hence hashable): a sweep over failure rates reuses it and the collective plans
    cached on it. Treat it as read-only.
    """
    return build_cluster(node, nodes, fabric)


__all__ = ["JobFactory", "cluster_graph"]
