"""Terminal output of a sweep: a progress bar with ETA, and the per-point table (rich)."""

from __future__ import annotations

import math
import re
from typing import Sequence

import pandas as pd
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table

from fleetsim.sweep.driver import SweepProgress, SweepResult
from fleetsim.sweep.spec import RunTask

#: Result columns shown by default: each job's goodput and interruptions, cluster failures.
DEFAULT_SHOWN = (r"jobs\.[^.]+\.goodput", r"jobs\.[^.]+\.interruptions", r"cluster\.failures")
PERCENT_SUFFIXES = ("goodput", "utilization", "mfu")


class ProgressBar(SweepProgress):
    """A rich progress bar (runs done / total, elapsed, ETA) on ``console``."""

    def __init__(self, console: Console, label: str) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("runs"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("{task.fields[where]}"), console=console, transient=True)
        self._label = label
        self._task = None

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._progress.stop()

    def start(self, total: int, done: int, where: str) -> None:
        # The display (and its refresh thread) starts only now, after the executor has
        # started its worker processes. The ETA counts the runs done in this session: runs
        # already stored start the bar, not the clock.
        self._task = self._progress.add_task(self._label, total=total, completed=done,
                                             where=where)
        self._progress.start()

    def advance(self, task: RunTask) -> None:
        if self._task is not None:
            self._progress.advance(self._task)


def measured_columns(aggregate: pd.DataFrame) -> list[str]:
    """The result columns that the aggregate table has means of."""
    return [column.removesuffix(".mean") for column in aggregate.columns
            if column.endswith(".mean")]


def shown_columns(aggregate: pd.DataFrame, show: Sequence[str] = ()) -> list[str]:
    """The result columns of the table: those of ``show`` that exist, else the defaults."""
    measured = measured_columns(aggregate)
    if show:
        return [column for column in show if column in measured]
    return [column for column in measured
            if any(re.fullmatch(pattern, column) for pattern in DEFAULT_SHOWN)]


def _format(column: str, mean: float, low: float, high: float) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    percent = column.rsplit(".", 1)[-1] in PERCENT_SUFFIXES
    half = (high - low) / 2 if not (math.isnan(low) or math.isnan(high)) else math.nan
    if percent:
        text = f"{mean:.2%}"
        return text if math.isnan(half) else f"{text} ± {half:.2%}"
    text = f"{mean:.4g}"
    return text if math.isnan(half) else f"{text} ± {half:.2g}"


def aggregate_table(result: SweepResult, show: Sequence[str] = ()) -> Table:
    """One row per point: its parameters, runs, and mean ± 95% CI half-width of the shown
    result columns."""
    plan = result.plan
    frame = result.aggregate
    columns = shown_columns(frame, show)
    title = (f"fleetsim sweep · {plan.name} · {len(plan.points)} points × "
             f"{len(plan.seeds)} seeds · mean ± 95% CI")
    headers = short_names([*plan.parameters, *columns])
    table = Table(title=title)
    for parameter in plan.parameters:
        table.add_column(headers[parameter])
    table.add_column("runs", justify="right")
    for column in columns:
        table.add_column(headers[column], justify="right", no_wrap=True)
    for index in range(len(frame)):  # per column, so integer columns stay integers
        row = {column: frame[column].iloc[index] for column in frame.columns}
        cells = [_param(row[parameter]) for parameter in plan.parameters]
        cells.append(str(row["runs"]))
        for column in columns:
            cells.append(_format(column, row[f"{column}.mean"], row[f"{column}.ci95_low"],
                                 row[f"{column}.ci95_high"]))
        table.add_row(*cells)
    renamed = [f"{short} = {full}" for full, short in headers.items() if short != full]
    notes = ["no grid or zip: replicates of the base scenario"] if not plan.parameters else []
    if renamed:
        notes.extend(renamed)
    table.caption = "\n".join(notes) or None
    return table


def short_names(names: Sequence[str]) -> dict[str, str]:
    """Each dotted name's shortest suffix (whole parts) that no other name ends with."""
    short = {}
    for name in names:
        parts = name.split(".")
        for size in range(1, len(parts) + 1):
            suffix = ".".join(parts[-size:])
            if not any(other != name and (other == suffix or other.endswith("." + suffix))
                       for other in names):
                break
        short[name] = suffix
    return short


def _param(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    return str(value)
