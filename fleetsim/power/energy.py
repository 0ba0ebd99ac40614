"""The fleet's power over a finished run and its energy by bucket, from the run's logs.

Every accelerator slot is, at each instant, in one state of :mod:`fleetsim.power.states`:

* held by a training job: by the job's phase: ``running`` at the job's step-average power
  (its compute fraction at ``compute``, the rest at ``stall``), ``checkpoint_stall``,
  ``detection`` and ``waiting_for_resources`` at ``stall``, ``restart`` at ``loading``, any
  other phase (held before the start or after the end) at ``idle``;
* held by a serving job: at the job's mean power per held GPU (its replicas' accelerator
  energy, computed by the serving job, plus the host's share at ``compute``);
* not held: ``idle`` (idle and hot-spare GPUs) or ``down`` (GPUs of failed nodes).

Each job's power is a step function (its held-GPU count from the fleet's ``holding_log``
times its phase's per-GPU watts); the fleet's IT power is their sum plus the unheld GPUs',
exact at event resolution (no per-step events: a training segment is one running interval).
Facility power is IT power times the PUE profile.

Energy buckets (joules): a training job's running energy is split like its GPU-seconds in
the goodput accounting: ``lost_work`` (computing thrown away, rolled back included),
``slowdown`` (the straggler, contention and elastic excess of kept work), ``productive`` (the
rest); its other phases give ``checkpoint``, ``restart``, ``stall`` (detection and waiting for
replacements) and ``idle``. The fleet adds ``serving``, unheld ``idle`` and ``down``. The
buckets add up to the total by construction; the total equals the integral of the power step
function (tests/power/test_energy.py checks both).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fleetsim.power.profile import StepProfile, integral, lookup, multiply, pue_profile
from fleetsim.power.states import NodePower, node_power

if TYPE_CHECKING:  # pragma: no cover
    from fleetsim.runner import Run

KWH = 3.6e6  # joules

#: training phases and the state code their GPUs are in (anything else: idle)
PHASES = ("running", "checkpoint_stall", "detection", "waiting_for_resources", "restart")
_IDLE_CODE = len(PHASES)

#: the held-GPU states the timeseries counts (``gpus_<state>``) and their phase codes
HELD_STATES = {"running": (0,), "stalled": (1, 2, 3), "loading": (4,), "serving": (6,)}

JOB_BUCKETS = ("productive", "lost_work", "slowdown", "checkpoint", "restart", "stall", "idle")
FLEET_BUCKETS = JOB_BUCKETS[:-1] + ("serving", "idle", "down")


@dataclass
class JobPower:
    """One job's IT power as a step function over the run, and its energy by bucket."""

    name: str
    times: np.ndarray
    watts: np.ndarray
    buckets_j: dict[str, float]
    #: training: share of a failure-free step spent computing (the rest waits)
    compute_fraction: float | None = None
    #: training: watts per held GPU while running; serving: mean watts per held GPU
    per_gpu_w: float = 0.0
    #: watts per held GPU at ``times`` (its phase's, capped while running): power per rack
    gpu_watts: np.ndarray | None = None

    @property
    def energy_j(self) -> float:
        return sum(self.buckets_j.values())


