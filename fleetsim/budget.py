"""The event budget: refuse, before it runs, a scenario whose expected event count would take
hours (or memory it cannot have), naming the key that drives it.

Every loop of a run whose iteration count comes from the user's values is counted here, in
expectation, over the run's span (the horizon; without one, the run limit of
:mod:`fleetsim.runner`, ``RUN_LIMIT_FACTOR`` times the jobs' failure-free time, bounded from
below where a model's step time is not known yet):

* failures: each cause's units / MTBF x span (for Weibull and lognormal lifetimes, a
  renewal-theory bound that holds for heavy tails too), times the largest rate multiplier (bad
  nodes and false repairs thin candidates drawn at ``faults.bad_nodes.factor``);
* slow-node episodes: nodes / ``mtbs`` x span;
* a training job's segments (a checkpoint each): span / max(interval, step), at most its steps;
  and the steps of one segment, whose times are drawn at once (a workload's job: its longest
  expected one, the largest value of its duration distribution or ten means), checked alone;
* serving arrivals: the process's rate (a diurnal process's peak rate, its thinning draws
  candidates at the peak) x span, or ``requests``;
* a workload's arrivals: each class's rate x ``until`` (or its job limit), and the trace's rows;
* the timeseries: span / ``output.resolution`` rows;
* an autoscaler's decisions: span / ``interval``.

A term above :data:`EVENT_BUDGET` is an error on its key; so is a sum above it (named by its
largest term). The budget, 10^7 events, is 10 to 30 minutes of simulation at the rates of
benchmarks/BUDGET_RESULTS.md and a few hundred MB of numpy draws; the shipped scenarios stay
below 10^6 (docs/reference/scenario.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from fleetsim.scenario import LoadedScenario
from fleetsim.scenario.faults import FaultCause
from fleetsim.scenario.architecture import architecture
from fleetsim.scenario.models import TrainingJobFields, TrainingJobSpec
from fleetsim.scenario.serving import ArrivalSpec, ServingJobSpec
from fleetsim.scenario.workload import DurationDistribution, WorkloadSpec
from fleetsim.units import format_duration

#: the most events a run may expect (see the module docstring)
EVENT_BUDGET = 10_000_000
#: as :data:`fleetsim.runner.RUN_LIMIT_FACTOR` (not imported: the runner imports this layer)
RUN_LIMIT_FACTOR = 100.0
#: a bad node's failure multiplier without a bad_nodes section (a false repair leaves one)
DEFAULT_BAD_FACTOR = 5.0


@dataclass(frozen=True)
class Term:
    """Expected events of one kind, and the key that drives them."""

    location: tuple[Any, ...]
    events: float
    what: str
    #: False for draws held in memory at once (a segment's steps): checked on their own
    summed: bool = True


class BudgetError(Exception):
    """A term (or the sum) over the budget: ``location`` and a one-line message."""

    def __init__(self, location: tuple[Any, ...], message: str) -> None:
        super().__init__(message)
        self.location = location


def check_budget(loaded: LoadedScenario, units_of: Callable[[str], int],
                 trace_rows: int = 0) -> None:
    """Raise :class:`BudgetError` when ``loaded`` expects more than :data:`EVENT_BUDGET`
    events; ``units_of(scope)`` counts the failure units of a scope (gpu, node, leaf, job)."""
    span = run_span_s(loaded)
    terms = list(_terms(loaded, span, units_of, trace_rows))
    where = f"over {format_duration(span)}" if span is not None else "in the run"
    for term in terms:
        if not term.events <= EVENT_BUDGET:  # also catches nan
            raise BudgetError(term.location, _message(term.events, term.what,
                                                      where if term.summed else "",
                                                      not term.summed))
    summed = [term for term in terms if term.summed]
    total = sum(term.events for term in summed)
    if total > EVENT_BUDGET:
        largest = max(summed, key=lambda term: term.events)
        raise BudgetError(largest.location, _message(total, f"events ({largest.what} the "
                                                            "largest part)", where))


def _message(events: float, what: str, where: str, in_memory: bool = False) -> str:
    advice = ("checkpoints, a shorter interval or fewer steps" if in_memory
              else "a shorter horizon, or rarer events")
    return (f"expects ~{events:.2g} {what}{' ' + where if where else ''}, more than the "
            f"{EVENT_BUDGET:.0e} events a run may hold ({advice})")


def run_span_s(loaded: LoadedScenario) -> float | None:
    """The horizon, else a lower bound of the run limit (``None``: nothing bounds it)."""
    spec = loaded.spec
    if spec.horizon is not None:
        return spec.horizon
    total = 0.0
    for job in spec.jobs:
        if isinstance(job, TrainingJobSpec):
            total += _training_time_s(job, loaded)
        else:
            total += _serving_time_s(job)
    if spec.workload is not None:
        total = max(total, _workload_time_s(spec.workload))
    return RUN_LIMIT_FACTOR * total if total > 0 else None


def _workload_time_s(workload: WorkloadSpec) -> float:
    """When a workload's last job is expected to end: its arrivals' end (``until``, else the
    job limit over the rate) plus a job's mean duration."""
    total = workload.until or 0.0
    for job_class in workload.classes:
        arrivals = job_class.arrivals
        rate = _mean_rate(arrivals) if arrivals is not None else None
        limits = [limit for limit in (job_class.jobs, workload.jobs) if limit is not None]
        if rate is None or job_class.duration is None:
            continue
        end = workload.until if workload.until is not None else (
            min(limits) / rate if limits else 0.0)
        total = max(total, end + duration_mean(job_class.duration))
    return total


