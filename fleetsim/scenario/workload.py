"""The ``workload`` section of a scenario: jobs arriving over time, from a trace or from
synthetic classes.

* ``trace``: a CSV or Parquet file with one row per job (docs/reference/scenario.md lists the
  columns: ``submit_s``, ``gpus``, ``duration_s`` or ``steps``, and optional ``name``,
  ``priority``, ``team``, ``type``, ``estimate_s``);
* ``classes``: each class has an arrival process (poisson, gamma, diurnal), a distribution
  of job sizes (rounded to what a node can hold), a distribution of durations (failure-free
  compute time), a priority, a team mix and how its jobs run (``job``: a step time or a
  model, checkpoints, restart). A class without ``arrivals`` only gives the template of the
  trace rows whose ``type`` names it.

Workload jobs are training jobs; failures, checkpoints and stragglers apply to them as to the
jobs of ``jobs:``. Distribution parameters are checked here; files are read when the run is
prepared (:mod:`fleetsim.workload`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, model_validator

from fleetsim.scenario.models import TrainingJobFields
from fleetsim.scenario.serving import ArrivalSpec
from fleetsim.kinds import (Duration, Model, Name, PositiveDuration, Reference, Sigma,
                                     SignedInteger, Weight, count, integer, number)

#: the most jobs a workload (or one of its classes) may hold; the run's event budget bounds
#: the number drawn further
MAX_JOBS = 10**7
#: the most GPUs one job may ask for (the cluster bounds it further)
MAX_JOB_GPUS = 10**7


def _fixed_duration(value: Any) -> Any:
    """``duration: 2h`` is shorthand for ``{distribution: fixed, value: 2h}``."""
    return value if isinstance(value, dict) else {"distribution": "fixed", "value": value}


def _fixed_size(value: Any) -> Any:
    """``gpus: 8`` is shorthand for ``{distribution: fixed, value: 8}``."""
    return value if isinstance(value, dict) else {"distribution": "fixed", "value": value}


class DurationDistribution(Model):
    """How long jobs compute without failures."""

    distribution: Literal["fixed", "exponential", "lognormal", "weibull", "empirical"]
    value: PositiveDuration | None = None  # fixed
    mean: PositiveDuration | None = None  # exponential, lognormal, weibull
    sigma: Sigma = 1.0  # lognormal: of the underlying normal
    shape: number(0.05, 100.0) = 1.0  # weibull (< 1: heavy-tailed)
    values: tuple[PositiveDuration, ...] | None = None  # empirical: observed durations
    weights: tuple[Weight, ...] | None = None  # empirical

    @model_validator(mode="after")
    def _parameters(self) -> "DurationDistribution":
        _needs(self, {"fixed": ("value",), "exponential": ("mean",), "lognormal": ("mean",),
                      "weibull": ("mean",), "empirical": ("values",)})
        return self


class SizeDistribution(Model):
    """How many GPUs jobs ask for. Sizes of a node or more are rounded to whole nodes, smaller
    ones up to a power of two (1, 2, 4, ... GPUs of one node)."""

    distribution: Literal["fixed", "lognormal", "empirical"]
    value: count(1, MAX_JOB_GPUS) | None = None  # fixed
    mean: number(1.0, MAX_JOB_GPUS) | None = None  # lognormal: mean GPUs (before rounding)
    sigma: Sigma = 1.0  # lognormal
    values: tuple[integer(1, MAX_JOB_GPUS), ...] | None = None  # empirical
    weights: tuple[Weight, ...] | None = None  # empirical

    @model_validator(mode="after")
    def _parameters(self) -> "SizeDistribution":
        _needs(self, {"fixed": ("value",), "lognormal": ("mean",), "empirical": ("values",)})
        return self


def _needs(spec: DurationDistribution | SizeDistribution,
           needed: dict[str, tuple[str, ...]]) -> None:
    missing = [key for key in needed[spec.distribution] if getattr(spec, key) is None]
    if missing:
        raise ValueError(f"distribution {spec.distribution!r} needs {', '.join(missing)}")
    given = {key for keys in needed.values() for key in keys
             if getattr(spec, key) is not None} - set(needed[spec.distribution])
    if given:
        raise ValueError(f"{', '.join(sorted(given))} does not apply to distribution "
                         f"{spec.distribution!r}")
    values, weights = getattr(spec, "values", None), getattr(spec, "weights", None)
    if weights is not None:
        if spec.distribution != "empirical":
            raise ValueError("weights apply to distribution 'empirical' only")
        if values is None or len(weights) != len(values) or not sum(weights) > 0:
            raise ValueError("weights need one non-negative number per value, not all zero")


class JobTemplate(TrainingJobFields):
    """How a workload's jobs run: a step time (default 10 s, an assumption that only sets the
    granularity of lost work) or a model, checkpoints, restart, elasticity."""

    @model_validator(mode="before")
    @classmethod
    def _default_step(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("step_time") is None and data.get("model") is None:
            return {**data, "step_time": "10s"}
        return data


class JobClass(Model):
    """A class of jobs arriving over time (``arrivals``) or the template of a trace's rows."""

    name: Name
    arrivals: ArrivalSpec | None = None  # poisson, gamma or diurnal; rates in jobs/time
    jobs: count(1, MAX_JOBS) | None = None  # stop this class after N jobs
    gpus: Annotated[SizeDistribution, BeforeValidator(_fixed_size)] = SizeDistribution(
        distribution="fixed", value=1)
    duration: Annotated[DurationDistribution, BeforeValidator(_fixed_duration)] | None = None
    priority: SignedInteger = 0
    teams: dict[Name, Weight] | None = None  # team mix (weights)
    #: user estimate / true duration
    estimate_factor: number(1 / 1000, 1000.0) = 1.0
    preemptible: bool = True
    deferrable: Duration | None = None  # carbon-aware slack of the class's jobs
    job: JobTemplate = JobTemplate()

    @model_validator(mode="after")
    def _arrivals(self) -> "JobClass":
        if self.arrivals is not None:
            if self.arrivals.process in ("trace", "closed"):
                raise ValueError("a job class's arrivals are poisson, gamma or diurnal (a "
                                 "trace of jobs is workload.trace)")
            if self.duration is None:
                raise ValueError("a class with arrivals needs a duration distribution "
                                 "(e.g. duration: {distribution: lognormal, mean: 2h})")
        if self.teams is not None and not sum(self.teams.values()) > 0:
            raise ValueError("teams needs at least one positive weight")
        return self