@dataclass
class FleetPower:
    """The fleet's IT power step function over ``[0, end_s]``, every job's, the PUE profile
    and the node's power per state."""

    node: NodePower
    pue: StepProfile
    end_s: float
    times: np.ndarray
    it_w: np.ndarray
    jobs: dict[str, JobPower]
    buckets_j: dict[str, float] = field(default_factory=dict)
    #: GPUs held in each power state (:data:`HELD_STATES`) as step functions (times, counts)
    held_states: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    #: the run was stopped (horizon, run limit) rather than ended by its jobs: the jobs'
    #: closing at ``end_s`` is no power change, so the swing ignores that instant
    stopped: bool = False

    # -- energy -------------------------------------------------------------------------------
    @property
    def energy_it_j(self) -> float:
        return sum(self.buckets_j.values())

    def facility_steps(self) -> tuple[np.ndarray, np.ndarray]:
        """Facility power (IT x PUE) as a step function."""
        return multiply(self.times, self.it_w, self.pue, self.end_s)

    def energy_facility_j(self, times: np.ndarray | None = None,
                          watts: np.ndarray | None = None,
                          it_j: float | None = None) -> float:
        """Facility energy of the fleet, or of the IT power step function given (whose
        integral is ``it_j``). A constant PUE multiplies the IT energy itself, so a PUE of 1
        gives facility = IT to the last bit; a varying one integrates IT power x PUE."""
        if times is None or watts is None:
            times, watts, it_j = self.times, self.it_w, self.energy_it_j
        if self.pue.period is None and len(self.pue.values) == 1 and it_j is not None:
            return it_j * float(self.pue.values[0])
        merged, product = multiply(times, watts, self.pue, self.end_s)
        return integral(merged, product, self.end_s)

    # -- swing --------------------------------------------------------------------------------
    def swing(self, window_s: float) -> dict[str, float | None]:
        """The largest drop and rise of IT power within any ``window_s`` (and when each
        ended), from the exact step function (:func:`largest_swing`)."""
        inside = self.times < self.end_s if self.stopped else self.times <= self.end_s
        return largest_swing(self.times[inside], self.it_w[inside], window_s)

    # -- timeseries ---------------------------------------------------------------------------
    def columns(self, grid: np.ndarray, resolution_s: float) -> dict[str, np.ndarray]:
        """``gpus_running``, ``gpus_stalled``, ``gpus_loading``, ``gpus_serving``: GPUs held
        in each power state at the grid time; ``power_it_w`` and ``power_facility_w``: mean
        power over the window ending at each grid time (the value at time 0 in the first
        row); ``pue`` at the grid time."""
        facility_times, facility_w = self.facility_steps()
        columns = {f"gpus_{state}": lookup(times, counts, grid).astype(np.int64)
                   for state, (times, counts) in self.held_states.items()}
        columns.update({
            "power_it_w": window_mean(self.times, self.it_w, grid, resolution_s),
            "power_facility_w": window_mean(facility_times, facility_w, grid, resolution_s),
            "pue": self.pue.at(grid),
        })
        return columns

    # -- summary ------------------------------------------------------------------------------
    def summary(self, window_s: float) -> dict:
        """The summary's fleet-wide ``power`` block (docs/guides/outputs.md)."""
        it = self.energy_it_j
        facility = self.energy_facility_j()
        facility_times, facility_w = self.facility_steps()
        inside = self.times <= self.end_s
        return {
            "energy_it_j": it,
            "energy_facility_j": facility,
            "energy_it_kwh": it / KWH,
            "energy_facility_kwh": facility / KWH,
            "pue": facility / it if it > 0 else None,
            "energy_buckets_j": dict(self.buckets_j),
            "power_it_mean_w": it / self.end_s if self.end_s > 0 else None,
            "power_it_peak_w": float(self.it_w[inside].max()),
            "power_facility_peak_w": float(facility_w[facility_times <= self.end_s].max()),
            "swing_window_s": window_s,
            **self.swing(window_s),
            "node_power_w": self.node.as_dict(),
        }

    def job_summary(self, name: str, steps: int | None = None,
                    tokens_per_step: float | None = None, wall_s: float | None = None,
                    requests: int | None = None, output_tokens: float | None = None) -> dict:
        """A job's ``energy`` block (docs/guides/outputs.md): IT energy (host included) per
        step and token for training, per finished request and output token for serving
        (``requests`` given)."""
        job = self.jobs[name]
        it = job.energy_j
        facility = self.energy_facility_j(job.times, job.watts, it)
        block = {"it_j": it, "facility_j": facility, "it_kwh": it / KWH,
                 "facility_kwh": facility / KWH, "buckets_j": dict(job.buckets_j),
                 "mean_power_w": it / wall_s if wall_s else None}
        if job.compute_fraction is not None:
            block["compute_fraction"] = job.compute_fraction
            block["running_power_per_gpu_w"] = job.per_gpu_w
            block["per_step_j"] = it / steps if steps else None
            block["per_token_j"] = (it / (steps * tokens_per_step)
                                    if steps and tokens_per_step else None)
        if requests is not None:
            block["per_request_j"] = it / requests if requests else None
            block["per_output_token_j"] = it / output_tokens if output_tokens else None
        return block


