"""A fleet's workload: training jobs arriving over time, from a trace or synthetic classes.

:func:`prepare_workload` reads and checks everything when the scenario is prepared (the trace
rows, each class's distributions and, for classes with a model, that every size it can draw
has a plan that fits in memory); :meth:`Workload.draw` makes one run's jobs from the run's
random streams (``workload.<class>``: adding a class does not reshuffle another's jobs), as
arrays; :meth:`DrawnWorkload.arrivals` yields each job's spec lazily, in submission order, so
a run of 100,000 jobs never holds 100,000 job objects before it needs them.

Each job is a :class:`~fleetsim.scenario.models.TrainingJobSpec` built from its class's
template (``job``; trace rows: the class their ``type`` names, else ``workload.defaults``)
without re-validation (the template was validated once), with its name, size, work (``work``
= the drawn duration, or the trace's ``steps``), submission time, priority, team, estimate
(``estimate_factor`` x duration when it is not 1; else none, and the scheduler uses the
job's exact failure-free time) and whether it may be preempted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from fleetsim.engine import RandomStreams
from fleetsim.errors import FleetsimError, LocatedError
from fleetsim.scenario.models import TrainingJobSpec
from fleetsim.scenario.workload import JobClass, JobTemplate, WorkloadSpec
from fleetsim.serving.setup import arrival_process
from fleetsim.workload.distributions import sample_durations, sample_sizes
from fleetsim.workload.trace import read_trace

_TEMPLATE_KEYS = tuple(JobTemplate.model_fields)


@dataclass(frozen=True)
class Arrival:
    """One job of the workload: when it is submitted and what it is."""

    submit_s: float
    spec: TrainingJobSpec


class Workload:
    """A prepared workload (files read, distributions checked); draw a run's jobs from it."""

    def __init__(self, spec: WorkloadSpec, *, gpus_per_node: int, usable_gpus: int,
                 until_s: float | None, trace: pd.DataFrame | None) -> None:
        self.spec = spec
        self.gpus_per_node = gpus_per_node
        self.usable_gpus = usable_gpus
        self.until_s = until_s
        self.trace = trace
        self.classes = {job_class.name: job_class for job_class in spec.classes}
        #: each class's arrival process, built now so that bad parameters are found when the
        #: run is prepared (a LocatedError at the class's arrivals), not when it draws
        self._processes = {}
        for index, job_class in enumerate(spec.classes):
            if job_class.arrivals is not None:
                try:
                    self._processes[job_class.name] = arrival_process(job_class.arrivals)
                except FleetsimError as exc:
                    raise LocatedError(str(exc), ("classes", index, "arrivals")) from None

    def draw(self, streams: RandomStreams) -> "DrawnWorkload":
        """The run's jobs, sorted by submission (ties: the trace, then classes in order)."""
        parts = []
        if self.trace is not None:
            parts.append(self._trace_part())
        for index, job_class in enumerate(self.spec.classes):
            if job_class.arrivals is not None:
                parts.append(self._class_part(job_class, index + 1,
                                              streams.stream(f"workload.{job_class.name}")))
        table = pd.concat(parts, ignore_index=True)
        table = table.sort_values(["submit_s", "source"], kind="stable").reset_index(drop=True)
        if self.until_s is not None:
            table = table[table["submit_s"] < self.until_s]
        if self.spec.jobs is not None:
            table = table.head(self.spec.jobs)
        return DrawnWorkload(table.reset_index(drop=True), self)

    def _trace_part(self) -> pd.DataFrame:
        trace = self.trace
        assert trace is not None
        types = trace["type"].tolist()
        names = [name or f"{kind or 'job'}-{row}" for row, (name, kind)
                 in enumerate(zip(trace["name"], types))]
        priority = [int(p) if has else (self.classes[kind].priority if kind else 0)
                    for p, has, kind in zip(trace["priority"], trace["has_priority"], types)]
        return pd.DataFrame({
            "submit_s": trace["submit_s"], "source": 0, "name": names, "class": types,
            "gpus": trace["gpus"], "duration_s": trace["duration_s"], "steps": trace["steps"],
            "priority": priority, "team": trace["team"], "estimate_s": trace["estimate_s"]})

    def _class_part(self, job_class: JobClass, source: int,
                    rng: np.random.Generator) -> pd.DataFrame:
        assert job_class.arrivals is not None and job_class.duration is not None
        process = self._processes[job_class.name]
        limit = job_class.jobs if job_class.jobs is not None else self.spec.jobs
        times = _arrival_times(process, rng, self.until_s, limit)
        count = times.size
        sizes = sample_sizes(job_class.gpus, rng, count, self.gpus_per_node, self.usable_gpus)
        durations = sample_durations(job_class.duration, rng, count)
        teams = [""] * count
        if job_class.teams:
            names = list(job_class.teams)
            weights = np.asarray([job_class.teams[name] for name in names], dtype=float)
            picks = rng.choice(len(names), size=count, p=weights / weights.sum())
            teams = [names[int(pick)] for pick in picks]
        estimate = (durations * job_class.estimate_factor if job_class.estimate_factor != 1.0
                    else np.full(count, np.nan))
        return pd.DataFrame({
            "submit_s": times, "source": source,
            "name": [f"{job_class.name}-{index}" for index in range(count)],
            "class": job_class.name, "gpus": sizes, "duration_s": durations,
            "steps": np.nan, "priority": job_class.priority, "team": teams,
            "estimate_s": estimate})

    def template(self, class_name: str) -> tuple[JobTemplate, dict[str, Any]]:
        """The job template of a class (``workload.defaults`` for none) and the class's
        scheduling keys (``preemptible``, ``deferrable``)."""
        job_class = self.classes.get(class_name)
        if job_class is None:
            return self.spec.defaults, {}
        return job_class.job, {"preemptible": job_class.preemptible,
                               "deferrable": job_class.deferrable}


