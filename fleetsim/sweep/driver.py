"""Run a sweep: validate it, skip the runs already stored, execute the rest, write the tables.

The life cycle: **plan** (load and validate the sweep file and every point's scenario),
**claim** (open ``DIR``'s store: the same sweep resumes, another is refused), **run** (the
missing runs on an executor; each finished run is stored at once), **collect** (rebuild
``results.parquet``/``results.csv`` from the store, aggregate per point into
``aggregate.csv``). Results are built from the stored rows, so a resumed sweep, a
process-pool sweep and a Dask sweep of the same runs give the same tables.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from fleetsim.sweep.executors import make_executor
from fleetsim.sweep.spec import RunTask, SweepPlan, load_sweep
from fleetsim.sweep.stats import aggregate
from fleetsim.sweep.store import RunStore
from fleetsim.sweep.table import has_parquet, point_params, results_table, write_table
from fleetsim.sweep.worker import SweepWorker


class SweepProgress:
    """Hooks the driver calls; the CLI's rich progress bar implements them."""

    def start(self, total: int, done: int, where: str) -> None:
        """``total`` runs, ``done`` of them already stored, the rest to run ``where``."""

    def advance(self, task: RunTask) -> None:
        """One more run finished (and is stored)."""


@dataclass
class SweepResult:
    """What a sweep produced: the tables and where they were written."""

    plan: SweepPlan
    results: pd.DataFrame
    aggregate: pd.DataFrame
    ran: int  # runs executed by this call
    reused: int  # runs found in the store
    files: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def execute_sweep(spec: str | Path | Mapping[str, Any] | SweepPlan, out: str | Path | None = None,
                  workers: int | None = None, scheduler: Any = None, *, force: bool = False,
                  progress: SweepProgress | None = None) -> SweepResult:
    """Run every run of ``spec`` not yet in ``out`` and return the tables (see module doc)."""
    plan = spec if isinstance(spec, SweepPlan) else load_sweep(spec)
    progress = progress or SweepProgress()
    tasks = plan.tasks()
    # a Dask scheduler is reached before anything is written: one that cannot be reached
    # leaves no directory behind
    connected = make_executor(workers, scheduler) if scheduler is not None else None
    store = RunStore(out) if out is not None else None
    try:
        done: dict[str, dict[str, Any]] = store.open(plan, force=force) if store else {}
        wanted = {task.key for task in tasks}
        reused = len(wanted & done.keys())
        todo = [task for task in tasks if task.key not in done]
        ran = 0
        if todo:
            worker = SweepWorker(plan.base_data)
            with connected or make_executor(workers, tasks=len(todo)) as executor:
                progress.start(len(tasks), len(tasks) - len(todo), executor.description)
                try:
                    for task, row in executor.map_unordered(worker, todo):
                        if store is not None:
                            store.append(task, point_params(plan, task.point), row)
                        done[task.key] = row
                        ran += 1
                        progress.advance(task)
                except Exception as error:  # a bug in a run: keep its traceback, say more
                    _note(error, "fleetsim sweep: a run failed; the runs that finished are "
                          "stored, and running the sweep again resumes it"
                          if store is not None else "fleetsim sweep: a run failed")
                    raise
        else:
            progress.start(len(tasks), len(tasks), "")
        results = results_table(plan, done)
        summary = aggregate(results, list(plan.parameters))
        result = SweepResult(plan=plan, results=results, aggregate=summary, ran=ran,
                             reused=reused)
        if out is not None:  # still holding the directory's lock
            _write_tables(result, Path(out))
    finally:
        if connected is not None:
            connected.close()
        if store is not None:
            store.close()
    return result


def _note(error: BaseException, text: str) -> None:
    if hasattr(error, "add_note"):  # Python 3.11+
        error.add_note(text)


def _write_tables(result: SweepResult, out: Path) -> None:
    files = {"results.csv": out / "results.csv", "aggregate.csv": out / "aggregate.csv"}
    if has_parquet():
        files["results.parquet"] = out / "results.parquet"
        write_table(result.results, files["results.parquet"])
    else:
        message = ("pyarrow is not installed: wrote results.csv but not results.parquet "
                   "(pyarrow is a dependency of fleetsim: pip install pyarrow)")
        result.warnings.append(message)
        warnings.warn(message, stacklevel=3)
    write_table(result.results, files["results.csv"])
    write_table(result.aggregate, files["aggregate.csv"])
    result.files = dict(sorted(files.items()))


def sweep(spec: str | Path | Mapping[str, Any], out: str | Path | None = None,
          workers: int | None = None, scheduler: Any = None, *,
          force: bool = False) -> pd.DataFrame:
    """Run a sweep (a sweep YAML path, or a dict of the same shape) and return its results
    table: one row per run, with the point's parameters, ``seed`` and the flattened summary.

    ``out`` is a directory for the resumable store and the result files (none: nothing is
    written); ``workers`` local processes (default ``os.cpu_count()``; 1 runs in this process);
    ``scheduler`` a Dask scheduler address (``"tcp://host:8786"``) or a ``distributed.Client``.
    ``force`` takes over an ``out`` that holds another sweep. Bad input raises
    :class:`fleetsim.FleetsimError` (one line: file, line, key).
    """
    return execute_sweep(spec, out, workers, scheduler, force=force).results