# -- building ---------------------------------------------------------------------------------
#: state codes of a held GPU: the training phases, then idle, then serving
_SERVING_CODE = _IDLE_CODE + 1
_CODES = _SERVING_CODE + 1


def fleet_power(run: "Run", end_s: float, stopped: bool = False) -> FleetPower:
    """The power and energy of ``run``, finished at ``end_s`` (``stopped``: by its horizon
    or run limit, not by its jobs ending). Under a power cap a running training job draws
    its capped power, which changes with its cap (:mod:`fleetsim.cluster.powercap`)."""
    from fleetsim.training.job import TrainingJob  # jobs sit above metrics-level code

    scenario = run.scenario
    spec = scenario.spec.power
    node = node_power(scenario.node, scenario.accelerator, spec.node)
    jobs = list(run.jobs)
    training = np.array([isinstance(job, TrainingJob) for job in jobs], dtype=bool)
    fractions: list[float | None] = [compute_fraction(job.costs.estimate) if is_training
                                     else None for job, is_training in zip(jobs, training)]
    table = _HeldTable.build(jobs, run.fleet.holding_log, TrainingJob, end_s,
                             _capped_running(run, jobs, fractions))
    watts = np.zeros((len(jobs), _CODES))  # per held GPU, by job and state code
    if training.any():
        fraction = np.array([f for f in fractions if f is not None])
        watts[training, :_SERVING_CODE] = _phase_watts(node, fraction)
    host_w = max(0.0, node.per_gpu("compute") - scenario.accelerator.power.busy)
    held_s = table.gpu_s.sum(axis=1)
    for index in np.flatnonzero(~training & (held_s > 0)):
        # the serving job's accelerator energy plus the host's share, per held GPU-second
        watts[index, _SERVING_CODE] = jobs[index].energy_j / held_s[index] + host_w
    row_per_gpu = watts[table.job, table.code]
    capped = (table.code == 0) & ~np.isnan(table.running_w)
    row_per_gpu[capped] = table.running_w[capped]
    row_w = table.gpus * row_per_gpu
    if capped.any():  # buckets at each job's mean running watts under its caps
        running_j = np.bincount(table.job, weights=row_w * table.duration * (table.code == 0),
                                minlength=len(jobs))
        ran = table.gpu_s[:, 0] > 0
        watts[ran, 0] = running_j[ran] / table.gpu_s[ran, 0]
    per_job = {job.name: _job_power(job, table.times[a:b], row_w[a:b], row_per_gpu[a:b],
                                    table.gpu_s[index], watts[index], fractions[index])
               for index, (job, (a, b)) in enumerate(zip(jobs, table.bounds()))}
    unheld_times, unheld_w, unheld_j = _unheld(run.fleet.state_log, node, end_s)
    # one pass sums the jobs' and the unheld GPUs' power, and the held GPUs per state
    first = np.ones(len(row_w), dtype=bool)
    first[1:] = table.job[1:] != table.job[:-1]
    held = [table.gpus * np.isin(table.code, codes) for codes in HELD_STATES.values()]
    changes = np.column_stack([np.where(first, column, np.diff(column, prepend=0.0))
                               for column in (row_w, *held)])
    unheld = np.zeros((len(unheld_times), changes.shape[1]))
    unheld[:, 0] = np.diff(unheld_w, prepend=0.0)
    times, sums = _sum_deltas(np.concatenate((table.times, unheld_times)),
                              np.concatenate((changes, unheld)))
    it_w = sums[:, 0]
    held_states = {state: (times, sums[:, column + 1])
                   for column, state in enumerate(HELD_STATES)}
    buckets = dict.fromkeys(FLEET_BUCKETS, 0.0)
    for job in per_job.values():
        for bucket, joules in job.buckets_j.items():
            buckets[bucket] += joules
    for bucket, joules in unheld_j.items():
        buckets[bucket] += joules
    return FleetPower(node, pue_profile(spec), end_s, times, it_w, per_job, buckets,
                      held_states, stopped)


