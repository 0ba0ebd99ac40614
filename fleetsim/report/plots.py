"""Plots of a finished run (matplotlib, Agg backend).

Training jobs: ``goodput.png`` (cumulative goodput on an axis zoomed to the data, with the
interruptions as a rug of ticks; interruptions per time bin; GPUs down, spare and idle) and
``badput.png`` (the loss buckets only, each labelled with its share of the wall time). Serving
jobs: ``serving.png`` (throughput, SLO goodput, p99 latency with the TTFT SLO, and replicas
up over time, replica failures as ticks) and ``latency_cdf.png`` (CDFs of TTFT, TPOT and
end-to-end latency per job, with the SLOs). A fleet of several jobs: ``fleet.png`` (GPUs
allocated and productive, and the queue, over time). Every time axis is in the unit the run's
span reads best in (:func:`time_unit`: s, min, h or d).

Reads only finished results (the summary, the timeseries, events and requests tables), so
``fleetsim report DIR`` redraws them from the files a run wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from fleetsim.metrics.accounting import BUCKETS
from fleetsim.units import time_unit
from fleetsim.report.power_plot import plot_power

HOUR = 3600.0
DAY = 86400.0
#: the first share of a run left out when zooming the goodput axis: cumulative goodput is
#: the ratio of few seconds there (0 before the first checkpoint commits)
SETTLING = 0.05
#: height of the interruption rug, as a share of the goodput axis
RUG = 0.06
#: bins of the interruption histogram
HISTOGRAM_BINS = 50
COLORS = {"productive": "#2ca02c", "checkpoint_stall": "#1f77b4", "lost_work": "#d62728",
          "detection": "#ff7f0e", "restart": "#9467bd", "waiting_for_resources": "#8c564b",
          "straggler_delay": "#e377c2", "queued": "#7f7f7f", "contention": "#bcbd22",
          "power_cap": "#17becf"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


#: every plot a run may write (the ones a run does not write are removed from its folder)
PLOT_FILES = ("fleet.png", "goodput.png", "badput.png", "serving.png", "latency_cdf.png",
              "power.png")


def plot_run(summary: dict, timeseries: pd.DataFrame, events: pd.DataFrame,
             out_dir: str | Path, requests: pd.DataFrame | None = None) -> list[Path]:
    """Write the run's plots into ``out_dir`` (see the module docstring); returns their
    paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    training = [name for name, job in summary["jobs"].items()
                if job.get("type", "training") == "training"]
    serving = [name for name, job in summary["jobs"].items() if job.get("type") == "serving"]
    paths = []
    if summary.get("fleet", {}).get("jobs", {}).get("submitted", 0) > 1:
        paths.append(_fleet(summary, timeseries, out / "fleet.png"))
    if training:
        paths += [_save(goodput_figure(summary, training, timeseries, events),
                        out / "goodput.png"),
                  _save(badput_figure(summary, training), out / "badput.png")]
    if serving:
        paths.append(_save(serving_figure(summary, serving, timeseries, events),
                           out / "serving.png"))
        if requests is not None:
            paths.append(_latency_cdf(summary, serving, requests, out / "latency_cdf.png"))
    power = plot_power(summary, timeseries, out / "power.png")  # fleetsim/report/power_plot.py
    paths += [power] if power is not None else []
    written = {path.name for path in paths}
    for name in sorted(set(PLOT_FILES) - written):  # an earlier run's, overwritten
        (out / name).unlink(missing_ok=True)
    return paths