def _arrival_times(process, rng: np.random.Generator, until_s: float | None,
                   limit: int | None) -> np.ndarray:
    """Arrivals before ``until_s``; without it, windows doubled until ``limit`` arrive."""
    if until_s is not None:
        times = process.times(rng, until_s)
    else:
        assert limit is not None, "checked when the workload was prepared"
        rate = process.mean_rate
        span = 1.1 * limit / rate + 10.0 / rate
        while True:
            times = process.times(rng, span)
            if times.size >= limit or span > 1e12:
                break
            span *= 2
    return times[:limit] if limit is not None else times


class DrawnWorkload:
    """One run's workload jobs, as a table (one row per job), yielded as specs on demand."""

    def __init__(self, table: pd.DataFrame, workload: Workload) -> None:
        self.table = table
        self.workload = workload
        self._class_by_name = dict(zip(table["name"], table["class"]))
        templates = {name: workload.template(name) for name in set(table["class"])}
        # one spec per class built without validation; each job is a cheap copy of it
        self._templates = {
            name: TrainingJobSpec.model_construct(
                **{key: getattr(template, key) for key in _TEMPLATE_KEYS}, name=name or "job",
                type="training", gpus=1, steps=1, **{"preemptible": True, "deferrable": None,
                                                     **scheduling})
            for name, (template, scheduling) in templates.items()}
        work = table["duration_s"].to_numpy()
        self.gpu_seconds = float(np.nansum(work * table["gpus"].to_numpy()))
        self.last_submit_s = float(table["submit_s"].max()) if len(table) else 0.0
        self.longest_s = float(np.nanmax(work)) if len(table) and np.isfinite(work).any() else 0.0

    def __len__(self) -> int:
        return len(self.table)

    def class_of(self, name: str) -> str:
        """The class a job came from (empty for jobs of ``jobs:`` or untyped trace rows)."""
        return self._class_by_name.get(name, "")

    def arrivals(self) -> Iterator[Arrival]:
        """Every job, in submission order."""
        columns = ("submit_s", "name", "class", "gpus", "duration_s", "steps", "priority",
                   "team", "estimate_s")
        data = [self.table[column].tolist() for column in columns]
        for submit, name, kind, gpus, duration, steps, priority, team, estimate in zip(*data):
            spec = self._templates[kind].model_copy(update={
                "name": name, "gpus": int(gpus),
                "work": None if math.isnan(duration) else float(duration),
                "steps": None if math.isnan(steps) else int(steps),
                "submit": float(submit), "priority": int(priority), "team": team or None,
                "estimate": None if math.isnan(estimate) else float(estimate)})
            yield Arrival(float(submit), spec)


def trace_path(spec: WorkloadSpec, scenario_file: str) -> Path | None:
    """The trace file, relative to the scenario's directory."""
    if spec.trace is None:
        return None
    path = Path(spec.trace)
    if not path.is_absolute() and scenario_file != "<dict>":
        path = Path(scenario_file).parent / path
    return path


def prepare_workload(spec: WorkloadSpec, *, scenario_file: str, gpus_per_node: int,
                     usable_gpus: int, horizon_s: float | None) -> Workload:
    """Read the trace and build the workload (``ScenarioError`` for a bad trace row)."""
    path = trace_path(spec, scenario_file)
    trace = None
    if path is not None:
        trace = read_trace(path, gpus_per_node=gpus_per_node, usable_gpus=usable_gpus,
                           classes=[job_class.name for job_class in spec.classes])
    until = spec.until if spec.until is not None else horizon_s
    return Workload(spec, gpus_per_node=gpus_per_node, usable_gpus=usable_gpus,
                    until_s=until, trace=trace)


__all__ = ["Arrival", "DrawnWorkload", "Workload", "prepare_workload", "trace_path"]