def _job_power(job, times: np.ndarray, watts: np.ndarray, gpu_watts: np.ndarray,
               gpu_s: np.ndarray, per_gpu: np.ndarray, fraction: float | None) -> JobPower:
    """One job's power and buckets (``fraction`` None: a serving job)."""
    if fraction is None:
        serving = per_gpu[_SERVING_CODE]
        return JobPower(job.name, times, watts, {"serving": float(gpu_s.sum() * serving)},
                        None, float(serving), gpu_watts)
    return JobPower(job.name, times, watts, _buckets(job, gpu_s, per_gpu), fraction,
                    float(per_gpu[0]), gpu_watts)


def _phase_watts(node: NodePower, fraction: np.ndarray) -> np.ndarray:
    """Watts per held GPU of training jobs (one row per compute ``fraction``) in each phase
    code (running .. idle)."""
    stall = node.per_gpu("stall")
    columns = [node.running_per_gpu(fraction), *(np.full(len(fraction), stall),) * 3,
               np.full(len(fraction), node.per_gpu("loading")),
               np.full(len(fraction), node.per_gpu("idle"))]
    return np.column_stack(columns)


def _buckets(job, gpu_s: np.ndarray, watts: np.ndarray) -> dict[str, float]:
    """A training job's energy by bucket: its running GPU-seconds split like the goodput
    accounting's (lost, slowdown, the rest productive), the other phases as they are."""
    accounted = job.accounting.gpu_buckets
    lost = accounted["lost_work"]
    slowdown = (accounted["straggler_delay"] + accounted["contention"] + accounted["power_cap"]
                + max(0.0, accounted["waiting_for_resources"] - gpu_s[3]))
    running = watts[0]
    return {
        "productive": float((gpu_s[0] - lost - slowdown) * running),
        "lost_work": float(lost * running),
        "slowdown": float(slowdown * running),
        "checkpoint": float(gpu_s[1] * watts[1]),
        "restart": float(gpu_s[4] * watts[4]),
        "stall": float((gpu_s[2] + gpu_s[3]) * watts[2]),
        "idle": float(gpu_s[_IDLE_CODE] * watts[_IDLE_CODE]),
    }