def serving_figure(summary: dict, names: list[str], timeseries: pd.DataFrame,
                   events: pd.DataFrame):
    """Throughput and SLO goodput, p99 latencies with each job's TTFT SLO as a line, and
    replicas up over time; replica failures as ticks along the time axis."""
    plt = _pyplot()
    figure, (top, middle, bottom) = plt.subplots(3, 1, figsize=(9, 7.5), sharex=True,
                                                 height_ratios=(2, 1.3, 1))
    scale, unit = _time_unit(timeseries)
    x = timeseries["time_s"] / scale
    for name in names:
        line, = top.plot(x, timeseries[f"throughput_rps.{name}"], label=f"{name} throughput")
        if summary["jobs"][name].get("slo"):
            top.plot(x, timeseries[f"goodput_rps.{name}"], linestyle="--",
                     color=line.get_color(), label=f"{name} meeting SLO")
        middle.plot(x, timeseries[f"e2e_p99_s.{name}"], color=line.get_color(),
                    label=f"{name} e2e p99")
        middle.plot(x, timeseries[f"ttft_p99_s.{name}"], color=line.get_color(),
                    linestyle=":", label=f"{name} TTFT p99")
        ttft_slo = (summary["jobs"][name].get("slo") or {}).get("ttft")
        if ttft_slo:
            middle.axhline(ttft_slo, color=line.get_color(), linestyle="-.", linewidth=1.0,
                           alpha=0.8, label=f"{name} TTFT SLO ({ttft_slo:g} s)")
        bottom.step(x, timeseries[f"replicas_up.{name}"], where="post", color=line.get_color(),
                    label=name)
        downs = events.loc[(events["kind"] == "replica_down") & (events["job"] == name),
                           "time_s"].to_numpy(dtype=float)
        for axes in (top, middle, bottom):
            axes.vlines(downs / scale, 0.0, 0.06, transform=axes.get_xaxis_transform(),
                        color="#d62728", linewidth=0.8)
    top.set_ylabel("requests / s")
    top.set_title(f"{summary['scenario']} (seed {summary['seed']}): serving; red ticks at "
                  "the bottom are replica failures", fontsize=10)
    top.legend(loc="lower right", fontsize="small")
    middle.set_ylabel("latency (s)")
    middle.set_yscale("log")
    middle.legend(loc="upper right", fontsize="small")
    bottom.set_ylabel("replicas up")
    bottom.set_xlabel(f"simulated time ({unit})")
    bottom.set_ylim(bottom=0)
    for axes in (top, middle, bottom):
        axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


#: (seconds per unit, name) from the longest span that still reads well in the unit
def _time_unit(timeseries: pd.DataFrame) -> tuple[float, str]:
    """:func:`time_unit` of the run's time axis."""
    return time_unit(float(timeseries["time_s"].max()) if len(timeseries) else 0.0)


def zoomed_limits(values: Iterable[float], margin: float = 0.15,
                  floor: float = 0.0, ceiling: float = 1.0) -> tuple[float, float]:
    """y limits enclosing ``values`` (NaNs ignored) with ``margin`` of their range on each side
    (at least 0.005, so a flat line is not drawn on a razor-thin axis), kept within
    ``[floor, ceiling]`` (a ratio's axis does not run past 0 or 1)."""
    data = np.asarray([value for value in values], dtype=float)
    data = data[np.isfinite(data)]
    if not data.size:
        return floor, ceiling
    low, high = float(data.min()), float(data.max())
    pad = max((high - low) * margin, 0.005)
    return max(floor, low - pad), min(ceiling, high + pad)


def _fleet(summary: dict, timeseries: pd.DataFrame, path: Path) -> Path:
    """GPUs allocated and productive, down, and the queue (jobs and GPUs waiting)."""
    plt = _pyplot()
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True,
                                         height_ratios=(1.6, 1))
    scale, unit = _time_unit(timeseries)
    x = timeseries["time_s"] / scale
    gpus = summary["cluster"]["gpus"]
    top.plot(x, timeseries["gpus_busy"] / gpus, label="allocated", color="#1f77b4")
    if "gpus_productive" in timeseries:
        top.plot(x, timeseries["gpus_productive"] / gpus, label="productive", color="#2ca02c")
    top.plot(x, timeseries["gpus_down"] / gpus, label="down", color="#d62728", linewidth=0.8)
    if "gpus_fragmented" in timeseries:
        top.plot(x, timeseries["gpus_fragmented"] / gpus, label="fragmented (free, unusable)",
                 color="#ff7f0e", linewidth=0.8)
    fleet = summary["fleet"]
    top.set_title(f"{summary['scenario']} (seed {summary['seed']}): {fleet['jobs']['submitted']}"
                  f" jobs, {fleet['scheduler']['policy']} scheduling, "
                  f"{fleet['scheduler']['placement']} placement")
    top.set_ylabel("share of GPUs")
    top.set_ylim(bottom=0)
    top.legend(loc="lower right", fontsize="small", ncols=2)
    bottom.step(x, timeseries["jobs_waiting"], where="post", color="#7f7f7f",
                label="jobs waiting")
    bottom.set_ylabel("jobs waiting")
    twin = bottom.twinx()
    twin.step(x, timeseries["gpus_waiting"], where="post", color="#9467bd", alpha=0.7,
              label="GPUs they ask for")
    twin.set_ylabel("GPUs waiting")
    bottom.set_xlabel(f"simulated time ({unit})")
    bottom.legend(loc="upper left", fontsize="small")
    twin.legend(loc="upper right", fontsize="small")
    for axes in (top, bottom):
        axes.grid(alpha=0.3)
    figure.tight_layout()
    return _save(figure, path)


