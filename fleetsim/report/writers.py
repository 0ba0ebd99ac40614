"""Write a finished run's outputs: summary.json, events.csv, timeseries.csv and .parquet,
phases.csv, jobs.csv, trace.json (Chrome/Perfetto), plots/, with serving jobs
requests.csv, and with ``power.rack_nodes`` racks.csv and .parquet.

Outputs are deterministic (same scenario and seed, same bytes): keys keep their documented
order, floats are written by Python's shortest round-trip repr, nothing records the wall clock.
A directory that already holds any of these files is not overwritten unless asked.
"""

from __future__ import annotations

import json
from pathlib import Path

from fleetsim.errors import OutputError
from fleetsim.report.plots import plot_run
from fleetsim.report.trace import chrome_trace

OUTPUT_FILES = ("summary.json", "events.csv", "timeseries.csv", "timeseries.parquet",
                "phases.csv", "trace.json", "plots", "requests.csv", "jobs.csv", "racks.csv",
                "racks.parquet")


def check_writable(out_dir: str | Path, *, overwrite: bool) -> Path:
    """Refuse (with :class:`OutputError`) to replace earlier outputs unless ``overwrite``."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a directory")
    if not overwrite:
        existing = [name for name in OUTPUT_FILES if (out / name).exists()]
        if existing:
            raise OutputError(f"{out}: already holds {', '.join(existing)} from an earlier run "
                              "(choose another --out, or pass --force to overwrite)")
    return out


def summary_json(summary: dict) -> str:
    """The summary as JSON text (non-finite numbers become null)."""
    return json.dumps(_finite(summary), indent=2) + "\n"


def _finite(value):
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def write_run(result, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Write every output file of ``result`` into ``out_dir`` (created if needed)."""
    out = check_writable(out_dir, overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(summary_json(result.summary), encoding="utf-8")
    result.events.to_csv(out / "events.csv", index=False, lineterminator="\n")
    result.timeseries.to_csv(out / "timeseries.csv", index=False, lineterminator="\n")
    result.timeseries.to_parquet(out / "timeseries.parquet", index=False)
    result.phases.to_csv(out / "phases.csv", index=False, lineterminator="\n")
    result.jobs.to_csv(out / "jobs.csv", index=False, lineterminator="\n")
    trace = chrome_trace(result.summary, result.phases, result.events, result.downtime,
                         jobs=result.jobs, gpu_log=result.gpu_log, queue_log=result.queue_log)
    (out / "trace.json").write_text(json.dumps(trace, separators=(",", ":")) + "\n",
                                    encoding="utf-8")
    if result.racks is not None:
        result.racks.to_csv(out / "racks.csv", index=False, lineterminator="\n")
        result.racks.to_parquet(out / "racks.parquet", index=False)
    if len(result.requests):
        result.requests.to_csv(out / "requests.csv", index=False, lineterminator="\n")
    # an earlier run's optional outputs this run does not write (overwriting, asked to)
    # would read as this run's
    stale = ((("racks.csv", "racks.parquet") if result.racks is None else ())
             + (("requests.csv",) if not len(result.requests) else ()))
    for name in stale:
        (out / name).unlink(missing_ok=True)
    plot_run(result.summary, result.timeseries, result.events, out / "plots",
             result.requests if len(result.requests) else None)
    return out