@dataclass
class _HeldTable:
    """Every job's held GPUs and state code as one table of changes, sorted by job then
    time (one row per distinct instant of a job), with each row's duration: the jobs' step
    functions side by side, computed without a Python loop per change."""

    job: np.ndarray
    times: np.ndarray
    gpus: np.ndarray
    code: np.ndarray
    gpu_s: np.ndarray  # (jobs, codes): GPU-seconds held in each state
    duration: np.ndarray  # of each row
    running_w: np.ndarray  # running watts per GPU under a power cap (NaN: uncapped)

    @classmethod
    def build(cls, jobs: list, holding_log: list[tuple[float, str, int]], training_type,
              end_s: float,
              running: list[tuple[int, float, float]] = ()) -> "_HeldTable":
        """``running``: (job position, time, running watts per GPU) at each change of a
        job's power cap (NaN: uncapped)."""
        index = {job.name: position for position, job in enumerate(jobs)}
        # every job starts at time 0 holding nothing, idle (training) or serving
        job_ids = [np.arange(len(jobs)), np.arange(len(jobs))]
        times = [np.zeros(len(jobs)), np.zeros(len(jobs))]
        kinds = [np.zeros(len(jobs)), np.ones(len(jobs))]
        values = [np.zeros(len(jobs)),
                  np.array([_IDLE_CODE if isinstance(job, training_type) else _SERVING_CODE
                            for job in jobs], dtype=np.float64)]

        def add(rows: list[tuple], kind: float) -> None:
            """(job position, time, value) rows of one kind of change."""
            if rows:
                columns = np.array(rows, dtype=np.float64)
                job_ids.append(columns[:, 0].astype(np.int64))
                times.append(columns[:, 1])
                kinds.append(np.full(len(rows), kind))
                values.append(columns[:, 2])

        add([(index[name], time_s, gpus) for time_s, name, gpus in holding_log
             if name in index], 0.0)
        code_of = {phase: code for code, phase in enumerate(PHASES)}
        add([(position, time_s, code_of.get(phase, _IDLE_CODE))
             for position, job in enumerate(jobs) if isinstance(job, training_type)
             for time_s, phase in job.accounting.phase_log], 1.0)
        if running:  # a row of each job first (uncapped at 0), then its cap changes
            columns = np.array(running, dtype=np.float64)
            job_ids += [np.arange(len(jobs)), columns[:, 0].astype(np.int64)]
            times += [np.zeros(len(jobs)), columns[:, 1]]
            kinds += [np.full(len(jobs), 2.0), np.full(len(running), 2.0)]
            values += [np.full(len(jobs), np.nan), columns[:, 2]]
        job_id, time, kind, value = (np.concatenate(part) for part in
                                     (job_ids, times, kinds, values))
        order = np.lexsort((np.arange(len(time)), time, job_id))  # stable within an instant
        job_id, time, kind, value = job_id[order], time[order], kind[order], value[order]
        gpus = _forward_fill(value, kind == 0)
        code = _forward_fill(value, kind == 1).astype(np.int64)
        running_w = (_forward_fill(value, kind == 2) if running
                     else np.full(len(time), np.nan))
        last = np.ones(len(time), dtype=bool)  # the last row of each (job, instant)
        last[:-1] = (job_id[1:] != job_id[:-1]) | (time[1:] != time[:-1])
        job_id, time, gpus, code = job_id[last], time[last], gpus[last], code[last]
        running_w = running_w[last]
        following = np.append(time[1:], end_s)
        ends = np.ones(len(time), dtype=bool)
        ends[:-1] = job_id[1:] != job_id[:-1]
        following[ends] = end_s
        duration = np.clip(np.minimum(following, end_s) - time, 0.0, None)
        gpu_s = np.bincount(job_id * _CODES + code, weights=duration * gpus,
                            minlength=len(jobs) * _CODES).reshape(len(jobs), _CODES)
        return cls(job_id, time, gpus, code, gpu_s, duration, running_w)

    def bounds(self) -> list[tuple[int, int]]:
        """Each job's row range."""
        edges = np.searchsorted(self.job, np.arange(self.gpu_s.shape[0] + 1))
        return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def _capped_running(run: "Run", jobs: list,
                    fractions: list[float | None]) -> list[tuple[int, float, float]]:
    """(job position, time, running watts per GPU) at each change of a training job's power
    cap in ``run`` (NaN when uncapped); empty without a cap."""
    cap = run.factory.power_cap
    if cap is None:
        return []
    changes = []
    for position, (job, fraction) in enumerate(zip(jobs, fractions)):
        for time_s, cap_w in cap.caps.get(job.name, ()) if fraction is not None else ():
            watts = cap.running_per_gpu(fraction, cap_w) if math.isfinite(cap_w) else np.nan
            changes.append((position, time_s, watts))
    return changes


