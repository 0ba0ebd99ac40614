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

from fleetsim.power.profile import StepProfile, integral, lookup, merge, multiply, pue_profile
from fleetsim.power.states import NodePower, node_power

if TYPE_CHECKING:  # pragma: no cover
    from fleetsim.runner import Run

KWH = 3.6e6  # joules

#: training phases and the state code their GPUs are in (anything else: idle)
PHASES = ("running", "checkpoint_stall", "detection", "waiting_for_resources", "restart")
_IDLE_CODE = len(PHASES)

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

    # -- energy -------------------------------------------------------------------------------
    @property
    def energy_it_j(self) -> float:
        return sum(self.buckets_j.values())

    def facility_steps(self) -> tuple[np.ndarray, np.ndarray]:
        """Facility power (IT x PUE) as a step function."""
        return multiply(self.times, self.it_w, self.pue, self.end_s)

    def energy_facility_j(self, times: np.ndarray | None = None,
                          watts: np.ndarray | None = None) -> float:
        """Facility energy of the fleet, or of the IT power step function given."""
        if times is None or watts is None:
            times, watts = self.times, self.it_w
        merged, product = multiply(times, watts, self.pue, self.end_s)
        return integral(merged, product, self.end_s)

    # -- swing --------------------------------------------------------------------------------
    def swing(self, window_s: float) -> dict[str, float | None]:
        """The largest drop and rise of IT power within any ``window_s`` (and when each
        ended), from the exact step function (:func:`largest_swing`)."""
        return largest_swing(self.times, self.it_w, window_s)

    # -- timeseries ---------------------------------------------------------------------------
    def columns(self, grid: np.ndarray, resolution_s: float) -> dict[str, np.ndarray]:
        """``power_it_w`` and ``power_facility_w``: mean power over the window ending at each
        grid time (the value at time 0 in the first row); ``pue`` at the grid time."""
        facility_times, facility_w = self.facility_steps()
        return {
            "power_it_w": window_mean(self.times, self.it_w, grid, resolution_s),
            "power_facility_w": window_mean(facility_times, facility_w, grid, resolution_s),
            "pue": self.pue.at(grid),
        }

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
                    tokens_per_step: float | None = None, wall_s: float | None = None) -> dict:
        """A job's ``energy`` block (docs/guides/outputs.md)."""
        job = self.jobs[name]
        it = job.energy_j
        facility = self.energy_facility_j(job.times, job.watts)
        block = {"it_j": it, "facility_j": facility, "it_kwh": it / KWH,
                 "facility_kwh": facility / KWH, "buckets_j": dict(job.buckets_j),
                 "mean_power_w": it / wall_s if wall_s else None}
        if job.compute_fraction is not None:
            block["compute_fraction"] = job.compute_fraction
            block["running_power_per_gpu_w"] = job.per_gpu_w
            block["per_step_j"] = it / steps if steps else None
            block["per_token_j"] = (it / (steps * tokens_per_step)
                                    if steps and tokens_per_step else None)
        return block


# -- building ---------------------------------------------------------------------------------
def fleet_power(run: "Run", end_s: float) -> FleetPower:
    """The power and energy of ``run``, finished at ``end_s`` (under a power cap, a running
    job draws its capped power: :mod:`fleetsim.cluster.powercap`)."""
    from fleetsim.training.job import TrainingJob  # jobs sit above metrics-level code

    scenario = run.scenario
    spec = scenario.spec.power
    node = node_power(scenario.node, scenario.accelerator, spec.node)
    holdings = _holdings(run.fleet.holding_log)
    jobs: dict[str, JobPower] = {}
    for job in run.jobs:
        times, gpus = holdings.get(job.name, (np.zeros(1), np.zeros(1)))
        if isinstance(job, TrainingJob):
            jobs[job.name] = training_power(job, times, gpus, node, end_s,
                                            _capped_running(run, job))
        else:
            jobs[job.name] = serving_power(job.name, job.energy_j, times, gpus, node,
                                           scenario.accelerator.power.busy, end_s)
    unheld_times, unheld_w, unheld_j = _unheld(run.fleet.state_log, node, end_s)
    times, it_w = sum_steps([(job.times, job.watts) for job in jobs.values()]
                            + [(unheld_times, unheld_w)])
    buckets = dict.fromkeys(FLEET_BUCKETS, 0.0)
    for job in jobs.values():
        for bucket, joules in job.buckets_j.items():
            buckets[bucket] += joules
    for bucket, joules in unheld_j.items():
        buckets[bucket] += joules
    return FleetPower(node, pue_profile(spec), end_s, times, it_w, jobs, buckets)