def _training_time_s(job: TrainingJobSpec, loaded: LoadedScenario) -> float:
    """The job's failure-free compute time, or a lower bound of it for a model's steps (its
    FLOPs at the accelerator's peak)."""
    if job.work is not None:
        return job.work
    assert job.steps is not None
    return job.steps * _step_lower_bound_s(job, loaded)


def _step_lower_bound_s(job: TrainingJobFields, loaded: LoadedScenario) -> float:
    """The step time, or for a model a lower bound: its FLOPs at the peak of all the job's
    GPUs (of all the cluster's, for a workload's template)."""
    if job.step_time is not None:
        return job.step_time
    assert job.model is not None and job.global_batch is not None
    model = architecture(job.model)
    count, unit = job.global_batch
    tokens = count if unit == "tokens" else count * model.seq_len
    peaks = loaded.accelerator.peak_flops
    peak = peaks.get(job.precision) or max(peaks.values())
    gpus = job.gpus if isinstance(job, TrainingJobSpec) else (
        loaded.spec.cluster.nodes * loaded.gpus_per_node)
    return model.model_flops_per_token() * tokens / (gpus * peak)


def _serving_time_s(job: ServingJobSpec) -> float:
    """The time the job's requests take to arrive (``requests`` over the mean rate)."""
    rate = _mean_rate(job.arrivals)
    if job.requests is None or rate is None:
        return 0.0
    return job.requests / rate


def _mean_rate(arrivals: ArrivalSpec) -> float | None:
    return arrivals.rate if arrivals.rate is not None else arrivals.mean_rate


def _peak_rate(arrivals: ArrivalSpec) -> float | None:
    """The rate candidates are drawn at: a diurnal process's peak, else the mean."""
    if arrivals.mean_rate is not None:
        ratio = arrivals.peak_to_trough
        return arrivals.mean_rate * (1 + (ratio - 1) / (ratio + 1))
    return arrivals.rate


def _terms(loaded: LoadedScenario, span: float | None, units_of: Callable[[str], int],
           trace_rows: int) -> Iterator[Term]:
    spec = loaded.spec
    if trace_rows:
        yield Term(("workload", "trace"), trace_rows, "trace rows")
    for index, job in enumerate(spec.jobs):
        where = ("jobs", index)
        if isinstance(job, ServingJobSpec):
            yield from _serving_terms(job, where, spec.horizon, span)
        else:
            yield from _training_terms(job, where, span, loaded)
    yield from _workload_terms(loaded, span)
    if span is None:
        return
    yield from _failure_terms(loaded, span, units_of)
    slow = spec.stragglers.slow_nodes
    if slow.mtbs is not None:
        yield Term(("stragglers", "slow_nodes", "mtbs"), spec.cluster.nodes * span / slow.mtbs,
                   "slow-node episodes")
    if spec.output.resolution is not None:
        yield Term(("output", "resolution"), span / spec.output.resolution, "timeseries rows")


def _training_terms(job: TrainingJobFields, where: tuple[Any, ...], span: float | None,
                    loaded: LoadedScenario, work_s: float | None = None) -> Iterator[Term]:
    """A training job's checkpoint segments (one per interval, or per step if longer, at most
    one per step) and the steps of one segment, whose times are drawn at once (numpy)."""
    step = _step_lower_bound_s(job, loaded)
    if isinstance(job, TrainingJobSpec):
        steps = job.steps if job.steps is not None else (job.work or 0.0) / step
    else:  # a workload's template: its longest expected job
        steps = (work_s or 0.0) / step
    interval = job.checkpoint.interval
    if interval is None or job.checkpoint.policy == "none":
        yield Term(where + ("steps",) if isinstance(job, TrainingJobSpec) else where,
                   steps, "steps drawn at once (no checkpoints: one segment)", summed=False)
        return
    yield Term(where + ("checkpoint", "interval"), min(steps, max(1.0, interval / step)),
               "steps drawn at once (one checkpoint interval)", summed=False)
    if span is not None:
        yield Term(where + ("checkpoint", "interval"), min(steps, span / max(interval, step)),
                   "checkpoint segments")


