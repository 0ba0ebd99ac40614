"""Convert a public GPU-cluster job trace (Helios or Acme layout) into a fleetsim workload trace.

Input layouts (one row per job, times as date-time strings):

* **Helios** (SenseTime, SC '21, "Characterization and Prediction of Deep Learning Workloads
  in Large-Scale GPU Datacenters"; github.com/S-Lab-System-Group/HeliosData,
  ``data/<cluster>/cluster_log.csv``): ``job_id, user, vc, gpu_num, cpu_num, node_num, state,
  submit_time, start_time, end_time, duration, queue``; ``duration`` = end - start and
  ``queue`` = start - submit, in seconds; ``state`` one of COMPLETED, CANCELLED, FAILED,
  TIMEOUT, NODE_FAIL.
* **Acme** (Shanghai AI Lab, NSDI '24, "Characterization of Large Language Model Development
  in the Datacenter"; github.com/InternLM/AcmeTrace, ``data/job_trace/trace_seren.csv`` and
  ``trace_kalos.csv``): the same columns without ``vc``, plus ``type`` (Pretrain, SFT,
  Evaluation, Debug, Other), ``gpu_time`` and, in Kalos, ``fail_time`` and ``stop_time``;
  times carry a UTC offset.

Output: the columns of ``fleetsim.scenario.workload.TRACE_COLUMNS`` that the trace gives
(``submit_s, gpus, duration_s, name, team``) and, for reference, ``user``, ``state`` and
``trace_queue_s`` (the queue wait the real cluster had), which fleetsim ignores. Use it as
``workload: {trace: jobs.csv}``; sizes and durations become the jobs' requests, fleetsim's
scheduler decides when they start.

What the conversion does:

* keeps GPU jobs only (``gpu_num`` >= 1; Helios holds many CPU-only jobs);
* keeps the states given by ``--states`` (default: every terminal state). A COMPLETED job's
  ``duration`` is its whole work. A FAILED, CANCELLED, TIMEOUT or NODE_FAIL job is replayed as
  a job whose work is what it ran before it stopped: it holds its GPUs as long as it did on
  the real cluster (fleetsim has no user cancellations; its own failures come from
  ``faults:``, so ``--states COMPLETED`` leaves failures to the model). Jobs that never ran
  (no start time or a duration of 0 s) are dropped;
* ``submit_s`` is seconds since the first kept job's submission; rows are written in
  submission order;
* ``team`` is the virtual cluster (``vc``) by default (``--team user`` for Acme, which has no
  ``vc``); ``name`` is ``job<job_id>``;
* sizes of a node or more that are not whole nodes (e.g. 12 GPUs on 8-GPU nodes) are rounded
  up to whole nodes (``--partial-nodes round``, the nodes the job blocked) or dropped
  (``drop``); fleetsim refuses them otherwise. ``--max-gpus`` drops jobs larger than the
  simulated cluster, ``--limit`` keeps the first N jobs.

    python examples/convert_helios_trace.py data/Venus/cluster_log.csv -o venus.csv
    python examples/convert_helios_trace.py trace_seren.csv -o seren.csv --team user \\
        --states COMPLETED --max-gpus 1024
    python examples/convert_helios_trace.py        # converts the made-up sample in tests/data
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "data" / "helios_cluster_log.csv"
STATES = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL")
REQUIRED = ("job_id", "gpu_num", "state", "submit_time")


def convert(log: pd.DataFrame, *, gpus_per_node: int = 8, states: tuple[str, ...] = STATES,
            team: str = "vc", partial_nodes: str = "round", max_gpus: int | None = None,
            limit: int | None = None) -> tuple[pd.DataFrame, dict[str, int]]:
    """The workload trace of ``log`` (a Helios or Acme job table) and how many rows each
    filter dropped."""
    missing = [column for column in REQUIRED if column not in log.columns]
    if "duration" not in log.columns and not {"start_time", "end_time"} <= set(log.columns):
        missing.append("duration (or start_time and end_time)")
    if missing:
        raise ValueError(f"not a Helios/Acme job table: lacks {', '.join(missing)}")
    if partial_nodes not in ("round", "drop"):
        raise ValueError(f"partial_nodes must be 'round' or 'drop', got {partial_nodes!r}")
    dropped: dict[str, int] = {}

    def keep(frame: pd.DataFrame, mask, reason: str) -> pd.DataFrame:
        mask = np.asarray(mask, dtype=bool)
        dropped[reason] = int((~mask).sum())
        return frame[mask]

    frame = log.copy()
    frame["gpu_num"] = pd.to_numeric(frame["gpu_num"], errors="coerce").fillna(0)
    frame = keep(frame, frame["gpu_num"] >= 1, "cpu_only")
    frame = keep(frame, frame["state"].astype(str).str.upper().isin(
        [state.upper() for state in states]), "state")
    submit = pd.to_datetime(frame["submit_time"], utc=True, errors="coerce")
    if "duration" in frame.columns:
        duration = pd.to_numeric(frame["duration"], errors="coerce")
    else:
        duration = pd.Series(np.nan, index=frame.index)
    if {"start_time", "end_time"} <= set(frame.columns):
        start = pd.to_datetime(frame["start_time"], utc=True, errors="coerce")
        end = pd.to_datetime(frame["end_time"], utc=True, errors="coerce")
        duration = duration.fillna((end - start).dt.total_seconds())
        ran = start.notna()
    else:
        ran = pd.Series(True, index=frame.index)
    frame = frame.assign(_submit=submit, _duration=duration)
    frame = keep(frame, submit.notna(), "no_submit_time")
    frame = keep(frame, ran[frame.index] & (frame["_duration"] > 0), "never_ran")
    gpus = frame["gpu_num"].astype(np.int64)
    partial = (gpus >= gpus_per_node) & (gpus % gpus_per_node != 0)
    if partial_nodes == "drop":
        frame = keep(frame, ~partial, "partial_nodes")
        gpus = gpus[frame.index]
    else:
        dropped["partial_nodes"] = 0
        gpus = gpus.where(~partial, -(-gpus // gpus_per_node) * gpus_per_node)
    frame = frame.assign(_gpus=gpus)
    if max_gpus is not None:
        frame = keep(frame, frame["_gpus"] <= max_gpus, "too_large")
    frame = frame.sort_values("_submit", kind="stable")
    if limit is not None:
        dropped["limit"] = max(0, len(frame) - limit)
        frame = frame.iloc[:limit]
    first = frame["_submit"].min() if len(frame) else None
    out = pd.DataFrame({
        "submit_s": ((frame["_submit"] - first).dt.total_seconds() if len(frame)
                     else pd.Series(dtype=float)),
        "gpus": frame["_gpus"].astype(np.int64),
        "duration_s": frame["_duration"].astype(float),
        "name": "job" + frame["job_id"].astype(str),
        "team": frame[team].astype(str) if team in frame.columns else "",
        "user": frame["user"].astype(str) if "user" in frame.columns else "",
        "state": frame["state"].astype(str).str.upper(),
        "trace_queue_s": (pd.to_numeric(frame["queue"], errors="coerce")
                          if "queue" in frame.columns else np.nan),
    })
    return out.reset_index(drop=True), dropped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", nargs="?", default=str(SAMPLE),
                        help="cluster_log.csv (Helios) or trace_*.csv (Acme); default: the "
                             "made-up sample in tests/data")
    parser.add_argument("-o", "--output", help="the workload trace to write (default: stdout)")
    parser.add_argument("--gpus-per-node", type=int, default=8)
    parser.add_argument("--states", nargs="+", default=list(STATES), metavar="STATE",
                        help="terminal states to keep (default: all of them)")
    parser.add_argument("--team", default="vc", help="the column that becomes team "
                                                     "(default vc; Acme: user)")
    parser.add_argument("--partial-nodes", choices=("round", "drop"), default="round")
    parser.add_argument("--max-gpus", type=int, help="drop jobs larger than this")
    parser.add_argument("--limit", type=int, help="keep the first N jobs")
    args = parser.parse_args(argv)
    try:
        log = pd.read_csv(args.log, skipinitialspace=True)
        trace, dropped = convert(log, gpus_per_node=args.gpus_per_node,
                                 states=tuple(args.states), team=args.team,
                                 partial_nodes=args.partial_nodes, max_gpus=args.max_gpus,
                                 limit=args.limit)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        print(f"convert_helios_trace: {args.log}: {exc}", file=sys.stderr)
        return 2
    text = trace.to_csv(index=False, lineterminator="\n")
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    reasons = ", ".join(f"{count} {reason}" for reason, count in dropped.items() if count)
    print(f"{len(trace)} GPU jobs of {len(log)} rows (dropped: {reasons or 'none'})",
          file=sys.stderr if not args.output else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
