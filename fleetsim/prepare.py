"""Prepare a loaded scenario for a run: check what the schema cannot, build what jobs need.

The scenario layer (:mod:`fleetsim.scenario`) knows the shape of a file and the hardware
catalogue, and nothing above them. What needs the models above it is checked here, once,
before anything runs, and reported like every other scenario error (one line with file, line
and key, exit code 2):

* every name a scenario chooses (checkpoint policy, batching policy, router, jitter law)
  against its :class:`~fleetsim.registry.Registry`;
* the fabric can be planned where it is needed (jobs with a model, leaf-scoped failures);
* training jobs with a model: the parallel plan divides and the model fits in memory;
* serving jobs: their workload files, cost model and memory fit (:mod:`fleetsim.serving.setup`);
* the scheduler's policy and placement, and that the policy reads every key given;
* the workload: its trace rows (:mod:`fleetsim.workload.trace`), its classes' sizes (that
  they fit the cluster; with a model, that each size has a plan that fits in memory) and
  job templates, and that its arrivals end (a horizon, ``until`` or a job limit);
* under ``fair-share`` without borrowing, every job (static, a class's, a trace row's) can
  start: it has a team with a quota at least its size;
* the node's power per state with the scenario's overrides keeps its order (down <= idle <=
  stall, loading <= compute), and a power cap (``power.cap``) leaves each accelerator more
  than its idle draw and at least its vendor's lowest limit, and each busy node its waiting
  draw, however many nodes are busy;
* carbon: the intensity file's rows (:mod:`fleetsim.carbon.series`), and that a job's or a
  class's ``deferrable`` slack has a threshold to wait for (``carbon.defer_below``).
* the event budget (:mod:`fleetsim.budget`): no failure rate, arrival rate, checkpoint
  interval or resolution that would make the run take hours.

The layers below raise :class:`~fleetsim.errors.LocatedError` with a key path relative to
what they were given; :func:`located` turns it into the file's line.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from fleetsim.budget import BudgetError, check_budget
from fleetsim.carbon.series import intensity_of
from fleetsim.cluster.powercap import serving_cap_w
from fleetsim.errors import LocatedError, ScenarioError
from fleetsim.faults.stragglers import jitter_from
from fleetsim.hardware import Accelerator, Catalogue, NodeType
from fleetsim.hardware.powercap import cap_allowed, compute_slowdown, lowest_busy_node_cap_w
from fleetsim.power.profile import StepProfile
from fleetsim.power.states import node_power
from fleetsim.registry import UnknownName
from fleetsim.scenario import LoadedScenario, Scenario, load_scenario
from fleetsim.scenario.models import TrainingJobFields, TrainingJobSpec
from fleetsim.scenario.serving import ServingJobSpec
from fleetsim.scheduler import COMMON_KEYS, PLACEMENTS
from fleetsim.scheduler import POLICIES as SCHEDULING_POLICIES
from fleetsim.topology import TopologyError
from fleetsim.topology.cluster import check_fabric, leaf_groups
from fleetsim.training.checkpoint import POLICIES as CHECKPOINT_POLICIES
from fleetsim.training.plan import check_memory, make_plan
from fleetsim.yamlsource import Document

if TYPE_CHECKING:  # the serving and workload layers are imported by the scenarios that have
    # them: validating a training scenario loads neither (nor pandas)
    from fleetsim.serving.setup import ServingSetup
    from fleetsim.workload import Workload


@dataclass(frozen=True)
class PreparedScenario:
    """A scenario checked against every model, with what its jobs need to run."""

    loaded: LoadedScenario
    #: serving jobs' workloads and cost models, by job name
    serving: Mapping[str, ServingSetup] = field(default_factory=dict)
    #: the jobs arriving over time (``workload:``), or None
    workload: Workload | None = None
    #: the grid's carbon intensity (``carbon:``), or None
    intensity: StepProfile | None = None

    @property
    def spec(self) -> Scenario:
        return self.loaded.spec

    @property
    def node(self) -> NodeType:
        return self.loaded.node

    @property
    def accelerator(self) -> Accelerator:
        return self.loaded.accelerator

    @property
    def document(self) -> Document:
        return self.loaded.document

    @property
    def file(self) -> str:
        return self.loaded.file

    @property
    def gpus_per_node(self) -> int:
        return self.loaded.gpus_per_node


def load(source: str | Path | dict[str, Any], *, overrides: Iterable[str | tuple[str, Any]] = (),
         seed: int | None = None, catalogue: Catalogue | None = None) -> PreparedScenario:
    """Load a scenario (a YAML path or a dict, with ``--set``-style overrides and a seed) and
    prepare it; any problem is a one-line :class:`~fleetsim.errors.ScenarioError`."""
    return prepare(load_scenario(source, overrides=overrides, seed=seed, catalogue=catalogue))


def prepare(loaded: LoadedScenario) -> PreparedScenario:
    """Check ``loaded`` against the models above the schema and build the jobs' setups."""
    spec, document = loaded.spec, loaded.document
    with located(document, ("stragglers", "jitter")):
        jitter = spec.stragglers.jitter
        try:
            jitter_from(jitter.distribution, **jitter.params())
        except ValueError as exc:
            raise LocatedError(str(exc)) from None
    _check_fabric(loaded)
    _check_scheduler(loaded)
    _check_node_power(loaded)
    _check_power_cap(loaded)
    workload = _workload(loaded) if spec.workload is not None else None
    _check_quotas(loaded, workload)
    serving: dict[str, ServingSetup] = {}
    for index, job in enumerate(spec.jobs):
        with located(document, ("jobs", index)):
            if isinstance(job, TrainingJobSpec):
                _check_training(job, loaded)
            elif isinstance(job, ServingJobSpec):
                serving[job.name] = _serving_setup(job, loaded)
    _check_budget(loaded, workload)
    intensity = _check_carbon(loaded)
    return PreparedScenario(loaded, serving, workload, intensity)


