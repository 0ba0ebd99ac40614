"""Terminal output: the run's progress bar and its summary table (rich)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fleetsim.metrics.accounting import BUCKETS
from fleetsim.units import format_duration


@contextmanager
def progress_bar(console: Console, label: str) -> Iterator:
    """A context yielding ``update(now_s, expected_end_s)`` that drives a progress bar."""
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(),
        TextColumn("{task.fields[simulated]} simulated"), TimeElapsedColumn(),
        console=console, transient=True)
    with progress:
        task = progress.add_task(label, total=1.0, simulated="0 s")

        def update(now_s: float, expected_end_s: float) -> None:
            progress.update(task, completed=now_s / expected_end_s if expected_end_s else 1.0,
                            simulated=format_duration(now_s))

        yield update


def summary_table(summary: dict) -> Table:
    """One column per job: goodput, wall time, each bucket's share, interruptions, checkpoints."""
    table = Table(title=f"fleetsim · {summary['scenario']} · seed {summary['seed']} · "
                        f"{format_duration(summary['sim_time_s'])} simulated")
    table.add_column("")
    jobs = summary["jobs"]
    for name in jobs:
        table.add_column(name, justify="right")

    def row(label: str, cell) -> None:
        table.add_row(label, *(cell(job) for job in jobs.values()))

    row("goodput", lambda job: f"[bold]{job['goodput']:.2%}[/bold]")
    row("wall time", lambda job: format_duration(job["wall_time_s"]))
    for bucket in BUCKETS:
        row(f"  {bucket}", lambda job, bucket=bucket: _share(job, bucket))
    row("interruptions", lambda job: f"{job['interruptions']} "
        f"({job['interruptions_unexpected']} unexpected)")
    row("checkpoints", lambda job: str(job["checkpoints"]))
    row("steps", lambda job: f"{job['steps_completed']:,} / {job['steps_total']:,}")
    row("step time", lambda job: format_duration(job["step_time_s"]))
    if any("mfu" in job for job in jobs.values()):
        row("MFU", lambda job: f"{job['mfu']:.1%}" if "mfu" in job else "")
    row("completed", lambda job: "yes" if job["completed"] else "no")
    cluster = summary["cluster"]
    table.caption = (f"cluster: {cluster['gpus']} GPUs ({cluster['nodes']} x {cluster['node']}, "
                     f"{cluster['spares']} spares), {cluster['failures']} failures, "
                     f"utilization {cluster['utilization']:.1%}")
    return table


def _share(job: dict, bucket: str) -> str:
    seconds = job["buckets_s"][bucket]
    wall = job["wall_time_s"]
    share = seconds / wall if wall else 0.0
    return f"{format_duration(seconds)} ({share:.1%})"