def _latency_cdf(summary: dict, names: list[str], requests: pd.DataFrame, path: Path) -> Path:
    """CDFs of TTFT, TPOT and end-to-end latency per job, with each job's TTFT and TPOT SLOs
    as vertical lines (the serving spec has no end-to-end target)."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for name in names:
        done = requests[(requests["job"] == name) & requests["finish_s"].notna()]
        ttft = (done["first_token_s"] - done["arrival_s"]).to_numpy()
        e2e = (done["finish_s"] - done["arrival_s"]).to_numpy()
        multi = done["output_tokens"] > 1
        tpot = ((done["finish_s"] - done["first_token_s"])[multi]
                / (done["output_tokens"][multi] - 1)).to_numpy()
        slo = summary["jobs"][name].get("slo") or {}
        for axes_, values, label, target in zip(
                axes, (ttft, tpot, e2e), ("time to first token (s)",
                                          "time per output token (s)", "end-to-end (s)"),
                (slo.get("ttft"), slo.get("tpot"), None)):
            color = None
            if values.size:
                ordered = np.sort(values)
                line, = axes_.plot(ordered, np.arange(1, ordered.size + 1) / ordered.size,
                                   label=name)
                color = line.get_color()
            if target:
                axes_.axvline(target, color=color, linestyle="-.", linewidth=1.0,
                              label=f"{name} SLO ({target:g} s)")
                axes_.legend(loc="lower right", fontsize="small")
            axes_.set_xlabel(label)
            axes_.set_xscale("log")
            axes_.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of requests")
    axes[0].legend(loc="lower right", fontsize="small")
    figure.suptitle("latency CDFs (finished requests); dash-dot lines are the SLOs")
    figure.tight_layout()
    return _save(figure, path)


def goodput_figure(summary: dict, names: list[str], timeseries: pd.DataFrame,
                   events: pd.DataFrame):
    """Cumulative goodput per job on an axis zoomed to the data (interruptions as a rug of
    ticks along its time axis), interruptions per time bin, and the GPUs not busy."""
    plt = _pyplot()
    figure, (top, middle, bottom) = plt.subplots(3, 1, figsize=(9, 7.5), sharex=True,
                                                 height_ratios=(2, 0.9, 1))
    scale, unit = _time_unit(timeseries)
    end_s = float(timeseries["time_s"].max()) if len(timeseries) else 0.0
    x = timeseries["time_s"] / scale
    settled = timeseries["time_s"] >= SETTLING * end_s
    shown: list[float] = []
    stops: dict[str, np.ndarray] = {}
    for name in names:
        line, = top.plot(x, timeseries[f"goodput.{name}"], label=f"{name} (cumulative)")
        shown += timeseries.loc[settled, f"goodput.{name}"].tolist()
        times = events.loc[(events["kind"] == "interruption") & (events["job"] == name),
                           "time_s"].to_numpy(dtype=float)
        stops[name] = times
        top.vlines(times / scale, 0.0, RUG, transform=top.get_xaxis_transform(),
                   color=line.get_color(), linewidth=0.8)
    low, high = zoomed_limits(shown)
    if low > 0.0:  # room below the data for the rug
        low = max(0.0, low - RUG * (high - low))
    top.set_ylim(low, high)
    zoom = "" if low == 0.0 else f" (axis from {low:.3g}, not 0)"
    top.set_ylabel("goodput" + ("\n(zoomed)" if zoom else ""))
    count = sum(len(times) for times in stops.values())
    marks = (f"ticks at the bottom are the {count} interruptions" if count
             else "no interruptions")
    top.set_title(f"{summary['scenario']} (seed {summary['seed']}): cumulative goodput{zoom}; "
                  f"{marks}", fontsize=10)
    top.legend(loc="best")
    top.grid(alpha=0.3)
    _interruption_histogram(middle, stops, end_s, scale, unit)
    _idle_gpus(bottom, summary, timeseries, x)
    bottom.set_xlabel(f"simulated time ({unit})")
    figure.tight_layout()
    return figure


def _idle_gpus(axes, summary: dict, timeseries: pd.DataFrame, x: pd.Series) -> None:
    """The GPUs not busy (down, spare, idle) as stacked counts: the busy rest of the cluster
    would dwarf them, as a 100% stack hides a few down GPUs."""
    gpus = summary["cluster"]["gpus"]
    axes.stackplot(x, [timeseries[column] for column in ("gpus_down", "gpus_spare",
                                                         "gpus_idle")],
                   labels=["down", "spare", "idle"], colors=["#d62728", "#aec7e8", "#bbbbbb"],
                   step="post")
    axes.set_ylabel(f"GPUs not busy\n(of {gpus:,})")
    axes.set_ylim(bottom=0)
    axes.legend(loc="upper right", ncols=3, fontsize="small")
    axes.grid(alpha=0.3)


#: bin widths the interruption histogram chooses from (seconds)
BIN_WIDTHS = (1.0, 10.0, 60.0, 600.0, 1800.0, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY,
              2 * DAY, 7 * DAY, 30 * DAY)


def bin_width(span_s: float, bins: int = HISTOGRAM_BINS) -> float:
    """The smallest round width (:data:`BIN_WIDTHS`) that covers ``span_s`` in at most
    ``bins`` bins."""
    for width in BIN_WIDTHS:
        if span_s <= width * bins:
            return width
    return span_s / bins


def _interruption_histogram(axes, stops: dict[str, np.ndarray], end_s: float, scale: float,
                            unit: str) -> None:
    """Interruptions per time bin, stacked by job."""
    width = bin_width(end_s)
    edges = np.arange(0.0, end_s + width, width) if end_s > 0 else np.array([0.0, 1.0])
    if any(len(times) for times in stops.values()):
        axes.hist([times / scale for times in stops.values()], bins=edges / scale,
                  stacked=True, color=[f"C{index}" for index in range(len(stops))])
    else:
        axes.text(0.5, 0.5, "no interruptions", transform=axes.transAxes, ha="center",
                  va="center", color="#7f7f7f")
    axes.set_ylabel(f"interruptions\nper {_duration_text(width)}")
    axes.grid(alpha=0.3)


def _duration_text(seconds: float) -> str:
    """``3600.0`` -> ``1 h``: a bin width in its own unit."""
    for scale, unit in ((DAY, "d"), (HOUR, "h"), (60.0, "min")):
        if seconds >= scale:
            return f"{seconds / scale:g} {unit}"
    return f"{seconds:g} s"


def loss_shares(job: dict) -> list[tuple[str, float, float]]:
    """``(bucket, seconds, share of the job's wall time)`` for each loss bucket (every bucket
    but ``productive``) the job spent time in, in :data:`BUCKETS` order. A job holds the same
    GPUs throughout, so the share of its wall time is also its share of GPU-time."""
    wall = job["wall_time_s"] or 0.0
    out = []
    for bucket in BUCKETS:
        seconds = float(job["buckets_s"].get(bucket, 0.0) or 0.0)
        if bucket == "productive" or seconds <= 0.0:
            continue
        out.append((bucket, seconds, seconds / wall if wall > 0 else 0.0))
    return out


def badput_figure(summary: dict, names: list[str]):
    """Each job's losses (the buckets but productive) as bars of their share of its wall time
    (= GPU-time), labelled with the share and the time."""
    plt = _pyplot()
    rows = [(name, bucket, seconds, share) for name in names
            for bucket, seconds, share in loss_shares(summary["jobs"][name])]
    figure, axes = plt.subplots(figsize=(9, 1.6 + 0.32 * max(len(rows), 1)))
    labels = [f"{name}: {bucket}" if len(names) > 1 else bucket
              for name, bucket, _seconds, _share in rows]
    positions = np.arange(len(rows))
    shares = [100.0 * share for *_rest, share in rows]
    axes.barh(positions, shares, color=[COLORS[bucket] for _name, bucket, *_ in rows])
    axes.set_yticks(positions, labels)
    axes.invert_yaxis()
    for position, (_name, _bucket, seconds, share) in zip(positions, rows):
        scale, unit = time_unit(seconds)
        axes.text(100.0 * share, position, f" {100.0 * share:.2f}% ({seconds / scale:.3g} {unit})",
                  va="center", fontsize="small")
    if not rows:
        axes.text(0.5, 0.5, "no losses: all wall time was productive", ha="center",
                  va="center", transform=axes.transAxes)
    axes.set_xlim(0, max(shares, default=1.0) * 1.35)
    axes.set_xlabel("share of the job's wall time = GPU-time (%)")
    goodputs = ", ".join(f"{name} {100.0 * summary['jobs'][name]['goodput']:.2f}%"
                         for name in names if summary["jobs"][name].get("goodput") is not None)
    axes.set_title(f"where the time went besides productive work (goodput: {goodputs})",
                   fontsize=10)
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure


def _save(figure, path: Path) -> Path:
    """Write ``figure`` as a PNG without the matplotlib version (same bytes every run)."""
    figure.savefig(path, dpi=110, metadata={"Software": None})
    _pyplot().close(figure)
    return path
