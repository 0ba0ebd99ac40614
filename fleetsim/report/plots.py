"""Plots of a finished run (matplotlib, Agg backend).

Training jobs: ``goodput.png`` (goodput and GPU states over time, interruptions marked) and
``badput.png`` (where the wall time went). Serving jobs: ``serving.png`` (throughput, SLO
goodput, p99 latency and replicas up over time, replica failures marked) and
``latency_cdf.png`` (CDFs of TTFT, TPOT and end-to-end latency per job). A fleet of several
jobs: ``fleet.png`` (GPUs allocated and productive, and the queue, over time).

Reads only finished results (the summary, the timeseries, events and requests tables), so
``fleetsim report DIR`` redraws them from the files a run wrote.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fleetsim.metrics.accounting import BUCKETS
from fleetsim.report.power_plot import plot_power

DAY = 86400.0
COLORS = {"productive": "#2ca02c", "checkpoint_stall": "#1f77b4", "lost_work": "#d62728",
          "detection": "#ff7f0e", "restart": "#9467bd", "waiting_for_resources": "#8c564b",
          "straggler_delay": "#e377c2", "queued": "#7f7f7f", "contention": "#bcbd22",
          "power_cap": "#17becf"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
        paths += [_goodput(summary, training, timeseries, events, out / "goodput.png"),
                  _badput(summary, training, out / "badput.png")]
    if serving:
        paths.append(_serving(summary, serving, timeseries, events, out / "serving.png"))
        if requests is not None:
            paths.append(_latency_cdf(serving, requests, out / "latency_cdf.png"))
    power = plot_power(summary, timeseries, out / "power.png")  # fleetsim/report/power_plot.py
    return paths + ([power] if power is not None else [])


def _serving(summary: dict, names: list[str], timeseries: pd.DataFrame, events: pd.DataFrame,
             path: Path) -> Path:
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
        bottom.step(x, timeseries[f"replicas_up.{name}"], where="post", color=line.get_color(),
                    label=name)
        downs = events[(events["kind"] == "replica_down") & (events["job"] == name)]
        for time_s in downs["time_s"]:
            for axes in (top, middle, bottom):
                axes.axvline(time_s / scale, color="#d62728", alpha=0.25, linewidth=0.8)
    top.set_ylabel("requests / s")
    top.set_title(f"{summary['scenario']} (seed {summary['seed']}): serving; red lines are "
                  "replica failures")
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
    figure.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(figure)
    return path


def _time_unit(timeseries: pd.DataFrame) -> tuple[float, str]:
    """Seconds per unit and the unit's name for the run's time axis."""
    end = float(timeseries["time_s"].max()) if len(timeseries) else 0.0
    if end > 3 * DAY:
        return DAY, "days"
    return (3600.0, "h") if end > 3 * 3600 else (60.0, "min") if end > 180 else (1.0, "s")


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
    figure.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(figure)
    return path


def _latency_cdf(names: list[str], requests: pd.DataFrame, path: Path) -> Path:
    plt = _pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for name in names:
        done = requests[(requests["job"] == name) & requests["finish_s"].notna()]
        ttft = (done["first_token_s"] - done["arrival_s"]).to_numpy()
        e2e = (done["finish_s"] - done["arrival_s"]).to_numpy()
        multi = done["output_tokens"] > 1
        tpot = ((done["finish_s"] - done["first_token_s"])[multi]
                / (done["output_tokens"][multi] - 1)).to_numpy()
        for axes_, values, label in zip(axes, (ttft, tpot, e2e),
                                        ("time to first token (s)",
                                         "time per output token (s)", "end-to-end (s)")):
            if values.size:
                ordered = np.sort(values)
                axes_.plot(ordered, np.arange(1, ordered.size + 1) / ordered.size, label=name)
            axes_.set_xlabel(label)
            axes_.set_xscale("log")
            axes_.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of requests")
    axes[0].legend(loc="lower right", fontsize="small")
    figure.suptitle("latency CDFs (finished requests)")
    figure.tight_layout()
    figure.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(figure)
    return path


def _goodput(summary: dict, names: list[str], timeseries: pd.DataFrame, events: pd.DataFrame,
             path: Path) -> Path:
    plt = _pyplot()
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True,
                                         height_ratios=(2, 1))
    days = timeseries["time_s"] / DAY
    for name in names:
        top.plot(days, timeseries[f"goodput.{name}"], label=f"{name} (cumulative)")
        interruptions = events[(events["kind"] == "interruption") & (events["job"] == name)]
        for time_s in interruptions["time_s"]:
            top.axvline(time_s / DAY, color="#d62728", alpha=0.25, linewidth=0.8)
    top.set_ylabel("goodput")
    top.set_ylim(0, 1.02)
    top.set_title(f"{summary['scenario']} (seed {summary['seed']}): goodput; red lines are "
                  "interruptions")
    top.legend(loc="lower right")
    top.grid(alpha=0.3)
    gpus = summary["cluster"]["gpus"]
    bottom.stackplot(days, [timeseries[column] / gpus for column in
                            ("gpus_busy", "gpus_spare", "gpus_idle", "gpus_down")],
                     labels=["busy", "spare", "idle", "down"],
                     colors=["#2ca02c", "#aec7e8", "#dddddd", "#d62728"])
    bottom.set_ylabel("share of GPUs")
    bottom.set_xlabel("simulated time (days)")
    bottom.legend(loc="lower right", ncols=4, fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(figure)
    return path


def _badput(summary: dict, names: list[str], path: Path) -> Path:
    plt = _pyplot()
    jobs = {name: summary["jobs"][name] for name in names}
    figure, axes = plt.subplots(figsize=(9, 2.2 + 0.5 * len(jobs)))
    for row, (name, job) in enumerate(jobs.items()):
        left = 0.0
        wall = job["wall_time_s"] or 1.0
        for bucket in BUCKETS:
            share = job["buckets_s"].get(bucket, 0.0) / wall
            axes.barh(row, share, left=left, color=COLORS[bucket],
                      label=bucket if row == 0 else None)
            left += share
    axes.set_yticks(range(len(jobs)), list(jobs))
    axes.set_xlim(0, 1)
    axes.set_xlabel("share of wall time")
    axes.set_title("where the wall time went")
    axes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return path
