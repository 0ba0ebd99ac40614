"""IT power per rack over a finished run, from the fleet's per-node log (``power.rack_nodes``).

Racks are runs of consecutive nodes: with ``N`` nodes per rack, nodes ``0..N-1`` are rack 0,
``N..2N-1`` rack 1, and so on; the last rack may be partial. A rack's IT power at each instant
is what the fleet's power (:func:`~fleetsim.power.energy.fleet_power`) counts for its GPUs:

* each job's GPUs on the rack (the fleet's ``node_log``) times the job's watts per held GPU
  (its phase's, capped while running, a serving job's mean), the same step function the
  fleet's power uses;
* the rack's other GPUs at ``idle``, and its down nodes' at ``down`` (the fleet's down
  intervals per node).

So the racks' power sums to the fleet's IT power at every instant (tests/power/test_racks.py
checks it). Like the fleet's, each rack's power is an exact step function computed with numpy
from the logs: no per-step events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fleetsim.power.energy import FleetPower, window_mean


@dataclass
class RackPower:
    """Every rack's IT power as a step function (``times[r]``, ``watts[r]``) over the run."""

    nodes_per_rack: int
    end_s: float
    times: list[np.ndarray]
    watts: list[np.ndarray]

    @property
    def count(self) -> int:
        return len(self.times)

    def at(self, grid: np.ndarray) -> np.ndarray:
        """Each rack's power at the grid times (one row per time, one column per rack)."""
        columns = [watts[np.clip(np.searchsorted(times, grid, side="right") - 1, 0, None)]
                   for times, watts in zip(self.times, self.watts)]
        return np.column_stack(columns) if columns else np.zeros((len(grid), 0))

    def columns(self, grid: np.ndarray, resolution_s: float) -> dict[str, np.ndarray]:
        """``time_s`` and ``rack<r>_w``: each rack's mean IT power over the window ending at
        each grid time (its value at time 0 in the first row), as the timeseries'
        ``power_it_w``."""
        columns = {"time_s": grid}
        for rack, (times, watts) in enumerate(zip(self.times, self.watts)):
            columns[f"rack{rack}_w"] = window_mean(times, watts, grid, resolution_s)
        return columns

    def summary(self) -> dict:
        """The summary's ``power.racks`` block: the highest power any rack reached (the
        exact step function, up to the end of the run), which rack and when (first)."""
        peak_w, peak_rack, peak_at = -math.inf, 0, 0.0
        for rack, (times, watts) in enumerate(zip(self.times, self.watts)):
            inside = times <= self.end_s
            index = int(np.argmax(watts[inside]))
            if watts[index] > peak_w:
                peak_w, peak_rack, peak_at = float(watts[index]), rack, float(times[index])
        return {"nodes_per_rack": self.nodes_per_rack, "count": self.count, "peak_w": peak_w,
                "peak_rack": peak_rack, "peak_at_s": peak_at}


