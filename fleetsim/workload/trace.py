"""Read a workload trace (CSV or Parquet, one row per job) and check every row.

Columns (:data:`fleetsim.scenario.workload.TRACE_COLUMNS`): ``submit_s`` and ``gpus`` are
required, and each row gives exactly one of ``duration_s`` (failure-free compute seconds)
and ``steps``; ``name``, ``priority``, ``team``, ``type`` and ``estimate_s`` are optional.
Other columns are ignored, so a converted public trace may keep its own.

A missing or unreadable file is a :class:`~fleetsim.errors.LocatedError` at the scenario's
``trace`` key. A bad row is a one-line :class:`~fleetsim.errors.ScenarioError` naming the
trace file, the row's line (a CSV's header is line 1, so row *i* is line *i + 2*; for
Parquet, the row number) and the column: a missing, non-numeric or non-finite value, a
negative time, a value over its key's range (times over 100y, steps over 10^12), a size that
is not a whole number of GPUs, a multiple of the node or more than the cluster, a ``type``
naming no class, a name over 128 characters. ``examples/convert_helios_trace.py`` turns a
Helios/AcmeTrace-style job table into this layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from fleetsim.csvlines import header_text, read_csv
from fleetsim.errors import LocatedError, ScenarioError
from fleetsim.units import shown
from fleetsim.scenario.models import MAX_STEPS
from fleetsim.kinds import MAX_COUNT, MAX_DURATION_S, MAX_NAME_LENGTH

REQUIRED = ("submit_s", "gpus")
#: the largest value of each numeric column (the ranges of the scenario keys they stand for)
LIMITS = {"submit_s": MAX_DURATION_S, "duration_s": MAX_DURATION_S,
          "estimate_s": MAX_DURATION_S, "steps": MAX_STEPS, "priority": MAX_COUNT}


def read_trace(path: Path, *, gpus_per_node: int, usable_gpus: int,
               classes: Iterable[str] = ()) -> pd.DataFrame:
    """The trace's jobs, checked, sorted by submission (stable), with the columns
    ``submit_s, gpus, duration_s, steps, name, priority, team, type, estimate_s`` (missing
    optional values as NaN or empty strings) and ``line`` (for errors later)."""
    file = str(path)
    if not path.is_file():  # located at the scenario's workload.trace by the caller
        raise LocatedError(f"trace file {file!r} not found", ("trace",))
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 (any reader failure is a bad file)
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else \
                type(exc).__name__
            raise LocatedError(f"{file} is not a readable Parquet trace ({reason})",
                               ("trace",)) from None
        lines, header = np.arange(len(frame)), None  # rows, counted from 0
    else:
        frame, lines = read_csv(path, skipinitialspace=True)
        header = 1
    missing = [column for column in REQUIRED if column not in frame.columns]
    if "duration_s" not in frame.columns and "steps" not in frame.columns:
        missing.append("duration_s or steps")
    if missing:
        raise ScenarioError(f"lacks column(s) {', '.join(missing)} (has: "
                            f"{header_text(frame)})", file=file, line=header)
    known = set(classes)

    def fail(row: int, column: str, message: str):
        return ScenarioError(message, file=file, line=int(lines[row]), key=column)

    def numbers(column: str, required: bool) -> np.ndarray:
        if column not in frame.columns:
            return np.full(len(frame), np.nan)
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        raw = frame[column]
        bad = np.flatnonzero(np.isnan(values) & raw.notna().to_numpy())
        if bad.size:
            raise fail(bad[0], column, f"not a number: {shown(raw.iloc[bad[0]])}")
        infinite = np.flatnonzero(np.isinf(values))
        if infinite.size:
            raise fail(infinite[0], column, "must be finite")
        if required:
            empty = np.flatnonzero(np.isnan(values))
            if empty.size:
                raise fail(empty[0], column, "missing value")
        limit = LIMITS.get(column)
        if limit is not None:
            _check(np.abs(values) > limit, fail, column,
                   lambda row: f"must be at most {limit:g} in size, got {values[row]:g}")
        return values

    submit = numbers("submit_s", True)
    gpus = numbers("gpus", True)
    duration = numbers("duration_s", False)
    steps = numbers("steps", False)
    priority = numbers("priority", False)
    estimate = numbers("estimate_s", False)
    _check(submit < 0, fail, "submit_s", lambda row: f"must be >= 0, got {submit[row]:g}")
    _check((gpus < 1) | (gpus != np.floor(gpus)), fail, "gpus",
           lambda row: f"must be a whole number >= 1, got {gpus[row]:g}")
    _check((gpus >= gpus_per_node) & (gpus % gpus_per_node != 0), fail, "gpus",
           lambda row: f"{gpus[row]:g} GPUs is not a multiple of the node size "
                       f"({gpus_per_node}); a job smaller than a node is allowed")
    _check(gpus > usable_gpus, fail, "gpus",
           lambda row: f"{gpus[row]:g} GPUs do not fit the cluster ({usable_gpus} usable)")
    both = ~np.isnan(duration) & ~np.isnan(steps)
    neither = np.isnan(duration) & np.isnan(steps)
    _check(both, fail, "duration_s", lambda row: "give duration_s or steps, not both")
    _check(neither, fail, "duration_s", lambda row: "missing: give duration_s or steps")
    _check(duration <= 0, fail, "duration_s",
           lambda row: f"must be > 0, got {duration[row]:g}")
    given = ~np.isnan(steps)
    _check(given & ((steps < 1) | (steps != np.floor(steps))), fail, "steps",
           lambda row: f"must be a whole number >= 1, got {steps[row]:g}")
    _check(~np.isnan(priority) & (priority != np.floor(priority)), fail, "priority",
           lambda row: f"must be an integer, got {priority[row]:g}")
    _check(estimate <= 0, fail, "estimate_s",
           lambda row: f"must be > 0, got {estimate[row]:g}")
    types = _strings(frame, "type")
    if known or "type" in frame.columns:
        unknown = np.flatnonzero([value != "" and value not in known for value in types])
        if unknown.size:
            raise fail(unknown[0], "type", f"names no workload class {types[unknown[0]]!r} "
                                           f"(classes: {', '.join(sorted(known)) or 'none'})")
    names = _strings(frame, "name")
    for column, texts in (("name", names), ("team", _strings(frame, "team"))):
        _check(np.array([len(text) > MAX_NAME_LENGTH for text in texts], dtype=bool), fail,
               column, lambda row: f"longer than {MAX_NAME_LENGTH} characters")
    seen: set[str] = set()
    for row, name in enumerate(names):
        if name:
            if name in seen:
                raise fail(row, "name", f"duplicate job name {name!r}")
            seen.add(name)
    table = pd.DataFrame({
        "submit_s": submit, "gpus": gpus.astype(np.int64), "duration_s": duration,
        "steps": steps, "name": names, "priority": np.nan_to_num(priority).astype(np.int64),
        "has_priority": ~np.isnan(priority), "team": _strings(frame, "team"), "type": types,
        "estimate_s": estimate, "line": lines})
    return table.sort_values("submit_s", kind="stable").reset_index(drop=True)


def _check(bad: np.ndarray, fail, column: str, message) -> None:
    rows = np.flatnonzero(bad)
    if rows.size:
        raise fail(int(rows[0]), column, message(int(rows[0])))


def _strings(frame: pd.DataFrame, column: str) -> list[str]:
    if column not in frame.columns:
        return [""] * len(frame)
    return ["" if pd.isna(value) else str(value).strip() for value in frame[column]]
