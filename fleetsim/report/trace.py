"""Chrome trace-event JSON of a run, for Perfetto (ui.perfetto.dev) and chrome://tracing.

Processes, top to bottom:

* "fleet": counter tracks over the whole run: ``GPUs`` allocated / idle / spare / down (they
  add up to the cluster's GPUs; from the fleet's GPU-state log), ``jobs`` running / waiting,
  ``queued GPUs`` (GPUs the waiting jobs ask for) and ``fragmented GPUs`` (from the
  scheduler's queue log), and ``other jobs`` running / queued (the workload jobs without a
  track of their own, from their phases). Each is the step function of its change log, a
  point wherever a value changes; a track with more than ``COUNTER_POINTS`` changes shows
  instead the values holding at that many evenly spaced times (as timeseries.csv does).
* "jobs": a track per job of ``jobs:`` and per serving replica (``JOB/replicaI``: serving,
  failed, down, loading), and a track per workload job, at most ``job_tracks`` of them: the
  jobs that held the most GPU-seconds (ties: the earlier submitted), shown in submission
  order. A track shows the job's phases as complete events (``queued`` from submission to
  start and after each preemption, ``compute``, ``checkpoint``, ``detection``, ``restart``,
  ``waiting``; compute whose work a failure or a kill later threw away is ``compute (lost)``,
  category ``lost``, from :func:`lost_compute`), its interruptions and preemptions as
  instants, and its *outcome* as a last instant (``completed`` at its end; ``running``,
  ``preempted`` or ``waiting`` at the end of the run) carrying its GPUs, team, class, queue
  wait, JCT and preemptions.
* "cluster": one track, "failures and repairs": failures, repairs and slow nodes as
  instants.
* "nodes", for clusters of at most ``node_tracks`` nodes: a track per node showing when it
  was down.

The cap keeps a 10,000-job run to a few MB that Perfetto opens at once. Times are simulated
microseconds. Format: the Trace Event Format (Google, "Trace Event Format" document): ``ph``
X (complete, ``ts`` + ``dur``), i (instant), C (counter: one track per ``args`` key, named
"NAME KEY" in Perfetto), M (metadata).
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

_JOBS, _CLUSTER, _NODES, _FLEET = 1, 2, 3, 4
_INSTANTS = {"interruption", "eviction", "sdc_rollback", "elastic", "rescale", "preempted",
             "memory_checkpoint_lost", "checkpoint_aborted", "replica_down", "replica_up"}
#: per-job tracks for workload jobs unless told otherwise (``chrome_trace(job_tracks=...)``)
JOB_TRACKS = 1000
#: counter points per counter track before it is sampled on an even grid instead
COUNTER_POINTS = 4000
_PROCESSES = ((_FLEET, "fleet", 0), (_JOBS, "jobs", 1), (_CLUSTER, "cluster", 2))
#: the name of a compute slice whose work a failure or a preemption later threw away
LOST = "compute (lost)"
#: the cluster process's one track
CLUSTER_TRACK = "failures and repairs"
#: phases whose start throws away the compute not yet in a checkpoint (an unplanned
#: interruption is followed by detection; a preemption by the queue)
_LOSING_PHASES = ("detection", "queued")
#: the events the replay of :func:`lost_compute` reads, and their order at one instant
#: (after compute ending, 0; before a losing phase starting, 5)
_MARKS = {"checkpoint_start": 1, "checkpoint": 2, "interruption": 3, "preempted": 3,
          "sdc_rollback": 4}
#: ``sdc_rollback`` events give the rolled-back seconds rounded to a second
_ROUNDING_S = 1.0


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 3)


def chrome_trace(summary: dict, phases: pd.DataFrame, events: pd.DataFrame,
                 downtime: pd.DataFrame, node_tracks: int = 64, *,
                 jobs: pd.DataFrame | None = None,
                 gpu_log: Sequence[tuple[float, int, int, int, int]] = (),
                 queue_log: Sequence[tuple[float, int, int, int, int]] = (),
                 job_tracks: int = JOB_TRACKS) -> dict:
    """The trace as a JSON-ready dict (``{"traceEvents": [...], ...}``).

    ``jobs`` is the jobs.csv table (its rows not in ``summary["jobs"]`` are the workload
    jobs, capped at ``job_tracks`` tracks); ``gpu_log`` the fleet's ``(time_s, busy, down,
    spare, idle)`` log and ``queue_log`` the scheduler's ``(time_s, waiting jobs, waiting
    GPUs, running jobs, fragmented GPUs)`` log. Without ``jobs`` every job in ``phases`` gets
    a track; without the logs there are no counters but ``other jobs``."""
    if job_tracks < 0:
        raise ValueError(f"job_tracks must be >= 0, got {job_tracks}")
    trace: list[dict] = []
    for pid, name, order in _PROCESSES:
        trace.append({"ph": "M", "pid": pid, "name": "process_name", "args": {"name": name}})
        trace.append({"ph": "M", "pid": pid, "name": "process_sort_index",
                      "args": {"sort_index": order}})
    trace.append({"ph": "M", "pid": _CLUSTER, "tid": 1, "name": "thread_name",
                  "args": {"name": CLUSTER_TRACK}})
    static = list(summary["jobs"])
    workload = jobs[~jobs["job"].isin(set(static))] if jobs is not None else None
    known = set(static) | (set(workload["job"]) if workload is not None else set())
    replicas = sorted(set(phases["job"]) - known, key=_natural)
    if workload is None:  # no jobs table: every job in the phases gets a track
        tracked_workload: list[str] = []
        others: set[str] = set()
    else:
        tracked_workload = _chosen(workload, job_tracks)
        others = set(workload["job"]) - set(tracked_workload)
    tids = {name: index for index, name in
            enumerate(static + replicas + tracked_workload, start=1)}
    for name, tid in tids.items():
        trace.append({"ph": "M", "pid": _JOBS, "tid": tid, "name": "thread_name",
                      "args": {"name": name}})
    mine = phases[phases["job"].isin(tids.keys())]
    lost = lost_compute(mine, events)
    for row, wasted in zip(mine.itertuples(index=False), lost.tolist()):
        name, cat = (LOST, "lost") if wasted else (row.phase, "phase")
        slice_ = {"ph": "X", "pid": _JOBS, "tid": tids[row.job], "name": name, "cat": cat,
                  "ts": _us(row.start_s), "dur": _us(row.end_s) - _us(row.start_s)}
        if wasted:
            slice_["cname"] = "terrible"  # Chrome's red; Perfetto colours by name
        trace.append(slice_)
    for row in events.itertuples(index=False):
        args = {key: value for key, value in (("cause", row.cause), ("unit", row.unit))
                if isinstance(value, str) and value}
        if row.kind in _INSTANTS and row.job in tids:
            trace.append({"ph": "i", "s": "t", "pid": _JOBS, "tid": tids[row.job],
                          "name": row.kind, "cat": "fault" if row.kind != "preempted"
                          else "scheduler", "ts": _us(row.time_s), "args": args})
        elif row.kind in ("failure", "repaired", "slow", "slow_cleared"):
            trace.append({"ph": "i", "s": "t", "pid": _CLUSTER, "tid": 1, "name": row.kind,
                          "cat": "fault", "ts": _us(row.time_s), "args": args})
    if workload is not None:
        trace.extend(_outcomes(jobs[jobs["job"].isin(tids.keys())], tids,
                               float(summary["sim_time_s"])))
    trace.extend(_gpu_counters(gpu_log))
    trace.extend(_queue_counters(queue_log))
    if workload is not None:
        trace.extend(_other_jobs(phases[phases["job"].isin(others)]))
    if summary["cluster"]["nodes"] <= node_tracks:
        trace.extend(_node_tracks(downtime))
    metadata = [event for event in trace if event["ph"] == "M"]
    timed = sorted((event for event in trace if event["ph"] != "M"),
                   key=lambda event: (event["pid"], event.get("tid", 0), event["ts"]))
    other_data = {"scenario": summary["scenario"], "seed": summary["seed"]}
    if workload is not None:
        other_data.update(workload_jobs=len(workload), job_tracks=len(tracked_workload))
    return {"traceEvents": metadata + timed, "displayTimeUnit": "ms", "otherData": other_data}


def lost_compute(phases: pd.DataFrame, events: pd.DataFrame) -> np.ndarray:
    """Whether each row of ``phases`` is compute whose work was later thrown away.

    Replays each job's timeline as its goodput accounting does: compute is pending until a
    checkpoint commits it (a ``checkpoint`` event keeps the compute that ended by its
    ``checkpoint_start``, matched first in first out, the start of a save's snapshot; a save
    with no start pending, a drain or a preemption's save, keeps it all), and is lost at an
    unplanned interruption (one not followed at once by a drain's save) or when the job
    enters ``detection`` or the queue (a kill preemption) with it still pending. Compute
    still pending at the end of the run is kept. Saves in flight at an interruption or a
    preemption never commit. Phases change only at these
    moments, so each compute slice is wholly kept or wholly lost. An ``sdc_rollback`` turns
    the last kept slices, as many seconds as it says, into lost ones. The lost slices add up
    to the job's ``lost_work`` bucket but for the step in progress at a planned stop (less
    than a step per drain)."""
    flags = np.zeros(len(phases), dtype=bool)
    if not len(phases):
        return flags
    marks = events[events["kind"].isin(tuple(_MARKS))]
    marks_by_job = {job: frame for job, frame in marks.groupby("job", sort=False)}
    rows = pd.DataFrame({"job": phases["job"].to_numpy(), "phase": phases["phase"].to_numpy(),
                         "start_s": phases["start_s"].to_numpy(dtype=float),
                         "end_s": phases["end_s"].to_numpy(dtype=float),
                         "row": np.arange(len(phases))})
    for job, frame in rows.groupby("job", sort=False):
        lost = _replay(frame, marks_by_job.get(job, marks.iloc[:0]))
        flags[frame["row"].to_numpy()[lost]] = True
    return flags


def _replay(phases: pd.DataFrame, marks: pd.DataFrame) -> np.ndarray:
    """:func:`lost_compute` for one job's phases (rows in time order) and its marks."""
    # the timeline: (time, order, what, index); at one instant compute ends first, then a
    # save starts, commits, a stop clears the saves in flight, a losing phase begins
    steps: list[tuple[float, int, str, int]] = []
    for index, (phase, start, end) in enumerate(zip(phases["phase"].tolist(),
                                                    phases["start_s"].tolist(),
                                                    phases["end_s"].tolist())):
        if phase == "compute":
            steps.append((end, 0, "computed", index))
        elif phase in _LOSING_PHASES:
            steps.append((start, 5, "lose", index))
    for position, (time_s, kind) in enumerate(zip(marks["time_s"].tolist(),
                                                   marks["kind"].tolist())):
        steps.append((float(time_s), _MARKS[kind], kind, position))
    steps.sort(key=lambda step: (step[0], step[1], step[3]))
    causes = marks["cause"].tolist()
    starting = dict(zip(phases["start_s"].tolist(), phases["phase"].tolist()))
    durations = (phases["end_s"] - phases["start_s"]).tolist()
    lost = np.zeros(len(phases), dtype=bool)
    pending: list[tuple[float, int]] = []  # (end, index) of compute not yet kept or lost
    kept: list[int] = []  # compute committed so far, oldest first
    saves: list[float] = []  # starts of the saves in flight, oldest first
    for time_s, _order, what, index in steps:
        if what == "computed":
            pending.append((time_s, index))
        elif what == "checkpoint_start":
            saves.append(time_s)
        elif what == "checkpoint":
            horizon = saves.pop(0) if saves else time_s
            kept += [index for end, index in pending if end <= horizon]
            pending = [(end, index) for end, index in pending if end > horizon]
        elif what in ("interruption", "preempted"):
            saves.clear()
            if what == "interruption" and starting.get(time_s) != "checkpoint":
                what = "lose"  # unplanned (a planned stop drains: a save starts at once)
        elif what == "sdc_rollback":  # kept work since the corruption began is lost too
            rolled = _rolled_back_s(causes[index])
            while kept and rolled > _ROUNDING_S:
                rolled -= durations[kept[-1]]
                lost[kept.pop()] = True
        if what == "lose":
            for _end, index in pending:
                lost[index] = True
            pending.clear()
    return lost


def _rolled_back_s(cause: object) -> float:
    """The seconds of kept work an ``sdc_rollback`` event says were lost (``"1803 s of kept
    work lost"``), 0 if it does not say."""
    try:
        return float(str(cause).split(" s ", 1)[0])
    except ValueError:
        return 0.0


def _chosen(workload: pd.DataFrame, limit: int) -> list[str]:
    """The ``limit`` workload jobs that held the most GPU-seconds (ties: submitted earlier),
    in submission order."""
    order = np.arange(len(workload))
    held = np.nan_to_num(workload["gpu_seconds"].to_numpy(dtype=float))
    ranked = np.lexsort((order, -held))[:limit]
    return [str(workload["job"].iloc[index]) for index in sorted(ranked)]


def _outcomes(tracked: pd.DataFrame, tids: dict[str, int], end_s: float) -> list[dict]:
    """A last instant on each tracked job's track: its outcome and its numbers."""
    out = []
    columns = ("job", "outcome", "end_s", "gpus", "team", "class", "queue_wait_s", "jct_s",
               "preemptions")
    for job, outcome, end, gpus, team, kind, wait, jct, preemptions in zip(
            *(tracked[column].tolist() for column in columns)):
        at = end if outcome == "completed" and not math.isnan(end) else end_s
        args = {"gpus": int(gpus), "team": team, "class": kind,
                "queue_wait_s": _number(wait), "jct_s": _number(jct),
                "preemptions": int(preemptions)}
        out.append({"ph": "i", "s": "t", "pid": _JOBS, "tid": tids[job], "name": outcome,
                    "cat": "outcome", "ts": _us(at), "args": args})
    return out


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _counter(name: str, keys: Sequence[str], log: Iterable[Sequence[float]],
             points: int = COUNTER_POINTS) -> list[dict]:
    """Counter events for ``log`` rows ``(time_s, value per key)``: one wherever a value
    changes; past ``points`` changes, the values holding at ``points`` evenly spaced times
    (and at the last change) instead."""
    times: list[float] = []
    rows: list[list[int]] = []
    for time_s, *values in log:
        values = [int(value) for value in values]
        if rows and values == rows[-1]:
            continue
        if times and times[-1] == time_s:
            rows[-1] = values
            continue
        times.append(float(time_s))
        rows.append(values)
    if len(times) > points:
        grid = np.linspace(times[0], times[-1], points)
        index = np.searchsorted(np.asarray(times), grid, side="right") - 1
        sampled_times = grid.tolist()
        sampled_rows = [rows[i] for i in index.tolist()]
        times, rows = [], []
        for time_s, values in zip(sampled_times, sampled_rows):
            if not rows or values != rows[-1]:
                times.append(time_s)
                rows.append(values)
    return [{"ph": "C", "pid": _FLEET, "name": name, "ts": _us(time_s),
             "args": dict(zip(keys, values))} for time_s, values in zip(times, rows)]


def _gpu_counters(gpu_log: Sequence[tuple[float, int, int, int, int]]) -> list[dict]:
    return _counter("GPUs", ("allocated", "idle", "spare", "down"),
                    ((time_s, busy, idle, spare, down)
                     for time_s, busy, down, spare, idle in gpu_log))


def _queue_counters(queue_log: Sequence[tuple[float, int, int, int, int]]) -> list[dict]:
    return (_counter("jobs", ("running", "waiting"),
                     ((time_s, running, waiting)
                      for time_s, waiting, _gpus, running, _fragmented in queue_log))
            + _counter("queued", ("GPUs",),
                       ((time_s, gpus) for time_s, _waiting, gpus, _r, _f in queue_log))
            + _counter("fragmented", ("GPUs",),
                       ((time_s, fragmented) for time_s, _w, _g, _r, fragmented in queue_log)))


def _other_jobs(phases: pd.DataFrame) -> list[dict]:
    """``other jobs`` running / queued over time, from the untracked jobs' phases (queued is
    the ``queued`` phase; running every other phase: the job has started and not ended)."""
    if not len(phases):
        return []
    queued = (phases["phase"] == "queued").to_numpy()
    starts = phases["start_s"].to_numpy(dtype=float)
    ends = phases["end_s"].to_numpy(dtype=float)
    times = np.concatenate([starts, ends])
    running_step = np.concatenate([np.where(queued, 0, 1), np.where(queued, 0, -1)])
    queued_step = np.concatenate([np.where(queued, 1, 0), np.where(queued, -1, 0)])
    frame = pd.DataFrame({"time_s": times, "running": running_step, "queued": queued_step})
    steps = frame.groupby("time_s", sort=True).sum()
    levels = steps.cumsum()
    log = list(zip(levels.index.tolist(), levels["running"].tolist(),
                   levels["queued"].tolist()))
    if log[0][0] > 0:
        log.insert(0, (0.0, 0, 0))
    return _counter("other jobs", ("running", "queued"), log)


def _natural(name: str) -> tuple:
    """Sort key putting ``chat/replica10`` after ``chat/replica9``."""
    stem = name.rstrip("0123456789")
    return (stem, int(name[len(stem):] or 0))


def _node_tracks(downtime: pd.DataFrame) -> list[dict]:
    """A track per node that was ever down, with its down intervals."""
    out: list[dict] = [{"ph": "M", "pid": _NODES, "name": "process_name",
                        "args": {"name": "nodes"}},
                       {"ph": "M", "pid": _NODES, "name": "process_sort_index",
                        "args": {"sort_index": 3}}]
    for node in sorted(set(downtime["node"])):
        out.append({"ph": "M", "pid": _NODES, "tid": int(node), "name": "thread_name",
                    "args": {"name": f"node{node}"}})
    for row in downtime.itertuples(index=False):
        out.append({"ph": "X", "pid": _NODES, "tid": int(row.node), "name": "down",
                    "cat": "node", "ts": _us(row.start_s),
                    "dur": _us(row.end_s) - _us(row.start_s)})
    return out


__all__ = ["JOB_TRACKS", "chrome_trace", "lost_compute"]
