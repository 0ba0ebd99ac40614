"""Terminal output: the run's progress bar and its summary table (rich)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

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


def summary_tables(summary: dict) -> list[Table | Text]:
    """The training table (if any training job of ``jobs:``), the serving table (if any
    serving job) and the fleet table (for a workload or several jobs), then the cluster's
    lines: failures and utilization, energy and the largest power drop, carbon."""
    title = (f"fleetsim · {summary['scenario']} · seed {summary['seed']} · "
             f"{format_duration(summary['sim_time_s'])} simulated")
    training = {name: job for name, job in summary["jobs"].items()
                if job.get("type", "training") == "training"}
    serving = {name: job for name, job in summary["jobs"].items()
               if job.get("type") == "serving"}
    tables = []
    if training:
        tables.append(training_table(title, training))
    if serving:
        tables.append(serving_table(title if not training else "serving", serving))
    fleet = summary.get("fleet")
    if fleet is not None and (fleet["jobs"]["submitted"] > 1 or not tables):
        tables.append(fleet_table(title if not tables else "fleet", fleet))
    cluster = summary["cluster"]
    lines = [f"cluster: {cluster['gpus']} GPUs ({cluster['nodes']} x {cluster['node']}, "
             f"{cluster['spares']} spares), {cluster['failures']} failures, "
             f"utilization {cluster['utilization']:.1%}", _power_caption(summary),
             _carbon_caption(summary)]
    # below the tables, a line each at the console's width (a caption wraps at the table's)
    return [*tables, Text("\n".join(line for line in lines if line))]


def _power_caption(summary: dict) -> str:
    """The fleet's energy and largest power drop, for the caption (older summaries: none)."""
    power = summary.get("power")
    if power is None:
        return ""
    return (f"energy {power['energy_it_kwh'] / 1000:,.4g} MWh IT, "
            f"{power['energy_facility_kwh'] / 1000:,.4g} MWh facility; largest power drop "
            f"{power['swing_drop_w'] / 1e6:.3g} MW within {power['swing_window_s']:g} s")


def _carbon_caption(summary: dict) -> str:
    """The fleet's emissions and carbon-aware holds, for the caption (without carbon: none)."""
    carbon = summary.get("carbon")
    if carbon is None:
        return ""
    held = (f", {carbon['deferred_jobs']} jobs held for a cleaner grid"
            if carbon["deferred_jobs"] else "")
    return f"carbon {carbon['facility_kg'] / 1000:,.4g} t CO2{held}"


def serving_table(title: str, jobs: dict) -> Table:
    """One column per serving job: requests, throughput, latency percentiles, SLO, faults."""
    table, row = _job_columns(title, jobs)

    def seconds(value) -> str:
        return "-" if value is None or value != value else format_duration(value)

    row("requests", lambda job: f"{job['requests']['completed']:,} of "
        f"{job['requests']['arrived']:,} done")
    row("  dropped / retried", lambda job: f"{job['requests']['dropped']:,} / "
        f"{job['requests']['retried']:,}")
    row("throughput", lambda job: f"{job['throughput_rps']:.3g} req/s, "
        f"{job['output_tokens_per_s']:.4g} tok/s")
    if any(job["slo_attainment"] is not None for job in jobs.values()):
        row("SLO attainment", lambda job: "-" if job["slo_attainment"] is None
            else f"[bold]{job['slo_attainment']:.1%}[/bold]")
        row("goodput", lambda job: "-" if job["goodput_rps"] is None
            else f"{job['goodput_rps']:.3g} req/s")
    for metric in ("ttft", "tpot", "e2e"):
        row(f"{metric} p50 / p99", lambda job, metric=metric:
            f"{seconds(job['latency_s'][metric]['p50'])} / "
            f"{seconds(job['latency_s'][metric]['p99'])}")
    row("batch size (mean)", lambda job: f"{job['batch_size']['mean']:.3g}"
        if job["batch_size"] else "-")
    row("KV cache used (mean)", lambda job: "-" if job["kv_utilization"]["mean"] is None
        or job["kv_utilization"]["mean"] != job["kv_utilization"]["mean"]
        else f"{job['kv_utilization']['mean']:.1%}")
    row("preemptions", lambda job: f"{job['preemptions']:,}")
    row("replica failures", lambda job: str(job["replica_failures"]))
    row("availability", lambda job: "-" if job["availability"] is None
        else f"{job['availability']:.2%}")
    row("energy / request (IT)", lambda job: _energy_per(job, "per_request_j"))
    row("energy / token (IT)", lambda job: _energy_per(job, "per_output_token_j"))
    if any("energy" in job for job in jobs.values()):
        row("energy (IT)", lambda job: f"{job['energy']['it_kwh'] / 1000:,.3g} MWh"
            if "energy" in job else "")
    row("completed", lambda job: "yes" if job["completed"] else "no")
    return table