def training_power(job, times: np.ndarray, gpus: np.ndarray, node: NodePower,
                   end_s: float,
                   running: tuple[np.ndarray, np.ndarray] | None = None) -> JobPower:
    """A training job's power step function and energy buckets, from its phase log and its
    held GPUs (``times``, ``gpus``); ``running``: its running watts per GPU over time when
    they change (a power cap), else constant."""
    fraction = compute_fraction(job.costs.estimate)
    running_w = node.running_per_gpu(fraction)
    if running is None:
        running = (np.zeros(1), np.array([running_w]))
    phase_w = np.array([running_w, node.per_gpu("stall"), node.per_gpu("stall"),
                        node.per_gpu("stall"), node.per_gpu("loading"), node.per_gpu("idle")])
    log = job.accounting.phase_log
    phase_times = np.array([time_s for time_s, _phase in log], dtype=np.float64)
    codes = np.array([PHASES.index(phase) if phase in PHASES else _IDLE_CODE
                      for _time, phase in log], dtype=np.float64)
    merged, held, code = merge(times, gpus, phase_times, codes)
    merged, held, code, running_now = _on_times(merged, held, code, running)
    code = code.astype(np.int64)
    per_gpu = np.where(code == 0, running_now, phase_w[code])
    watts = held * per_gpu
    durations = np.clip(np.diff(np.append(merged, end_s)), 0.0, None)
    gpu_s = np.bincount(code, weights=durations * held, minlength=len(phase_w))
    running_j = float(np.sum((durations * watts)[code == 0]))
    running_w = running_j / gpu_s[0] if gpu_s[0] > 0 else running_w  # mean while running
    accounted = job.accounting.gpu_buckets
    lost = accounted["lost_work"]
    slowdown = (accounted["straggler_delay"] + accounted["contention"]
                + accounted["power_cap"]
                + max(0.0, accounted["waiting_for_resources"] - gpu_s[3]))
    buckets = {
        "productive": (gpu_s[0] - lost - slowdown) * running_w,
        "lost_work": lost * running_w,
        "slowdown": slowdown * running_w,
        "checkpoint": gpu_s[1] * phase_w[1],
        "restart": gpu_s[4] * phase_w[4],
        "stall": (gpu_s[2] + gpu_s[3]) * phase_w[2],
        "idle": gpu_s[_IDLE_CODE] * phase_w[_IDLE_CODE],
    }
    return JobPower(job.name, merged, watts, buckets, fraction, running_w)


def _on_times(times: np.ndarray, held: np.ndarray, code: np.ndarray,
              running: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, ...]:
    """The job's held GPUs and phase codes, and its running watts per GPU, on the union of
    their change times."""
    running_times, running_w = running
    if len(running_times) == 1:
        return times, held, code, np.full(len(times), running_w[0])
    merged = np.union1d(times, running_times)
    return (merged, lookup(times, held, merged), lookup(times, code, merged),
            lookup(running_times, running_w, merged))


def _capped_running(run: "Run", job) -> tuple[np.ndarray, np.ndarray] | None:
    """A training job's running watts per GPU over time under the run's power cap (None
    without a cap)."""
    cap = run.factory.power_cap
    history = cap.caps.get(job.name) if cap is not None else None
    if not history:
        return None
    fraction = compute_fraction(job.costs.estimate)
    times = np.array([0.0] + [time_s for time_s, _cap in history])
    watts = np.array([math.inf] + [cap_w for _time, cap_w in history])
    return times, np.array([cap.running_per_gpu(fraction, cap_w) for cap_w in watts])


def serving_power(name: str, accelerator_j: float, times: np.ndarray, gpus: np.ndarray,
                  node: NodePower, accelerator_busy_w: float, end_s: float) -> JobPower:
    """A serving job at its mean power per held GPU: the replicas' accelerator energy
    (``accelerator_j``, from the serving job) plus the host's share while computing."""
    held_s = integral(times, gpus, end_s)
    host_w = max(0.0, node.per_gpu("compute") - accelerator_busy_w)
    energy = accelerator_j + host_w * held_s
    per_gpu = energy / held_s if held_s > 0 else 0.0
    return JobPower(name, times, gpus * per_gpu, {"serving": energy}, None, per_gpu)


def compute_fraction(estimate) -> float:
    """The share of a failure-free step spent computing (compute and optimizer kernels); 1
    for a job with an explicit step time (no breakdown)."""
    if estimate is None:
        return 1.0
    breakdown = estimate.breakdown
    total = sum(breakdown.values())
    busy = breakdown.get("compute", 0.0) + breakdown.get("optimizer", 0.0)
    return busy / total if total > 0 else 1.0


def _holdings(log: list[tuple[float, str, int]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each holder's GPU count as a step function (starting at 0 GPUs at time 0)."""
    per_holder: dict[str, list[tuple[float, int]]] = {}
    for time_s, name, gpus in log:
        per_holder.setdefault(name, [(0.0, 0)]).append((time_s, gpus))
    return {name: (np.array([t for t, _g in entries], dtype=np.float64),
                   np.array([g for _t, g in entries], dtype=np.float64))
            for name, entries in per_holder.items()}


def _unheld(state_log: list[tuple[float, int, int, int, int]], node: NodePower,
            end_s: float) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Power of the GPUs no job holds: idle and spare at ``idle``, down at ``down``."""
    log = np.asarray(state_log, dtype=np.float64)
    times = log[:, 0]
    idle = (log[:, 3] + log[:, 4]) * node.per_gpu("idle")
    down = log[:, 2] * node.per_gpu("down")
    return times, idle + down, {"idle": integral(times, idle, end_s),
                                "down": integral(times, down, end_s)}


def sum_steps(steps: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The sum of step functions (each 0 before its first change), on their merged times."""
    times = np.concatenate([t for t, _v in steps])
    deltas = np.concatenate([np.diff(v, prepend=0.0) for _t, v in steps])
    order = np.argsort(times, kind="stable")
    times, deltas = times[order], deltas[order]
    unique, starts = np.unique(times, return_index=True)
    return unique, np.cumsum(np.add.reduceat(deltas, starts))


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