def rack_power(power: FleetPower, node_log: list[tuple[float, int, str, int]],
               downtime: list[tuple[int, float, float]], nodes: int, gpus_per_node: int,
               nodes_per_rack: int) -> RackPower:
    """Every rack's IT power from the fleet's power (``power``: each job's watts per held
    GPU), its per-node log of held GPUs and its down intervals ``(node, down_s, up_s)``
    (``up_s`` infinite while still down)."""
    racks = -(-nodes // nodes_per_rack)
    idle_w, down_w = power.node.per_gpu("idle"), power.node.per_gpu("down")
    held = _held_changes(node_log, nodes_per_rack)
    parts = [_job_changes(power, held),
             # the unheld GPUs: all idle at 0; a held GPU is no longer idle
             (np.arange(racks), np.zeros(racks),
              _rack_sizes(nodes, nodes_per_rack, racks) * gpus_per_node * idle_w),
             (held.rack, held.time, -held.delta * idle_w)]
    if downtime:
        node, down_s, up_s = (np.array(column, dtype=np.float64) for column in zip(*downtime))
        back = np.isfinite(up_s)
        rack = (node // nodes_per_rack).astype(np.int64)
        change = gpus_per_node * (down_w - idle_w)
        parts += [(rack, down_s, np.full(len(rack), change)),
                  (rack[back], up_s[back], np.full(int(back.sum()), -change))]
    rack, time, delta = (np.concatenate(column) for column in zip(*parts))
    order = np.lexsort((time, rack))
    rack, time, delta = rack[order], time[order], delta[order]
    times, watts = [], []
    for start, stop in zip(*_bounds(rack, racks)):
        unique, first = np.unique(time[start:stop], return_index=True)
        times.append(unique)
        watts.append(np.cumsum(np.add.reduceat(delta[start:stop], first)))
    return RackPower(nodes_per_rack, power.end_s, times, watts)


@dataclass
class _Held:
    """Changes of the GPUs each holder has on each rack: one row per change, sorted by
    (holder, rack, time): ``count`` after the change, ``delta`` the change."""

    holder: np.ndarray  # names
    rack: np.ndarray
    time: np.ndarray
    count: np.ndarray
    delta: np.ndarray


def _held_changes(node_log: list[tuple[float, int, str, int]], nodes_per_rack: int) -> _Held:
    """The per-node log as changes per (holder, rack)."""
    if not node_log:
        empty = np.zeros(0)
        return _Held(np.zeros(0, dtype=object), empty.astype(np.int64), empty, empty, empty)
    time, node, names, gpus = zip(*node_log)
    time = np.array(time, dtype=np.float64)
    node = np.array(node, dtype=np.int64)
    gpus = np.array(gpus, dtype=np.float64)
    names, holder = np.unique(np.array(names, dtype=object), return_inverse=True)
    order = np.lexsort((np.arange(len(time)), node, holder))  # by (holder, node), in log order
    holder, node, time, gpus = holder[order], node[order], time[order], gpus[order]
    first = np.ones(len(time), dtype=bool)
    first[1:] = (holder[1:] != holder[:-1]) | (node[1:] != node[:-1])
    delta = np.where(first, gpus, np.diff(gpus, prepend=0.0))
    rack = node // nodes_per_rack
    order = np.lexsort((np.arange(len(time)), time, rack, holder))
    holder, rack, time, delta = holder[order], rack[order], time[order], delta[order]
    first = np.ones(len(time), dtype=bool)
    first[1:] = (holder[1:] != holder[:-1]) | (rack[1:] != rack[:-1])
    count = _segment_cumsum(delta, first)
    return _Held(names[holder], rack, time, count, delta)


def _job_changes(power: FleetPower,
                 held: _Held) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rack, time, change of watts) of every job's power on every rack it held GPUs on:
    its GPUs there times its watts per GPU, both step functions, merged per (job, rack).
    A holder that is no job (none today) draws nothing, as in the fleet's power."""
    racks, times, deltas = [np.zeros(0, dtype=np.int64)], [np.zeros(0)], [np.zeros(0)]
    pairs = np.ones(len(held.time), dtype=bool)
    pairs[1:] = (held.holder[1:] != held.holder[:-1]) | (held.rack[1:] != held.rack[:-1])
    starts = np.flatnonzero(pairs)
    stops = np.append(starts[1:], len(held.time))
    for start, stop in zip(starts.tolist(), stops.tolist()):
        job = power.jobs.get(held.holder[start])
        if job is None or job.gpu_watts is None:
            continue
        count_times, counts = held.time[start:stop], held.count[start:stop]
        # the job's watts per GPU change at job.times; its GPUs here at count_times
        moments = np.union1d(count_times, job.times)
        moments = moments[moments >= count_times[0]]
        gpus = counts[np.searchsorted(count_times, moments, side="right") - 1]
        per_gpu = job.gpu_watts[np.searchsorted(job.times, moments, side="right") - 1]
        watts = gpus * per_gpu
        racks.append(np.full(len(moments), held.rack[start]))
        times.append(moments)
        deltas.append(np.diff(watts, prepend=0.0))
    return np.concatenate(racks), np.concatenate(times), np.concatenate(deltas)


def _segment_cumsum(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Running sums of ``values`` restarting at every ``first`` row."""
    result = np.empty(len(values))
    starts = np.flatnonzero(first)
    for start, stop in zip(starts, np.append(starts[1:], len(values))):
        result[start:stop] = np.cumsum(values[start:stop])
    return result


def _rack_sizes(nodes: int, nodes_per_rack: int, racks: int) -> np.ndarray:
    """Nodes in each rack (the last one may be partial)."""
    sizes = np.full(racks, nodes_per_rack, dtype=np.float64)
    sizes[-1] = nodes - nodes_per_rack * (racks - 1)
    return sizes


def _bounds(rack: np.ndarray, racks: int) -> tuple[np.ndarray, np.ndarray]:
    """Each rack's row range in rows sorted by rack."""
    edges = np.searchsorted(rack, np.arange(racks + 1))
    return edges[:-1], edges[1:]