def fleet_table(title: str, fleet: dict) -> Table:
    """The fleet's scheduling results: jobs, completion time and wait, utilization, queue."""
    table = Table(title=title)
    table.add_column("")
    table.add_column("fleet", justify="right")

    def seconds(value) -> str:
        return "-" if value is None else format_duration(value)

    jobs = fleet["jobs"]
    scheduler = fleet["scheduler"]
    backfill = " + backfill" if scheduler["backfill"] and scheduler["policy"] != "backfill" else ""
    rows = [
        ("scheduler", f"{scheduler['policy']}{backfill}, {scheduler['placement']} placement"),
        ("jobs", f"{jobs['completed']:,} of {jobs['submitted']:,} completed"
                 + (f", {jobs['running']:,} running" if jobs["running"] else "")
                 + (f", {jobs['waiting']:,} waiting" if jobs["waiting"] else "")),
        ("JCT mean / p50 / p99", " / ".join(seconds(fleet["jct_s"][key])
                                            for key in ("mean", "p50", "p99"))),
        ("queue wait mean / p99", " / ".join(seconds(fleet["queue_wait_s"][key])
                                             for key in ("mean", "p99"))),
        ("makespan", seconds(fleet["makespan_s"])),
        ("GPUs allocated", f"[bold]{fleet['gpu_utilization']['allocated']:.1%}[/bold]"),
        ("GPUs productive", f"{fleet['gpu_utilization']['productive']:.1%}"),
        ("fragmentation", f"{fleet['fragmentation']:.1%} of usable GPUs"),
        ("queue length mean / max", f"{fleet['queue_length']['mean']:.3g} / "
                                    f"{fleet['queue_length']['max']:,}"),
        ("preemptions", f"{fleet['preemptions']:,}"),
    ]
    for team, values in fleet["teams"].items():
        rows.append((f"  team {team}", f"{values['share']:.1%} of GPU time, "
                                       f"{values['jobs']:,} jobs"))
    for label, value in rows:
        table.add_row(label, value)
    return table


def training_table(title: str, jobs: dict) -> Table:
    """One column per job: goodput, wall time, each bucket's share, interruptions, checkpoints."""
    table, row = _job_columns(title, jobs)

    row("goodput", lambda job: f"[bold]{job['goodput']:.2%}[/bold]")
    row("wall time", lambda job: format_duration(job["wall_time_s"]))
    for bucket in BUCKETS:
        if bucket in OPTIONAL_BUCKETS and not any(job["buckets_s"].get(bucket)
                                                  for job in jobs.values()):
            continue  # a bucket only fleets have, empty here
        row(f"  {bucket}", lambda job, bucket=bucket: _share(job, bucket))
    row("interruptions", lambda job: f"{job['interruptions']} "
        f"({job['interruptions_unexpected']} unexpected)")
    if any(job.get("preemptions") for job in jobs.values()):
        row("preemptions", lambda job: str(job.get("preemptions", 0)))
    row("checkpoints", lambda job: str(job["checkpoints"]))
    row("steps", lambda job: f"{job['steps_completed']:,} / {job['steps_total']:,}")
    row("step time", lambda job: format_duration(job["step_time_s"]))
    if any("mfu" in job for job in jobs.values()):
        row("MFU", lambda job: f"{job['mfu']:.1%}" if "mfu" in job else "")
    if any("energy" in job for job in jobs.values()):
        row("energy (IT)", lambda job: f"{job['energy']['it_kwh'] / 1000:,.3g} MWh"
            if "energy" in job else "")
    row("completed", lambda job: "yes" if job["completed"] else "no")
    return table


def _job_columns(title: str, jobs: dict) -> tuple[Table, Callable[[str, Callable], None]]:
    """A table with a column per job, and ``row(label, cell)`` adding ``cell(job)`` for each."""
    table = Table(title=title)
    table.add_column("")
    for name in jobs:
        table.add_column(name, justify="right")

    def row(label: str, cell: Callable) -> None:
        table.add_row(label, *(cell(job) for job in jobs.values()))
    return table, row


#: buckets shown only when some job has time in them
OPTIONAL_BUCKETS = ("queued", "contention", "power_cap")


def _share(job: dict, bucket: str) -> str:
    seconds = job["buckets_s"].get(bucket, 0.0)
    wall = job["wall_time_s"]
    share = seconds / wall if wall else 0.0
    return f"{format_duration(seconds)} ({share:.1%})"


def _energy_per(job: dict, key: str) -> str:
    """A serving job's IT energy per request or token (host included), ``-`` when unknown."""
    value = job.get("energy", {}).get(key)
    return "-" if value is None else f"{value:,.3g} J"
