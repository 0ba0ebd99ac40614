"""Chrome trace-event JSON of a run, for Perfetto (ui.perfetto.dev) and chrome://tracing.

One process "jobs" with a track per training job showing its phases as complete events
(compute, checkpoint, detection, restart, waiting) and its interruptions as instants, and a
track per serving replica (``JOB/replicaI``: serving, failed, down, loading); one process
"cluster" with failures, repairs and evictions as instants; and, for clusters of at most
``node_tracks`` nodes, a process "nodes" with a track per node showing when it was down.
Times are simulated microseconds. Format: the Trace Event Format (Google, "Trace Event
Format" document): ``ph`` X (complete, ``ts`` + ``dur``), i (instant), M (metadata).
"""

from __future__ import annotations

import pandas as pd

_JOBS, _CLUSTER, _NODES = 1, 2, 3
_INSTANTS = {"interruption", "eviction", "sdc_rollback", "elastic", "rescale",
             "memory_checkpoint_lost", "checkpoint_aborted", "replica_down", "replica_up"}


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 3)


def chrome_trace(summary: dict, phases: pd.DataFrame, events: pd.DataFrame,
                 downtime: pd.DataFrame, node_tracks: int = 64) -> dict:
    """The trace as a JSON-ready dict (``{"traceEvents": [...], ...}``)."""
    trace: list[dict] = [
        {"ph": "M", "pid": _JOBS, "name": "process_name", "args": {"name": "jobs"}},
        {"ph": "M", "pid": _CLUSTER, "name": "process_name", "args": {"name": "cluster"}},
    ]
    tracks = list(summary["jobs"]) + sorted(set(phases["job"]) - set(summary["jobs"]),
                                            key=_natural)
    tids = {name: index for index, name in enumerate(tracks, start=1)}
    for name, tid in tids.items():
        trace.append({"ph": "M", "pid": _JOBS, "tid": tid, "name": "thread_name",
                      "args": {"name": name}})
    for row in phases.itertuples(index=False):
        trace.append({"ph": "X", "pid": _JOBS, "tid": tids[row.job], "name": row.phase,
                      "cat": "phase", "ts": _us(row.start_s),
                      "dur": _us(row.end_s) - _us(row.start_s)})
    for row in events.itertuples(index=False):
        args = {key: value for key, value in (("cause", row.cause), ("unit", row.unit))
                if isinstance(value, str) and value}
        if row.kind in _INSTANTS and row.job in tids:
            trace.append({"ph": "i", "s": "t", "pid": _JOBS, "tid": tids[row.job],
                          "name": row.kind, "cat": "fault", "ts": _us(row.time_s),
                          "args": args})
        elif row.kind in ("failure", "repaired", "slow", "slow_cleared"):
            trace.append({"ph": "i", "s": "t", "pid": _CLUSTER, "tid": 1, "name": row.kind,
                          "cat": "fault", "ts": _us(row.time_s), "args": args})
    if summary["cluster"]["nodes"] <= node_tracks:
        trace.extend(_node_tracks(downtime))
    metadata = [event for event in trace if event["ph"] == "M"]
    timed = sorted((event for event in trace if event["ph"] != "M"),
                   key=lambda event: (event["pid"], event.get("tid", 0), event["ts"]))
    return {"traceEvents": metadata + timed, "displayTimeUnit": "ms",
            "otherData": {"scenario": summary["scenario"], "seed": summary["seed"]}}


def _natural(name: str) -> tuple:
    """Sort key putting ``chat/replica10`` after ``chat/replica9``."""
    stem = name.rstrip("0123456789")
    return (stem, int(name[len(stem):] or 0))


def _node_tracks(downtime: pd.DataFrame) -> list[dict]:
    """A track per node that was ever down, with its down intervals."""
    out: list[dict] = [{"ph": "M", "pid": _NODES, "name": "process_name",
                        "args": {"name": "nodes"}}]
    for node in sorted(set(downtime["node"])):
        out.append({"ph": "M", "pid": _NODES, "tid": int(node), "name": "thread_name",
                    "args": {"name": f"node{node}"}})
    for row in downtime.itertuples(index=False):
        out.append({"ph": "X", "pid": _NODES, "tid": int(row.node), "name": "down",
                    "cat": "node", "ts": _us(row.start_s),
                    "dur": _us(row.end_s) - _us(row.start_s)})
    return out