def _check_budget(loaded: LoadedScenario, workload: Workload | None) -> None:
    cluster, per_node = loaded.spec.cluster, loaded.gpus_per_node

    def units_of(scope: str) -> int:
        if scope == "gpu":
            return cluster.nodes * per_node
        if scope == "leaf":  # plannable: checked by _check_fabric
            return len(leaf_groups(loaded.node, cluster.nodes, cluster.fabric))
        return cluster.nodes

    rows = len(workload.trace) if workload is not None and workload.trace is not None else 0
    try:
        check_budget(loaded, units_of, rows)
    except BudgetError as exc:
        raise loaded.document.error(exc.location, str(exc)) from None


@contextmanager
def located(document: Document, prefix: tuple[Any, ...]) -> Iterator[None]:
    """Turn a :class:`LocatedError` raised inside into the scenario error at ``prefix`` +
    its location (an :class:`UnknownName` from a registry is located at ``prefix``)."""
    try:
        yield
    except LocatedError as exc:
        raise document.error(prefix + exc.location, str(exc)) from None
    except UnknownName as exc:
        raise document.error(prefix, str(exc)) from None


def registered(registry, name: str, location: tuple[Any, ...]) -> None:
    """Raise a :class:`LocatedError` at ``location`` unless ``name`` is in ``registry``."""
    try:
        registry.get(name)
    except UnknownName as exc:
        raise LocatedError(str(exc), location) from None


def _check_fabric(loaded: LoadedScenario) -> None:
    """The fabric must be plannable where it is used: for jobs with a model (their step time
    is costed on it) and for leaf-scoped failures (their blast radius comes from it)."""
    spec, node, document = loaded.spec, loaded.node, loaded.document
    cluster = spec.cluster
    leaf_causes = [cause for cause in spec.faults.effective_causes() if cause.scope == "leaf"]
    if leaf_causes:
        try:
            leaf_groups(node, cluster.nodes, cluster.fabric)
        except TopologyError as exc:
            raise document.error(("faults",), f"cause {leaf_causes[0].name!r} has scope leaf: "
                                              f"{exc}") from None
    templates = [job for job in spec.jobs if isinstance(job, TrainingJobSpec)]
    if spec.workload is not None:
        templates += [spec.workload.defaults] + [c.job for c in spec.workload.classes]
    if any(job.model is not None for job in templates):
        try:
            check_fabric(node, cluster.nodes, cluster.fabric)
        except TopologyError as exc:
            raise document.error(("cluster", "fabric"), str(exc)) from None


