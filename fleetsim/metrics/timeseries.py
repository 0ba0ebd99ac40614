"""Fixed-resolution timeseries of the fleet's state and each job's cumulative goodput.

Sampled exactly from change logs (no per-step work): the fleet's node-state log gives GPUs
busy/down/spare/idle at each grid time (the state holding at that instant), each job's
productive log gives the productive time known at that instant. Cumulative goodput at ``t``
is productive(t) / (t - job start), empty before the job starts; windowed goodput is the
productive time made permanent in the window ending at ``t`` over its length.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from fleetsim import units
from fleetsim.metrics.slo import meets_slo

_RESOLUTIONS = (1.0, 10.0, units.MINUTE, 5 * units.MINUTE, 10 * units.MINUTE,
                30 * units.MINUTE, units.HOUR, 2 * units.HOUR, 6 * units.HOUR,
                12 * units.HOUR, units.DAY, units.WEEK)


def auto_resolution(end_s: float, max_rows: int = 1000) -> float:
    """The finest round resolution that keeps the series within ``max_rows`` rows."""
    for resolution in _RESOLUTIONS:
        if end_s / resolution <= max_rows:
            return resolution
    return math.ceil(end_s / max_rows / units.WEEK) * units.WEEK


def step_lookup(times: Sequence[float], values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Values of a right-continuous step function (changes at ``times``) on ``grid``."""
    index = np.searchsorted(np.asarray(times, dtype=np.float64), grid, side="right") - 1
    return values[np.clip(index, 0, None)]


def fleet_timeseries(state_log: list[tuple[float, int, int, int, int]], total_gpus: int,
                     jobs: dict[str, tuple[float | None, list]],
                     end_s: float, resolution_s: float) -> pd.DataFrame:
    """The timeseries table from the fleet's GPU-state log; ``jobs`` maps a name to (start
    time, productive log)."""
    grid = np.arange(0.0, end_s + resolution_s * 1e-9, resolution_s)
    log = np.asarray(state_log, dtype=np.float64)
    states = step_lookup(log[:, 0], log[:, 1:], grid)
    frame = pd.DataFrame({
        "time_s": grid,
        "gpus_busy": states[:, 0].astype(np.int64),
        "gpus_down": states[:, 1].astype(np.int64),
        "gpus_spare": states[:, 2].astype(np.int64),
        "gpus_idle": states[:, 3].astype(np.int64),
    })
    frame["utilization"] = frame["gpus_busy"] / total_gpus
    for name, (start, productive_log) in jobs.items():
        productive = np.asarray(productive_log, dtype=np.float64)
        done = step_lookup(productive[:, 0], productive[:, 1], grid)
        goodput = np.full(len(grid), np.nan)
        if start is not None:
            elapsed = grid - start
            running = elapsed > 0
            goodput[running] = done[running] / elapsed[running]
        frame[f"goodput.{name}"] = goodput
        window = np.full(len(grid), np.nan)
        window[1:] = np.diff(done) / resolution_s
        frame[f"goodput_window.{name}"] = window
    return frame


def state_seconds(state_log: list[tuple[float, int, int, int, int]],
                  end_s: float) -> dict[str, float]:
    """GPU-seconds busy, down, spare and idle over [0, end_s] (exact: the log is a step
    function)."""
    log = np.asarray(state_log, dtype=np.float64)
    log = log[log[:, 0] <= end_s]
    durations = np.diff(np.append(log[:, 0], end_s))
    totals = durations @ log[:, 1:]
    return dict(zip(("busy", "down", "spare", "idle"), (float(value) for value in totals)))


def busy_fraction(state_log: list[tuple[float, int, int, int, int]], total_gpus: int,
                  end_s: float) -> float:
    """Time-average fraction of GPUs held by jobs over [0, end_s]."""
    if end_s <= 0:
        return 0.0
    return state_seconds(state_log, end_s)["busy"] / (total_gpus * end_s)


def serving_timeseries(frame: pd.DataFrame, name: str, requests: dict[str, np.ndarray],
                       replica_log: list[tuple[float, int, str]], resolution_s: float,
                       slo: dict[str, float]) -> pd.DataFrame:
    """Add a serving job's columns: per window ending at each grid time, requests finished
    per second (all, and meeting the SLO), latency percentiles of those requests, and the
    replicas up at the grid time."""
    grid = frame["time_s"].to_numpy()
    finish = requests["finish_s"]
    done = ~np.isnan(finish)
    finish, arrival = finish[done], requests["arrival_s"][done]
    ttft = requests["first_token_s"][done] - arrival
    e2e = finish - arrival
    good = meets_slo({key: column[done] for key, column in requests.items()}, slo)
    # window k is (grid[k-1], grid[k]]; requests finishing in it
    window = np.searchsorted(grid, finish, side="left")
    inside = window < len(grid)
    counts = np.bincount(window[inside], minlength=len(grid)).astype(float)
    good_counts = np.bincount(window[inside], weights=good[inside].astype(float),
                              minlength=len(grid))
    columns = {
        f"throughput_rps.{name}": counts / resolution_s,
        f"goodput_rps.{name}": good_counts / resolution_s,
        f"ttft_p50_s.{name}": _window_percentile(window[inside], ttft[inside], 50, len(grid)),
        f"ttft_p99_s.{name}": _window_percentile(window[inside], ttft[inside], 99, len(grid)),
        f"e2e_p50_s.{name}": _window_percentile(window[inside], e2e[inside], 50, len(grid)),
        f"e2e_p99_s.{name}": _window_percentile(window[inside], e2e[inside], 99, len(grid)),
    }
    for key in columns:
        columns[key][0] = np.nan  # no window ends at time 0
    up = np.zeros(len(grid))
    if replica_log:
        log = np.array([(time_s, 1.0 if state == "up" else 0.0, index)
                        for time_s, index, state in replica_log])
        for index in np.unique(log[:, 2]):
            mine = log[log[:, 2] == index]
            states = step_lookup(mine[:, 0], mine[:, 1], grid)
            states[grid < mine[0, 0]] = 0.0
            up += states
    columns[f"replicas_up.{name}"] = up.astype(np.int64)
    return pd.concat([frame, pd.DataFrame(columns, index=frame.index)], axis=1)


def _window_percentile(window: np.ndarray, values: np.ndarray, q: float,
                       length: int) -> np.ndarray:
    """The ``q``-th percentile of ``values`` in each window (NaN where a window is empty)."""
    result = np.full(length, np.nan)
    if values.size == 0:
        return result
    order = np.argsort(window, kind="stable")
    window, values = window[order], values[order]
    bounds = np.flatnonzero(np.diff(window)) + 1
    for keys, chunk in zip(np.split(window, bounds), np.split(values, bounds)):
        result[keys[0]] = np.percentile(chunk, q)
    return result