def _serving_terms(job: ServingJobSpec, where: tuple[Any, ...], horizon: float | None,
                   span: float | None) -> Iterator[Term]:
    """Requests; arrivals drawn over the horizon (without one, the arrivals are drawn until
    ``requests`` have come: the requests term)."""
    arrivals = job.arrivals
    peak = _peak_rate(arrivals)
    if job.requests is not None:
        yield Term(where + ("requests",), job.requests, "requests")
    if peak is not None and horizon is not None:
        key = "rate" if arrivals.rate is not None else "mean_rate"
        yield Term(where + ("arrivals", key), peak * horizon, "arrivals drawn")
    if job.autoscale is not None and span is not None:
        yield Term(where + ("autoscale", "interval"), span / job.autoscale.interval,
                   "autoscaler decisions")


def _workload_terms(loaded: LoadedScenario, span: float | None) -> Iterator[Term]:
    workload = loaded.spec.workload
    if workload is None:
        return
    until = workload.until if workload.until is not None else loaded.spec.horizon
    for index, job_class in enumerate(workload.classes):
        arrivals = job_class.arrivals
        if arrivals is None:
            continue
        where = ("workload", "classes", index)
        if job_class.duration is not None:
            yield from _training_terms(job_class.job, where + ("duration",), None, loaded,
                                       _longest_s(job_class.duration))
        limits = [limit for limit in (job_class.jobs, workload.jobs) if limit is not None]
        peak = _peak_rate(arrivals)
        if until is not None and peak is not None:
            key = "rate" if arrivals.rate is not None else "mean_rate"
            yield Term(where + ("arrivals", key), peak * until, "job arrivals drawn")
        elif limits:
            yield Term(where + ("jobs",), min(limits), "jobs")


def duration_mean(spec: DurationDistribution) -> float:
    """The mean of a duration distribution (fleetsim/workload/distributions.py; imported on
    use: the workload package loads pandas, which checking a scenario does not need)."""
    from fleetsim.workload.distributions import duration_mean as mean

    return mean(spec)


def _longest_s(spec: DurationDistribution) -> float:
    """A long job of a duration distribution: the largest value given, else ten means."""
    if spec.distribution == "fixed":
        return float(spec.value or 0.0)
    if spec.distribution == "empirical":
        return float(max(spec.values or (0.0,)))
    return 10 * duration_mean(spec)


def _renewals(cause: FaultCause, span: float, gpus_per_node: int) -> float:
    """Expected failures of one unit in ``span``: ``span / MTBF`` for exponential lifetimes;
    for ageing ones the renewal-theory bound ``2 span / E[min(L, span)] - 1`` (with L capped
    at the span, the renewals before it end within twice the span; Wald's identity), which stays
    right where the long-run rate is wrong: a heavy-tailed lifetime (lognormal with a large
    sigma, Weibull with a small shape) whose mean is the MTBF but whose median is a
    microsecond fails over and over before its first long life."""
    mtbf = cause.unit_mtbf_s(gpus_per_node)
    if cause.distribution == "exponential":
        return span / mtbf
    # E[min(L, T)] = integral of the survival function over [0, T], on a log grid
    grid = np.geomspace(span * 1e-30, span, 4000)
    if cause.distribution == "weibull":
        scale = mtbf / math.gamma(1 + 1 / cause.shape)
        survival = np.exp(-(grid / scale) ** cause.shape)
    else:
        mu = math.log(mtbf) - cause.sigma**2 / 2
        survival = 0.5 * _erfc((np.log(grid) - mu) / (cause.sigma * math.sqrt(2)))
    capped_mean = grid[0] + float(np.trapezoid(survival, grid))
    return max(span / mtbf, 2 * span / capped_mean - 1)


_erfc = np.vectorize(math.erfc)


def _failure_terms(loaded: LoadedScenario, span: float,
                   units_of: Callable[[str], int]) -> Iterator[Term]:
    faults = loaded.spec.faults
    bad = faults.bad_nodes
    repair = faults.repair
    false_repairs = not isinstance(repair, (int, float)) and (
        repair.false_repair_automatic > 0 or repair.false_repair_manual > 0)
    multiplier = 1.0
    if bad is not None and (bad.fraction > 0 or false_repairs):
        multiplier = bad.factor
    elif false_repairs:
        multiplier = DEFAULT_BAD_FACTOR
    explicit = {cause.name: index for index, cause in enumerate(faults.causes)}
    per_node = loaded.gpus_per_node
    for cause in faults.effective_causes():
        factor = 1.0 if cause.scope == "leaf" else multiplier
        rate = units_of(cause.scope) * _renewals(cause, span * factor, per_node) / span
        if cause.name in explicit:
            key = "mtbf" if cause.mtbf is not None and "mtbf" in faults.causes[
                explicit[cause.name]].model_fields_set else "per_1000_node_days"
            location = ("faults", "causes", explicit[cause.name], key)
        else:
            location = ("faults", "scale" if faults.scale != 1 else "preset")
        if multiplier > 1 and rate * span / multiplier <= EVENT_BUDGET < rate * span:
            location = ("faults", "bad_nodes", "factor") if bad is not None else location
        yield Term(location, rate * span, f"failures of {cause.name!r}")


__all__ = ["EVENT_BUDGET", "BudgetError", "check_budget", "run_span_s"]