def _check_training(job: TrainingJobFields, loaded: LoadedScenario,
                    sizes: Iterable[int] = ()) -> None:
    """A job (or a workload's job template, for each of ``sizes``): its checkpoint policy,
    and with a model its plan and memory."""
    registered(CHECKPOINT_POLICIES, job.checkpoint.policy, ("checkpoint", "policy"))
    try:
        CHECKPOINT_POLICIES.get(job.checkpoint.policy).check(job.checkpoint)
    except LocatedError as exc:
        raise LocatedError(str(exc), ("checkpoint",) + exc.location) from None
    if job.model is None:
        return
    specs = [job] if isinstance(job, TrainingJobSpec) else [
        TrainingJobSpec.model_construct(**dict(job), name="job", type="training", gpus=gpus,
                                        steps=1) for gpus in sizes]
    for spec in specs:
        try:
            check_memory(make_plan(spec), loaded.accelerator)
        except LocatedError as exc:
            if isinstance(job, TrainingJobSpec):
                raise
            raise LocatedError(f"with {spec.gpus} GPUs: {exc}", exc.location) from None


def _check_scheduler(loaded: LoadedScenario) -> None:
    spec = loaded.spec.scheduler
    with located(loaded.document, ("scheduler",)):
        registered(SCHEDULING_POLICIES, spec.policy, ("policy",))
        registered(PLACEMENTS, spec.placement, ("placement",))
        policy = SCHEDULING_POLICIES.get(spec.policy)
        allowed = COMMON_KEYS + policy.keys
        for key in sorted(spec.model_fields_set - set(allowed)):
            raise LocatedError(f"key {key!r} does not apply to policy {spec.policy!r} "
                               f"(allowed: {', '.join(allowed)})", (key,))