def _forward_fill(values: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Each row's latest ``values`` among the rows where ``given`` (a row of each job
    comes first, so nothing leaks between jobs)."""
    source = np.where(given, np.arange(len(values)), 0)
    return values[np.maximum.accumulate(source)]


def compute_fraction(estimate) -> float:
    """The share of a failure-free step spent computing (compute and optimizer kernels); 1
    for a job with an explicit step time (no breakdown)."""
    if estimate is None:
        return 1.0
    breakdown = estimate.breakdown
    total = sum(breakdown.values())
    busy = breakdown.get("compute", 0.0) + breakdown.get("optimizer", 0.0)
    return busy / total if total > 0 else 1.0


def _unheld(state_log: list[tuple[float, int, int, int, int]], node: NodePower,
            end_s: float) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Power of the GPUs no job holds: idle and spare at ``idle``, down at ``down``."""
    log = np.asarray(state_log, dtype=np.float64)
    times = log[:, 0]
    idle = (log[:, 3] + log[:, 4]) * node.per_gpu("idle")
    down = log[:, 2] * node.per_gpu("down")
    return times, idle + down, {"idle": integral(times, idle, end_s),
                                "down": integral(times, down, end_s)}


def _sum_deltas(times: np.ndarray, deltas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The step functions whose changes are ``deltas`` (a column per function, a row per
    change) at ``times`` (any order)."""
    order = np.argsort(times, kind="stable")
    times, deltas = times[order], deltas[order]
    unique, starts = np.unique(times, return_index=True)
    return unique, np.cumsum(np.add.reduceat(deltas, starts), axis=0)


def window_mean(times: np.ndarray, watts: np.ndarray, grid: np.ndarray,
                resolution_s: float) -> np.ndarray:
    """Mean of a step function over ``(g - resolution_s, g]`` at each grid time ``g`` (the
    value at ``g`` for the first row): differences of its exact running integral."""
    energy = np.concatenate(([0.0], np.cumsum(np.diff(times) * watts[:-1])))

    def running(at: np.ndarray) -> np.ndarray:
        index = np.clip(np.searchsorted(times, at, side="right") - 1, 0, None)
        return energy[index] + watts[index] * (at - times[index])

    result = (running(grid) - running(np.maximum(grid - resolution_s, 0.0))) / resolution_s
    if len(grid):
        result[0] = lookup(times, watts, grid[:1])[0]
    return result


def largest_swing(times: np.ndarray, watts: np.ndarray,
                  window_s: float) -> dict[str, float | None]:
    """The largest drop and rise of a step function between two instants at most
    ``window_s`` apart, and the time each completes.

    A value ``watts[i]`` is reachable from change ``j`` if it still held ``window_s`` before
    it: ``i >= k`` with ``k`` the last change at or before ``times[j] - window_s``. The drop
    ending at ``j`` is the maximum of ``watts[k..j]`` minus ``watts[j]`` (a rolling maximum
    over the changes in ``[times[j] - window_s, times[j]]``, plus ``watts[k]``)."""
    if len(times) < 2:
        return {"swing_drop_w": 0.0, "swing_drop_at_s": None,
                "swing_rise_w": 0.0, "swing_rise_at_s": None}
    series = pd.Series(watts, index=pd.to_datetime(times, unit="s"))
    window = pd.Timedelta(seconds=window_s)
    high = series.rolling(window, closed="both").max().to_numpy()
    low = series.rolling(window, closed="both").min().to_numpy()
    held = np.clip(np.searchsorted(times, times - window_s, side="right") - 1, 0, None)
    high = np.maximum(high, watts[held])
    low = np.minimum(low, watts[held])
    drops, rises = high - watts, watts - low
    drop_at, rise_at = int(np.argmax(drops)), int(np.argmax(rises))
    return {"swing_drop_w": float(drops[drop_at]),
            "swing_drop_at_s": float(times[drop_at]) if drops[drop_at] > 0 else None,
            "swing_rise_w": float(rises[rise_at]),
            "swing_rise_at_s": float(times[rise_at]) if rises[rise_at] > 0 else None}
