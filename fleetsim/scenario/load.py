"""Turn a scenario file (or dict) plus overrides into a validated scenario with its hardware.

Loading runs in three passes, each raising a one-line :class:`ScenarioError` that names the
file, line and key: YAML parsing (:mod:`fleetsim.yamlsource`), schema validation
(:mod:`fleetsim.scenario.models`), and the checks that need more than one key or the hardware
catalogue (GPUs a multiple of the node size, jobs that fit the cluster, known node types).

What needs the layers above the specs (registered policy names, fabric plans, memory fit,
serving cost models, workload files) is checked by :func:`fleetsim.prepare.prepare`, which
every run goes through; :func:`fleetsim.prepare.load` does both.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from fleetsim.errors import ScenarioError
from fleetsim.hardware import Accelerator, Catalogue, NodeType, UnknownHardware, load_spec
from fleetsim.units import format_duration
from fleetsim.scenario.models import Scenario
from fleetsim.scenario.overrides import apply_overrides
from fleetsim.yamlsource import Document, load_document, validate


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario with its node type resolved from the catalogue."""

    spec: Scenario
    node: NodeType
    accelerator: Accelerator
    document: Document

    @property
    def gpus_per_node(self) -> int:
        return self.node.accelerators

    @property
    def file(self) -> str:
        return self.document.file


def load_scenario(
    source: str | Path | dict[str, Any],
    *,
    overrides: Iterable[str | tuple[str, Any]] = (),
    seed: int | None = None,
    catalogue: Catalogue | None = None,
) -> LoadedScenario:
    """Load and validate a scenario from a YAML path or a plain dict.

    ``overrides`` are ``key.path=value`` strings (as given to ``--set``) or ``(key, value)``
    pairs; ``seed`` replaces the scenario's seed.
    """
    if isinstance(source, dict):
        document = Document(data=copy.deepcopy(source), file="<dict>")
    else:
        document = load_document(source)
    apply_overrides(document, overrides)
    if seed is not None:
        apply_overrides(document, [("seed", seed)])
    spec: Scenario = validate(Scenario, document)
    catalogue = catalogue or Catalogue.load()
    node = _resolve_node(spec, document, catalogue)
    try:
        accelerator = catalogue.accelerator(node.accelerator)
    except UnknownHardware as exc:
        raise document.error(("cluster", "node"), str(exc)) from None
    _check(spec, node, document)
    return LoadedScenario(spec=spec, node=node, accelerator=accelerator, document=document)


def _resolve_node(spec: Scenario, document: Document, catalogue: Catalogue) -> NodeType:
    name = spec.cluster.node
    if name.endswith((".yaml", ".yml")):
        base = Path(document.file).parent if document.file != "<dict>" else Path.cwd()
        path = (base / name) if not Path(name).is_absolute() else Path(name)
        if not path.is_file():
            raise document.error(("cluster", "node"), f"node file {str(path)!r} not found")
        node = load_spec(path)
        if not isinstance(node, NodeType):
            raise document.error(("cluster", "node"), f"{name!r} is not a node file (kind: node)")
        return node
    try:
        return catalogue.node(name)
    except UnknownHardware as exc:
        raise document.error(("cluster", "node"), str(exc)) from None


def _check(spec: Scenario, node: NodeType, document: Document) -> None:
    cluster = spec.cluster
    if cluster.spares >= cluster.nodes:
        raise document.error(("cluster", "spares"),
                             f"{cluster.spares} spares leave no node for jobs "
                             f"(at most nodes - 1 = {cluster.nodes - 1})")
    _unique([cause.name for cause in spec.faults.causes], ("faults", "causes"), document)
    _unique([job.name for job in spec.jobs], ("jobs",), document)
    per_node = node.accelerators
    usable = (cluster.nodes - cluster.spares) * per_node
    for index, job in enumerate(spec.jobs):
        if spec.horizon is not None and job.submit >= spec.horizon:
            raise document.error(("jobs", index, "submit"),
                                 f"submitted at {format_duration(job.submit)}, at or after the "
                                 f"horizon ({format_duration(spec.horizon)}): it would never run")
        if job.type == "serving":
            if job.tp > per_node:
                raise document.error(("jobs", index, "tp"),
                                     f"tp={job.tp} exceeds the {per_node} GPUs of a {node.name}"
                                     " node (tensor parallelism stays within a node)")
            replica = job.gpus_per_replica
            if per_node % replica and replica % per_node:
                raise document.error(("jobs", index, "pp" if job.pp > 1 else "tp"),
                                     f"a replica's {replica} GPUs (tp x pp) must divide or be "
                                     f"a multiple of the node's {per_node}")
            nodes = math.ceil(job.gpus / per_node)
            if nodes > cluster.nodes - cluster.spares:
                raise document.error(("jobs", index, "replicas"),
                                     f"{job.replicas} replicas of {job.gpus_per_replica} GPUs "
                                     f"need {nodes} nodes; the cluster has "
                                     f"{cluster.nodes - cluster.spares} non-spare nodes")
            if spec.horizon is None and job.requests is None:
                raise document.error(("jobs", index),
                                     "a serving job needs requests (e.g. requests: 100000) "
                                     "or a scenario horizon, to know when arrivals stop")
            continue
        if job.gpus > per_node and job.gpus % per_node:
            raise document.error(("jobs", index, "gpus"),
                                 f"{job.gpus} GPUs is not a multiple of the node size "
                                 f"({node.name} has {per_node} per node; a job smaller "
                                 "than a node is allowed)")
        if job.gpus > usable:
            raise document.error(("jobs", index, "gpus"),
                                 f"{job.gpus} GPUs do not fit the cluster ({usable} GPUs in "
                                 f"{cluster.nodes - cluster.spares} non-spare nodes)")


def _unique(names: list[str], location: tuple[Any, ...], document: Document) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            raise document.error(location + (index, "name"),
                                 f"duplicate name {name!r} (names must be unique)")
        seen.add(name)


__all__ = ["LoadedScenario", "ScenarioError", "load_scenario"]