def _check_quotas(loaded: LoadedScenario, workload: Workload | None) -> None:
    """Under fair-share without borrowing a job (training or serving) may hold at most its
    team's quota: a job larger than that, or without a team that has a quota, could never
    start (Kueue keeps such a workload pending forever); each is refused at its line. Sizes drawn from a continuous
    distribution are not checked (such jobs are counted as waiting at the end)."""
    spec = loaded.spec
    scheduler = spec.scheduler
    if scheduler.policy != "fair-share" or scheduler.borrowing:
        return
    usable = (spec.cluster.nodes - spec.cluster.spares) * loaded.gpus_per_node
    quotas = {team: share * usable for team, share in (scheduler.quotas or {}).items()}

    def problem(team: str | None, gpus: int) -> tuple[str, str] | None:
        """(the key at fault, why the job could never start), or None."""
        never = "under fair-share without borrowing it could never start"
        if team is None:
            return "team", (f"no team: {never} (give it one of the teams with a quota: "
                            f"{', '.join(sorted(quotas)) or 'none'})")
        if team not in quotas:
            return "team", (f"team {team!r} has no quota: {never} (teams with a quota: "
                            f"{', '.join(sorted(quotas)) or 'none'})")
        if gpus > quotas[team] + 1e-9:
            return "gpus", (f"{gpus} GPUs exceed the quota of team {team!r} ({quotas[team]:g} "
                            f"of {usable} usable GPUs): {never} (raise the quota or set "
                            f"scheduler.borrowing: true)")
        return None

    document = loaded.document
    per_node = loaded.gpus_per_node
    for index, job in enumerate(spec.jobs):
        # a service holds whole nodes (its replicas tile them)
        size = (job.gpus if isinstance(job, TrainingJobSpec)
                else -(-job.gpus // per_node) * per_node)
        found = problem(job.team, size)
        if found:
            key, message = found
            if job.team is None:
                raise document.error(("jobs", index), f"has {message}")
            raise document.error(("jobs", index, key), message)
    if workload is None:
        return
    from fleetsim.workload import trace_path
    from fleetsim.workload.distributions import possible_sizes

    for index, job_class in enumerate(workload.spec.classes):
        if job_class.arrivals is None:
            continue
        sizes = possible_sizes(job_class.gpus, loaded.gpus_per_node, usable) or []
        teams = [team for team, weight in (job_class.teams or {}).items() if weight > 0]
        for team in teams or [None]:
            for size in sizes:
                found = problem(team, size)
                if found:
                    key, message = found
                    where = ("workload", "classes", index)
                    where += (("teams",) if key == "team" and team is not None else
                              ("gpus",) if key == "gpus" else ())
                    raise document.error(where, f"its jobs have {message}" if team is None
                                         else f"its jobs of {message}" if key == "gpus"
                                         else message)
    trace = workload.trace
    if trace is not None:
        for row in trace.itertuples():
            found = problem(row.team or None, int(row.gpus))
            if found:
                key, message = found
                raise ScenarioError(message, file=str(trace_path(workload.spec, loaded.file)),
                                    line=int(row.line), key=key)


def _check_node_power(loaded: LoadedScenario) -> None:
    """The node's watts per state, the catalogue's with the scenario's overrides, must keep
    down <= idle <= stall, loading <= compute (a node waiting for its job draws at least what
    an unallocated one does; the schema checks the figures given against each other, this
    checks them against the catalogue's)."""
    given = loaded.spec.power.node
    node = node_power(loaded.node, loaded.accelerator, given)
    for lower, upper in (("idle", "compute"), ("down", "idle"), ("idle", "stall"),
                         ("idle", "loading"), ("stall", "compute"), ("loading", "compute")):
        low, high = getattr(node, lower), getattr(node, upper)
        if low <= high:
            continue
        if getattr(given, lower) is not None:
            key, message = lower, (f"{low:g} W must not exceed the node's {upper} power "
                                   f"({high:g} W, {_origin(loaded, upper)})")
        else:
            key, message = upper, (f"{high:g} W is below the node's {lower} power ({low:g} W, "
                                   f"{_origin(loaded, lower)}); give power.node.{lower} too")
        raise loaded.document.error(("power", "node", key), message)


def _origin(loaded: LoadedScenario, state: str) -> str:
    """Where a node state's default watts come from (docs/background/power.md)."""
    name = loaded.node.name
    return {"compute": f"{name}'s power.busy in the catalogue",
            "idle": f"{name}'s power.idle in the catalogue",
            "down": "the default 0 W"}.get(state, "derived from compute and the catalogue")


def _check_power_cap(loaded: LoadedScenario) -> None:
    """A cap must leave every accelerator more than its idle draw and at least its vendor's
    lowest settable limit, and every busy node what it draws waiting (stall, loading), in
    every split of the cluster into busy and idle nodes (:mod:`fleetsim.cluster.powercap`)."""
    spec = loaded.spec
    cap = spec.power.cap
    if cap is None:
        return
    chip = loaded.accelerator
    node = node_power(loaded.node, chip, spec.power.node)
    nodes, gpus = spec.cluster.nodes, node.gpus
    host_w = max(0.0, node.compute - gpus * chip.power.busy)
    waiting_w = max(node.stall, node.loading)
    # the least per-accelerator cap, and what sets it
    floors = [(chip.power.idle, f"each accelerator more than its idle draw "
                                f"({chip.power.idle:g} W)")]
    if chip.power.min_cap is not None:
        floors.append((chip.power.min_cap, f"{chip.name}'s lowest settable power limit "
                                           f"({chip.power.min_cap:g} W)"))
    floors.append(((waiting_w - host_w) / gpus, f"each node its waiting draw ({waiting_w:g} W: "
                                                f"power.node.stall, loading)"))
    least_w, reason = max(floors, key=lambda floor: floor[0])
    least_node_w = host_w + gpus * least_w
    scope = next(name for name in ("accelerator", "node", "cluster") if getattr(cap, name))
    value = getattr(cap, scope)
    if scope == "accelerator":
        allowed, least = value, least_w
    elif scope == "node":
        allowed, least = (value - host_w) / gpus, least_node_w
    else:
        most = nodes - spec.cluster.spares  # hot spares are never busy
        lowest = lowest_busy_node_cap_w(value, nodes, node.idle, most)
        allowed = (lowest - host_w) / gpus
        least = max(most * least_node_w + (nodes - most) * node.idle,
                    least_node_w + (nodes - 1) * node.idle)
        reason += (f", with 1 to {most} of the {nodes} nodes busy and the others at their idle "
                   f"draw ({node.idle:g} W)")
    if not cap_allowed(allowed, chip.power.idle, chip.power.min_cap) \
            or host_w + gpus * allowed < waiting_w * (1 - 1e-12):
        strict = least_w == chip.power.idle
        raise loaded.document.error(("power", "cap", scope), (
            f"{value:g} W is too low: it must be {'above' if strict else 'at least'} "
            f"{least:g} W to leave {reason}"))


def serving_slowdown(spec: Scenario, node: NodeType, accelerator: Accelerator) -> float:
    """The compute slowdown of serving replicas under the scenario's power cap (1 without)."""
    cap = spec.power.cap
    if cap is None:
        return 1.0
    watts = serving_cap_w(cap, node_power(node, accelerator, spec.power.node),
                          accelerator.power.busy, spec.cluster.nodes, spec.cluster.spares)
    return compute_slowdown(watts, accelerator.power.busy)


def _check_carbon(loaded: LoadedScenario) -> StepProfile | None:
    """The grid intensity (a file's rows checked); deferrable slack needs a threshold and a
    training job: a service's requests arrive from its submission whenever it starts, so
    deferring it would only leave them waiting."""
    spec = loaded.spec
    carbon = spec.carbon
    for index, job in enumerate(spec.jobs):
        if isinstance(job, ServingJobSpec) and job.deferrable is not None:
            raise loaded.document.error(("jobs", index, "deferrable"), (
                "a serving job cannot be deferred (its requests arrive from its submission "
                "whenever it starts); deferrable slack is for training jobs"))
    if carbon is None or carbon.defer_below is None:
        deferrable = [(("jobs", index), job) for index, job in enumerate(spec.jobs)]
        if spec.workload is not None:
            deferrable += [(("workload", "classes", index), job_class)
                           for index, job_class in enumerate(spec.workload.classes)]
        for where, item in deferrable:
            if item.deferrable is not None:
                raise loaded.document.error(where + ("deferrable",), (
                    "deferrable slack needs carbon.defer_below (the intensity, gCO2/kWh, "
                    "a deferred job waits for) and a carbon intensity"))
    if carbon is None:
        return None
    with located(loaded.document, ("carbon",)):
        return intensity_of(carbon, loaded.file)


def _workload(loaded: LoadedScenario) -> Workload:
    from fleetsim.workload import prepare_workload
    from fleetsim.workload.distributions import possible_sizes

    spec, document = loaded.spec, loaded.document
    workload = spec.workload
    assert workload is not None
    per_node = loaded.gpus_per_node
    usable = (spec.cluster.nodes - spec.cluster.spares) * per_node
    until = workload.until if workload.until is not None else spec.horizon
    for index, job_class in enumerate(workload.classes):
        where = ("workload", "classes", index)
        if (job_class.arrivals is not None and until is None and job_class.jobs is None
                and workload.jobs is None):
            raise document.error(where, "arrivals need an end: a scenario horizon, "
                                 "workload.until, or a job limit (jobs: N)")
        sizes = job_class.gpus
        raw = [sizes.value] if sizes.distribution == "fixed" else list(sizes.values or ())
        for size in raw:
            if size > usable:
                raise document.error(where + ("gpus",), f"{size} GPUs do not fit the cluster "
                                     f"({usable} usable GPUs)")
        possible = possible_sizes(sizes, per_node, usable)
        if job_class.job.model is not None and possible is None:
            raise document.error(where + ("gpus",), "a class with a model needs fixed or "
                                 "empirical sizes (each gets a parallel plan)")
        with located(document, where + ("job",)):
            _check_training(job_class.job, loaded, possible or ())
    with located(document, ("workload",)):
        prepared = prepare_workload(workload, scenario_file=loaded.file, gpus_per_node=per_node,
                                    usable_gpus=usable, horizon_s=spec.horizon)
    with located(document, ("workload", "defaults")):
        sizes = (sorted(set(prepared.trace["gpus"])) if prepared.trace is not None else [])
        _check_training(workload.defaults, loaded, sizes)
    return prepared


def _serving_setup(job: ServingJobSpec, loaded: LoadedScenario) -> ServingSetup:
    from fleetsim.serving.batching import POLICIES as BATCHING_POLICIES
    from fleetsim.serving.router import ROUTERS
    from fleetsim.serving.setup import build_setup

    registered(BATCHING_POLICIES, job.batching.policy, ("batching", "policy"))
    registered(ROUTERS, job.router, ("router",))
    document = loaded.document
    base = Path(document.file).parent if document.file != "<dict>" else Path.cwd()
    return build_setup(job, loaded.node, loaded.accelerator, base,
                       storage=loaded.spec.cluster.storage is not None,
                       compute_slowdown=serving_slowdown(loaded.spec, loaded.node,
                                                         loaded.accelerator))


__all__ = ["PreparedScenario", "load", "located", "prepare", "registered"]