class WorkloadSpec(Model):
    """Jobs arriving over time: a trace, synthetic classes, or both."""

    trace: Reference | None = None  # CSV or Parquet, one row per job (relative to the scenario)
    classes: tuple[JobClass, ...] = ()
    defaults: JobTemplate = JobTemplate()  # how trace jobs without a matching class run
    jobs: count(1, MAX_JOBS) | None = None  # at most this many jobs in all
    #: arrivals and trace rows after this time are ignored (default: the scenario's horizon)
    until: PositiveDuration | None = None

    @model_validator(mode="after")
    def _something(self) -> "WorkloadSpec":
        if self.trace is None and not any(c.arrivals is not None for c in self.classes):
            raise ValueError("a workload needs a trace or at least one class with arrivals")
        names = [job_class.name for job_class in self.classes]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"duplicate class name {name!r}")
        return self


#: the columns of a workload trace and what they mean (docs/reference/scenario.md)
TRACE_COLUMNS = {
    "submit_s": "submission time, seconds from the start of the run (required)",
    "gpus": "GPUs the job asks for (required)",
    "duration_s": "failure-free compute time, seconds (this or steps)",
    "steps": "training steps (this or duration_s)",
    "name": "a unique job name (default: the class or 'job', then the row number)",
    "priority": "integer, higher first (default: the class's, else 0)",
    "team": "team or queue, for fair-share quotas (default: none)",
    "type": "the class whose job template the row uses (default: workload.defaults)",
    "estimate_s": "the user's runtime estimate, seconds (default: none; the scheduler "
                  "uses the job's failure-free time)",
}

__all__ = ["DurationDistribution", "JobClass", "JobTemplate", "SizeDistribution",
           "TRACE_COLUMNS", "WorkloadSpec"]
