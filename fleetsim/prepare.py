"""Prepare a loaded scenario for a run: check what the schema cannot, build what jobs need.

The scenario layer (:mod:`fleetsim.scenario`) knows the shape of a file and the hardware
catalogue, and nothing above them. What needs the models above it is checked here, once,
before anything runs, and reported like every other scenario error (one line with file, line
and key, exit code 2):

* every name a scenario chooses (checkpoint policy, batching policy, router, jitter law)
  against its :class:`~fleetsim.registry.Registry`;
* the fabric can be planned where it is needed (jobs with a model, leaf-scoped failures);
* training jobs with a model: the parallel plan divides and the model fits in memory;
* serving jobs: their workload files, cost model and memory fit (:mod:`fleetsim.serving.setup`).

The layers below raise :class:`~fleetsim.errors.LocatedError` with a key path relative to
what they were given; :func:`located` turns it into the file's line.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from fleetsim.errors import LocatedError
from fleetsim.faults.stragglers import jitter_from
from fleetsim.hardware import Accelerator, Catalogue, NodeType
from fleetsim.registry import UnknownName
from fleetsim.scenario import LoadedScenario, Scenario, load_scenario
from fleetsim.scenario.models import TrainingJobSpec
from fleetsim.scenario.serving import ServingJobSpec
from fleetsim.serving.batching import POLICIES as BATCHING_POLICIES
from fleetsim.serving.router import ROUTERS
from fleetsim.serving.setup import ServingSetup, build_setup
from fleetsim.topology import TopologyError
from fleetsim.topology.cluster import check_fabric, leaf_groups
from fleetsim.training.checkpoint import POLICIES as CHECKPOINT_POLICIES
from fleetsim.training.plan import check_memory, make_plan
from fleetsim.yamlsource import Document


@dataclass(frozen=True)
class PreparedScenario:
    """A scenario checked against every model, with what its jobs need to run."""

    loaded: LoadedScenario
    #: serving jobs' workloads and cost models, by job name
    serving: Mapping[str, ServingSetup] = field(default_factory=dict)
    #: the jobs arriving over time (``workload:``), or None
    workload: Any = None

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
    serving: dict[str, ServingSetup] = {}
    for index, job in enumerate(spec.jobs):
        with located(document, ("jobs", index)):
            if isinstance(job, TrainingJobSpec):
                _check_training(job, loaded)
            elif isinstance(job, ServingJobSpec):
                serving[job.name] = _serving_setup(job, loaded)
    return PreparedScenario(loaded, serving)


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
    if any(isinstance(job, TrainingJobSpec) and job.model is not None for job in spec.jobs):
        try:
            check_fabric(node, cluster.nodes, cluster.fabric)
        except TopologyError as exc:
            raise document.error(("cluster", "fabric"), str(exc)) from None


def _check_training(job: TrainingJobSpec, loaded: LoadedScenario) -> None:
    registered(CHECKPOINT_POLICIES, job.checkpoint.policy, ("checkpoint", "policy"))
    try:
        CHECKPOINT_POLICIES.get(job.checkpoint.policy).check(job.checkpoint)
    except LocatedError as exc:
        raise LocatedError(str(exc), ("checkpoint",) + exc.location) from None
    if job.model is not None:
        check_memory(make_plan(job), loaded.accelerator)


def _serving_setup(job: ServingJobSpec, loaded: LoadedScenario) -> ServingSetup:
    registered(BATCHING_POLICIES, job.batching.policy, ("batching", "policy"))
    registered(ROUTERS, job.router, ("router",))
    document = loaded.document
    base = Path(document.file).parent if document.file != "<dict>" else Path.cwd()
    return build_setup(job, loaded.node, loaded.accelerator, base,
                       storage=loaded.spec.cluster.storage is not None)


__all__ = ["PreparedScenario", "load", "located", "prepare", "registered"]
