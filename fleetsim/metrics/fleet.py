"""Fleet-level results: one row per job (``jobs.csv``), the ``fleet`` summary, queue columns.

Read from finished jobs (duck-typed: any object with the attributes below) and the fleet's
and scheduler's logs:

* a job's *queue wait* is from its submission to its first start, its *JCT* (job completion
  time) from its submission to its completion;
* *makespan*: from the first submission to the last completion (``None`` while a job has not
  finished);
* *GPU utilization*: allocated = GPU-seconds held by jobs / (GPUs x wall time); productive =
  GPU-seconds of kept training work (the ``productive`` bucket, GPU-weighted) / the same;
* *fragmentation*: free GPUs that no waiting job can use (a partly free node too small for
  every waiting small job, whole nodes too few for every waiting multi-node job; zero when
  nothing waits), time-averaged;
* the fleet's GPU-seconds by bucket: every training job's GPU-weighted buckets, serving jobs'
  held GPU-seconds (``serving``), and the idle, spare and down GPUs; they add up to
  GPUs x wall time (``gpu_seconds.total``), the conservation law a test checks.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from fleetsim.metrics.accounting import BUCKETS, exact_split, to_seconds, to_units
from fleetsim.metrics.timeseries import step_lookup

#: jobs.csv columns, in order (docs/guides/outputs.md)
JOB_COLUMNS = ("job", "type", "class", "team", "priority", "gpus", "submit_s", "start_s",
               "end_s", "queue_wait_s", "jct_s", "outcome", "preemptions", "interruptions",
               "goodput", "productive_s", "lost_work_s", "gpu_seconds")

TEXT_COLUMNS = ("job", "type", "class", "team", "outcome")


def _outcome(job: Any) -> str:
    """``completed``; ``waiting`` (never started); ``preempted`` (back in the queue at the
    end); ``running``."""
    if job.completed:
        return "completed"
    if getattr(job, "last_start_s", None) is None:
        return "waiting"
    return "preempted" if getattr(job, "final_phase", None) == "queued" else "running"


def jobs_table(jobs: Sequence[Any], end_s: float,
               workload_class: Callable[[str], str] | None = None) -> pd.DataFrame:
    """One row per job (columns :data:`JOB_COLUMNS`)."""
    rows = []
    for job in jobs:
        accounting = getattr(job, "accounting", None)
        start = job.started_s
        end = getattr(job, "ended_s", None)
        if end is None and job.completed:
            end = end_s
        buckets = accounting.buckets if accounting is not None else {}
        wall = accounting.wall_s if accounting is not None else math.nan
        rows.append((
            job.name, job.type, workload_class(job.name) if workload_class else "",
            job.team or "", job.priority, job.gpus, job.submit_s,
            _nan(start), _nan(end),
            start - job.submit_s if start is not None else math.nan,
            end - job.submit_s if end is not None else math.nan,
            _outcome(job), getattr(job, "preemptions", 0),
            sum(job.interruptions.values()) if hasattr(job, "interruptions")
            else getattr(job, "replica_failures", 0),
            buckets.get("productive", math.nan) / wall if wall and wall > 0 else math.nan,
            buckets.get("productive", math.nan), buckets.get("lost_work", math.nan),
            _held_gpu_seconds(job),
        ))
    table = pd.DataFrame.from_records(rows, columns=list(JOB_COLUMNS))
    if not rows:  # typed empty columns: the summary's arithmetic holds for a run of no jobs
        table = table.astype({column: float for column in JOB_COLUMNS
                              if column not in TEXT_COLUMNS})
    return table


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _held_gpu_seconds(job: Any) -> float:
    accounting = getattr(job, "accounting", None)
    if accounting is not None:
        return to_seconds(accounting.held_gpu_units())
    return float(job.attained_gpu_s)


def _stats(values: np.ndarray) -> dict[str, float | None]:
    if values.size == 0:
        return {"mean": None, "p50": None, "p90": None, "p99": None}
    return {"mean": float(values.mean()), "p50": float(np.percentile(values, 50)),
            "p90": float(np.percentile(values, 90)), "p99": float(np.percentile(values, 99))}


def gpu_seconds(jobs: Iterable[Any], fleet: Any, end_s: float) -> dict[str, float]:
    """The fleet's GPU-seconds by bucket (module docstring); ``total`` is GPUs x wall.

    Summed exactly, in the accounting's integer units: the training jobs' buckets, the GPU
    states (busy, idle, spare, down) integrated exactly over the state log, and ``serving``
    = busy minus the training jobs' held GPU-time (serving jobs hold the rest of the busy
    GPUs). The log's four states add up to the cluster's GPUs at every change, so the parts
    add up to ``total`` as integers, and :func:`exact_split` keeps that exact in floats."""
    parts = dict.fromkeys(BUCKETS, 0)
    for job in jobs:
        accounting = getattr(job, "accounting", None)
        if accounting is not None:
            for bucket, units in accounting.gpu_units.items():
                parts[bucket] += units
    states = _state_units(fleet.state_log, end_s)
    parts["serving"] = states["busy"] - sum(parts.values())
    parts.update(idle=states["idle"], spare=states["spare"], down=states["down"])
    totals = exact_split(parts)
    totals["total"] = fleet.total_gpus * end_s
    return totals


def _state_units(state_log: Sequence[tuple[float, int, int, int, int]],
                 end_s: float) -> dict[str, int]:
    """GPU-units busy, down, spare and idle over [0, end_s] (the log is a step function)."""
    names = ("busy", "down", "spare", "idle")
    totals = dict.fromkeys(names, 0)
    rows = [row for row in state_log if row[0] <= end_s]
    ends = [to_units(row[0]) for row in rows[1:]] + [to_units(end_s)]
    for row, end in zip(rows, ends):
        duration = end - to_units(row[0])
        for name, count in zip(names, row[1:]):
            totals[name] += duration * int(count)
    return totals


def fleet_summary(jobs: Sequence[Any], table: pd.DataFrame, fleet: Any, scheduler: Any,
                  end_s: float) -> dict:
    """The ``fleet`` section of summary.json (docs/guides/outputs.md)."""
    outcomes = table["outcome"].value_counts()
    completed = table[table["outcome"] == "completed"]
    started = table[~np.isnan(table["start_s"].to_numpy())]
    buckets = gpu_seconds(jobs, fleet, end_s)
    total = buckets["total"]
    held = sum(value for key, value in buckets.items()
               if key not in ("idle", "spare", "down", "total"))
    queue = np.asarray(scheduler.queue_log, dtype=np.float64)
    all_done = len(completed) == len(table) and len(table) > 0
    return {
        "scheduler": {"policy": scheduler.spec.policy, "placement": scheduler.spec.placement,
                      "backfill": bool(scheduler.backfill)},
        "jobs": {"submitted": int(len(table)),
                 "completed": int(outcomes.get("completed", 0)),
                 "running": int(outcomes.get("running", 0)),
                 "waiting": int(outcomes.get("waiting", 0) + outcomes.get("preempted", 0))},
        "jct_s": _stats(completed["jct_s"].to_numpy()),
        "queue_wait_s": _stats(started["queue_wait_s"].to_numpy()),
        "makespan_s": (float(completed["end_s"].max() - table["submit_s"].min())
                       if all_done else None),
        "preemptions": int(table["preemptions"].sum()),
        "gpu_utilization": {"allocated": held / total if total > 0 else 0.0,
                            "productive": buckets["productive"] / total if total > 0 else 0.0},
        "gpu_seconds": buckets,
        "fragmented_gpus_mean": _time_average(queue, 4, end_s),
        "fragmentation": (_time_average(queue, 4, end_s) / fleet.usable_gpus
                          if fleet.usable_gpus else 0.0),
        "queue_length": {"mean": _time_average(queue, 1, end_s),
                         "max": int(queue[:, 1].max()) if len(queue) else 0},
        "teams": _teams(table),
    }


def _time_average(log: np.ndarray, column: int, end_s: float) -> float:
    """Time average over [0, end_s] of a step function logged as (time, ...) rows."""
    if end_s <= 0 or len(log) == 0:
        return 0.0
    rows = log[log[:, 0] <= end_s]
    durations = np.diff(np.append(rows[:, 0], end_s))
    return float(durations @ rows[:, column] / end_s)


def _teams(table: pd.DataFrame) -> dict[str, dict]:
    """Per team: jobs, GPU-seconds held and their share of all held, mean JCT."""
    teams = table[table["team"] != ""]
    if teams.empty:
        return {}
    held = float(table["gpu_seconds"].sum())
    result = {}
    for team, rows in teams.groupby("team", sort=True):
        done = rows[rows["outcome"] == "completed"]["jct_s"].to_numpy()
        result[str(team)] = {
            "jobs": int(len(rows)),
            "gpu_seconds": float(rows["gpu_seconds"].sum()),
            "share": float(rows["gpu_seconds"].sum()) / held if held > 0 else 0.0,
            "jct_mean_s": float(done.mean()) if done.size else None,
        }
    return result


def productive_column(frame: pd.DataFrame, jobs: Iterable[Any]) -> pd.DataFrame:
    """Add ``gpus_productive``: the mean number of GPUs doing work that was kept, per window
    ending at each grid time.

    A job's productive time is known at its commits (checkpoints, completion). The work kept
    at a commit, ``d`` seconds of the job's time, is laid on the ``d`` seconds before the
    commit at the job's GPUs, starting no earlier than where the previous commit's work ended
    (an asynchronous checkpoint commits work done before the previous commit landed), so a
    job never counts more than its GPUs and the column never more than the cluster. Work a
    lost checkpoint takes back (silent data corruption) is not removed from the column."""
    grid = frame["time_s"].to_numpy()
    begins, ends, rates = [], [], []
    for job in jobs:
        log = getattr(getattr(job, "accounting", None), "productive_log", None)
        if log is None or len(log) < 2:
            continue
        values = np.asarray(log, dtype=np.float64)
        kept = np.maximum(np.diff(values[:, 1]), 0.0)
        # the work of commit i ends at end_i = max(end_{i-1} + kept_i, commit_i) (from the
        # log's start; commits keeping nothing skipped): with K the cumulative kept work,
        # end_i = K_i + max(start, max over j <= i of commit_j - K_j), a running maximum
        laid = kept > 0
        total = np.cumsum(kept)
        ahead = np.where(laid, values[1:, 0] - total, -np.inf)
        end = total + np.maximum.accumulate(np.maximum(ahead, values[0, 0]))
        begins.append((end - kept)[laid])
        ends.append(end[laid])
        rates.append(np.full(int(laid.sum()), float(job.gpus)))
    column = np.zeros(len(grid))
    if begins and len(grid) > 1:
        # GPUs productive as a step function: +rate at each segment's start, -rate at its end;
        # its integral up to each grid time, differenced, is the GPU-seconds in each window
        times = np.concatenate(begins + ends)
        slopes = np.concatenate(rates + [-rate for rate in rates])
        order = np.argsort(times, kind="stable")
        times, slopes = times[order], np.cumsum(slopes[order])
        area = np.concatenate([[0.0], np.cumsum(slopes[:-1] * np.diff(times))])
        at = np.maximum(np.searchsorted(times, grid, side="right") - 1, 0)
        integral = np.where(grid >= times[0], area[at] + slopes[at] * (grid - times[at]), 0.0)
        column[1:] = np.maximum(np.diff(integral) / np.diff(grid), 0.0)
    column[0] = np.nan
    return frame.assign(gpus_productive=column)


def queue_columns(frame: pd.DataFrame, queue_log: list[tuple]) -> pd.DataFrame:
    """Add the scheduler's state at each grid time: jobs and GPUs waiting, jobs running, free
    GPUs no waiting job can use."""
    grid = frame["time_s"].to_numpy()
    log = np.asarray(queue_log, dtype=np.float64)
    values = step_lookup(log[:, 0], log[:, 1:], grid)
    columns = {"jobs_waiting": values[:, 0], "gpus_waiting": values[:, 1],
               "jobs_running": values[:, 2], "gpus_fragmented": values[:, 3]}
    return pd.concat([frame, pd.DataFrame({key: value.astype(np.int64)
                                           for key, value in columns.items()},
                                          index=frame.index)], axis=1)
