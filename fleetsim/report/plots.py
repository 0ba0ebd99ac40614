"""Plots of a finished run (matplotlib, Agg backend): goodput over time, the badput breakdown.

Reads only finished results (the summary, the timeseries and events tables), so
``fleetsim report DIR`` redraws them from the files a run wrote.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fleetsim.metrics.accounting import BUCKETS

DAY = 86400.0
COLORS = {"productive": "#2ca02c", "checkpoint_stall": "#1f77b4", "lost_work": "#d62728",
          "detection": "#ff7f0e", "restart": "#9467bd", "waiting_for_resources": "#8c564b",
          "straggler_delay": "#e377c2"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_run(summary: dict, timeseries: pd.DataFrame, events: pd.DataFrame,
             out_dir: str | Path) -> list[Path]:
    """Write ``goodput.png`` and ``badput.png`` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [_goodput(summary, timeseries, events, out / "goodput.png"),
            _badput(summary, out / "badput.png")]


def _goodput(summary: dict, timeseries: pd.DataFrame, events: pd.DataFrame,
             path: Path) -> Path:
    plt = _pyplot()
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True,
                                         height_ratios=(2, 1))
    days = timeseries["time_s"] / DAY
    for name in summary["jobs"]:
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


def _badput(summary: dict, path: Path) -> Path:
    plt = _pyplot()
    jobs = summary["jobs"]
    figure, axes = plt.subplots(figsize=(9, 2.2 + 0.5 * len(jobs)))
    for row, (name, job) in enumerate(jobs.items()):
        left = 0.0
        wall = job["wall_time_s"] or 1.0
        for bucket in BUCKETS:
            share = job["buckets_s"][bucket] / wall
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
